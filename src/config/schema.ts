/**
 * The configuration schema: the single source of truth for every option's type, default (with unit) and
 * documentation. docs/configuration.md and schema/gatehouse.schema.json are generated from it
 * (`npm run docs`); a test fails when they drift.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** What kind of value a leaf holds; drives how env and flag strings are parsed. */
export type LeafKind = 'string' | 'boolean' | 'integer' | 'duration' | 'list' | 'enum' | 'secret' | 'secretList' | 'structured';

/** Metadata attached to every leaf of the schema. */
export interface LeafMeta {
  kind: LeafKind;
  description: string;
  /** Example value for the docs. */
  example?: string;
}

function leaf<T extends z.ZodType>(schema: T, meta: LeafMeta): T {
  return schema.meta({ ...meta, gatehouseLeaf: true });
}

const str = (description: string, fallback = '', example?: string) =>
  leaf(z.string().default(fallback), { kind: 'string', description, ...(example === undefined ? {} : { example }) });

const bool = (description: string, fallback: boolean) => leaf(z.boolean().default(fallback), { kind: 'boolean', description });

const list = (description: string, example?: string) =>
  leaf(z.array(z.string()).default([]), { kind: 'list', description, ...(example === undefined ? {} : { example }) });

const secret = (description: string) => leaf(z.string().default(''), { kind: 'secret', description });

function enumOf<const T extends readonly [string, ...string[]]>(values: T, fallback: T[number], description: string) {
  return leaf(z.enum(values).default(fallback as never), { kind: 'enum', description });
}

/** How a duration is written back in a message: the largest whole unit. */
function spell(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * A Go-style duration (`1h30m`, `168h0m0s`, `0`), held as milliseconds after parsing. `range` bounds one
 * that drives a timer or a request timeout (Node's timers hold at most 2^31-1 ms and fire at once beyond).
 */
function duration(fallback: string, description: string, range?: { readonly min: number; readonly max: number }) {
  const schema = z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? (value === 0 ? 0 : undefined) : parseDuration(value);
      if (ms === undefined || ms < 0) {
        ctx.addIssue({
          code: 'custom',
          message: `'${String(value)}' is not a duration`,
          params: { fix: 'write a Go duration with a unit, such as 90s, 15m, 1h or 168h0m0s' },
        });
        return z.NEVER;
      }
      if (range !== undefined && (ms < range.min || ms > range.max)) {
        ctx.addIssue({
          code: 'custom',
          message: `'${String(value)}' is out of range`,
          params: { fix: `write a duration from ${spell(range.min)} to ${spell(range.max)}` },
        });
        return z.NEVER;
      }
      return ms;
    })
    .prefault(fallback);
  const bounds = range === undefined ? '' : `, from ${spell(range.min)} to ${spell(range.max)}`;
  return leaf(schema, { kind: 'duration', description: `${description} (Go duration${bounds})` });
}

function integer(fallback: number, min: number, max: number, description: string) {
  return leaf(z.number().int().min(min).max(max).default(fallback), { kind: 'integer', description });
}

const nonEmptyText = z.string().min(1);

const ProviderSchema = z
  .strictObject({
    type: enumOf(['oidc'], 'oidc', 'Identity provider type. Only generic OpenID Connect is supported.'),
    issuer: str(
      'OIDC issuer URL; discovery runs against `<issuer>/.well-known/openid-configuration`. Empty: the embedded development provider starts instead (loopback only).',
      '',
      'https://example.eu.auth0.com/',
    ),
    clientId: str('OAuth 2.0 client id registered at the provider; also the expected `aud` of ID tokens.'),
    clientSecret: secret('OAuth 2.0 client secret. Also from a file: `clientSecretFile` / `*_FILE`.'),
    scopes: leaf(z.array(z.string()).default(['openid', 'email', 'profile']), {
      kind: 'list',
      description: 'Scopes requested at login. `openid` is required.',
    }),
    pkce: enumOf(['S256', 'plain'], 'S256', 'PKCE code challenge method. Always on; `plain` only for providers that cannot do S256.'),
    claims: z
      .object({
        email: str('Claim (dot path) holding the email address.', 'email'),
        groups: str('Claim (dot path) holding the groups, e.g. `realm_access.roles`.', 'groups'),
        username: str('Claim (dot path) holding the preferred username.', 'preferred_username'),
      })
      .prefault({}),
    extraAudiences: list('Audiences accepted besides the client id (for bearer tokens from the same provider).'),
    insecureAllowUnverifiedEmail: bool('Accept identities whose `email_verified` claim is false. Insecure: anyone who can set an unverified email at the provider can claim it.', false),
    displayName: str('Provider name shown on the sign-in page.', ''),
    endSessionRedirect: bool('On sign-out, also end the session at the provider through its `end_session_endpoint`.', false),
    backchannelLogout: bool('Accept OpenID Connect back-channel logout at `POST /oauth2/backchannel-logout`: a logout token from the provider ends the sessions of the provider session it names (`sid`), or every session of its subject (`sub`). Needs the Redis session store.', false),
    timeout: duration('5s', 'Timeout of every request to the provider (discovery, token, JWKS)', { min: 100, max: 600_000 }),
  })
  .prefault({});

const CookieSchema = z
  .strictObject({
    name: str('Name of the session cookie; the login-transaction cookies are named `__Host-<name>_tx_<id>` (`<name>_tx_<id>` without secure cookies).', '_gatehouse'),
    secrets: leaf(z.array(z.string()).default([]), {
      kind: 'secretList',
      description:
        'Secrets the session cookie is sealed with: 16, 24 or 32 bytes, raw or base64/base64url (`gatehouse secret generate`). The first seals, all open, so secrets rotate without logging anyone out.',
    }),
    domains: list('Cookie domains; the longest one that is a suffix of the request host is used. Empty: host-only cookie.', '.homelab.example.com'),
    path: str('Cookie path.', '/'),
    expire: duration('168h', 'Lifetime of a session; also the cookie Max-Age'),
    refresh: duration('0', 'Refresh the session with the refresh token when it is older than this; 0 disables'),
    secure: bool('Set the Secure attribute; also forces https in a relative callback URL.', true),
    httpOnly: bool('Set the HttpOnly attribute.', true),
    sameSite: enumOf(['lax', 'strict', 'none', ''], 'lax', 'SameSite attribute; empty omits it.'),
    csrfExpire: duration('15m', 'Lifetime of a login transaction (state, nonce, PKCE verifier)'),
  })
  .prefault({});

const RedisSchema = z
  .strictObject({
    url: secret('Redis connection URL (`redis://` or `rediss://`); credentials in it are redacted when printed.'),
    username: str('Redis ACL user name (overrides the URL).'),
    password: secret('Redis password (overrides the URL).'),
    useSentinel: bool('Connect through Redis Sentinel.', false),
    sentinelMasterName: str('Sentinel master name.'),
    sentinelUrls: list('Sentinel URLs.'),
    sentinelPassword: secret('Sentinel password.'),
    useCluster: bool('Connect to a Redis Cluster.', false),
    clusterUrls: list('Cluster node URLs.'),
    caPath: str('PEM file of the CA that signed the Redis server certificate.'),
    insecureSkipTlsVerify: bool('Do not verify the Redis server certificate. Insecure.', false),
    idleTimeout: duration('0', 'TCP keep-alive interval of the Redis connection, so an idle connection is not cut by the server `timeout` (oauth2-proxy `redis_connection_idle_timeout`); 0 uses the system default', { min: 0, max: 86_400_000 }),
    keyPrefix: str('Prefix of every Redis key.', 'gatehouse:'),
  })
  .prefault({});

const SessionSchema = z
  .strictObject({
    store: enumOf(['cookie', 'redis'], 'cookie', 'Where sessions live: sealed in the cookie, or in Redis with an opaque ticket in the cookie.'),
    redis: RedisSchema,
  })
  .prefault({});

const ProxySchema = z
  .strictObject({
    reverseProxy: bool('Honour `X-Forwarded-*` headers from trusted proxies (required behind Traefik, Caddy, nginx).', false),
    trusted: list(
      'CIDRs or addresses allowed to send `X-Forwarded-*`. Empty with `reverseProxy`: loopback and private networks, with a warning.',
      '10.0.0.0/8',
    ),
    headers: enumOf(
      ['x-forwarded', 'x-original'],
      'x-forwarded',
      'How trusted proxies describe the original request: `x-forwarded` (X-Forwarded-Method/Proto/Host/Uri: Traefik, Caddy, nginx) or `x-original` (X-Original-URL/Method: ingress-nginx, which passes client X-Forwarded-* through unchanged). Only that family is read.',
    ),
    redirectUrl: str('OAuth callback URL. Relative (`/oauth2/callback`): built on the requesting host. Empty: `/oauth2/callback`.', ''),
    allowedRedirectDomains: list('Domains allowed as absolute redirect targets after login and sign-out (`.example.com` = the domain and its subdomains; `:port` or `:*`).', '.homelab.example.com'),
  })
  .prefault({});

const ForwardAuthSchema = z
  .strictObject({
    status: integer(202, 200, 299, 'Status of an allowed forward-auth check on any path outside `/oauth2/` (oauth2-proxy `static://202`).'),
    skipProviderButton: bool('Send unauthenticated browsers straight to the provider instead of the sign-in page.', false),
    forceJsonErrors: bool('Answer unauthenticated and forbidden requests with JSON, never a redirect or page.', false),
    apiRoutes: list('Regular expressions (RE2) on the request URI; matching requests get 401 JSON instead of a login redirect.', '^/api/'),
    skipAuthRoutes: list('`[METHOD=]regex` or `[METHOD!=]regex` on the normalized path; matching requests are allowed without login (public routes before every other route).', 'GET=^/api/health$'),
    skipAuthPreflight: bool('Allow every `OPTIONS` request (CORS preflights carry no cookie or token) without login, as a public route before every other route; oauth2-proxy `skip_auth_preflight`.', false),
    reasonHeader: bool('Add `X-Gatehouse-Reason: <reason code>` to denials, for operators (the codes name no policy internals).', true),
  })
  .prefault({});

const IdentityHeadersSchema = z
  .strictObject({
    authorization: bool('Send `Authorization: Bearer <id_token>` on an allowed check.', false),
    xAuthRequest: bool('Send `X-Auth-Request-User`, `-Email`, `-Groups`, `-Preferred-Username` on an allowed check.', false),
    accessToken: bool('With `xAuthRequest`, also send `X-Auth-Request-Access-Token`.', false),
  })
  .prefault({});

const AuthorizationSchema = z
  .strictObject({
    emailDomains: list('Email domains allowed to sign in: `example.com` exact, `.example.com` subdomains, `*` any.', 'example.com'),
    emails: list('Email addresses allowed to sign in, in addition to `emailDomains`.'),
    emailsFile: str('File of allowed email addresses, one per line (`#` comments); re-read when it changes, as the configuration file is.'),
    groups: list('Groups of which a user must have at least one.'),
  })
  .prefault({});

/** The shortest `refreshKeysInterval`. */
export const MIN_KEYS_REFRESH_MS = 10_000;
const durationText = z
  .string()
  .refine((text) => parseDuration(text) !== undefined, 'must be a Go duration such as 30s or 10m')
  .refine((text) => (parseDuration(text) ?? 0) >= 0, 'must not be negative');

/**
 * A bearer-token profile: jwt-middleware's configuration keys, accepted verbatim, plus gatehouse's own.
 * docs/bearer.md gives the semantics and where gatehouse is stricter.
 */
const ProfileSchema = z.strictObject({
  // `issuers` and `validMethods` may also be one comma-separated string (`"a,b"`), as Traefik hands a
  // plugin list from labels or a CRD; the profile splits it (src/jwt/profile.ts).
  issuers: z.union([z.array(z.union([nonEmptyText, z.strictObject({ issuer: nonEmptyText, jwks: nonEmptyText.optional() })])), z.string()]).optional(),
  skipPrefetch: z.boolean().optional(),
  delayPrefetch: durationText.optional(),
  // A JWKS refresh loop faster than this would hammer the issuer (DOS-04).
  refreshKeysInterval: durationText.refine((text) => {
    const ms = parseDuration(text) ?? 0;
    return ms < 0 || ms >= MIN_KEYS_REFRESH_MS;
  }, 'must be at least 10s').optional(),
  secret: z.string().optional(),
  secrets: z.record(nonEmptyText, z.string()).optional(),
  secretBase64Encoded: z.boolean().optional(),
  require: z.record(nonEmptyText, z.unknown()).optional(),
  optional: z.boolean().optional(),
  headerName: z.string().optional(),
  cookieName: z.string().optional(),
  parameterName: z.string().optional(),
  forwardToken: z.boolean().optional(),
  headerMap: z.record(nonEmptyText, nonEmptyText).optional(),
  removeMissingHeaders: z.boolean().optional(),
  redirectUnauthorized: z.string().optional(),
  redirectForbidden: z.string().optional(),
  freshness: z.number().int().min(0).optional(),
  validMethods: z.union([z.array(nonEmptyText), z.string()]).optional(),
  unauthenticatedMethods: z.array(nonEmptyText).optional(),
  insecureSkipVerify: z.array(z.string()).optional(),
  rootCAs: z.array(z.string()).optional(),
  logUnauthorized: z.string().optional(),
  // jwt-middleware v1.2.6 to v1.2.19; accepted with a warning (it has no effect).
  infoToStdout: z.boolean().optional(),
  // gatehouse's own
  audiences: z.array(nonEmptyText).optional(),
  keysFile: nonEmptyText.optional(),
  allowNonExpiring: z.boolean().optional(),
  leeway: durationText.optional(),
  sourceClaim: nonEmptyText.optional(),
  denyList: nonEmptyText.optional(),
  claims: z.strictObject({ email: nonEmptyText.optional(), groups: nonEmptyText.optional(), username: nonEmptyText.optional() }).optional(),
});

/** A bearer-token profile of the configuration. */
export type ProfileConfig = z.output<typeof ProfileSchema>;

const BearerSchema = z
  .strictObject({
    provider: bool("Accept the provider's own JWTs as `Authorization: Bearer` (oauth2-proxy `skip_jwt_bearer_tokens`).", false),
    extraIssuers: list('More accepted JWT issuers as `issuer=audience` (each becomes a profile named after its position, `extra-0`, …, accepted wherever `bearer:provider` is).', 'https://issuer.example.com=api'),
    publishKeys: list(
      'Public keys of your own token-signing keys (PEM or JWK files as `gatehouse keys generate` writes them; the kid is the JWK `kid` or the file name before `.pub.pem`) to publish at `GET /.well-known/jwks.json`, so other services verify your device tokens without copying PEMs.',
      'keys/vicmet.pub.pem',
    ),
    profiles: leaf(z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), ProfileSchema).default({}), {
      kind: 'structured',
      description: 'Named bearer-token profiles (jwt-middleware configuration blocks, accepted verbatim), used by routes as `bearer:<name>`. YAML file only; docs/bearer.md.',
    }),
  })
  .prefault({});

const LoggingSchema = z
  .strictObject({
    format: enumOf(['auto', 'json', 'pretty'], 'auto', '`json`, `pretty` for terminals, or `auto` (pretty on a terminal, JSON otherwise).'),
    level: enumOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], 'info', 'Lowest level written.'),
    auth: bool('Log authentication events (login, logout, refresh, failures).', true),
    requests: bool('Log one line per request.', true),
    standard: bool('Log everything else (start-up, reloads, errors).', true),
    silencePing: bool('Do not log `/ping` and `/ready`.', false),
  })
  .prefault({});

const nonEmpty = nonEmptyText;

const RequireSchema = z.strictObject({
  emailDomains: z.array(nonEmpty).optional().meta({ description: 'Email domains, as authorization.emailDomains.' }),
  emails: z.array(nonEmpty).optional().meta({ description: 'Email addresses, one of which the identity must have.' }),
  groups: z.array(nonEmpty).optional().meta({ description: 'Groups, one of which the identity must have.' }),
  claims: z
    .record(nonEmpty, z.union([nonEmpty, z.array(nonEmpty).min(1)]))
    .optional()
    .meta({ description: 'Claim (dot path) → a value or a list of accepted values; a list claim passes when it holds one of them.' }),
});

/** What a route or a named policy demands. */
const PolicyFields = {
  auth: z
    .union([z.literal('public'), z.array(z.string().regex(/^(session|bearer:[A-Za-z0-9_.-]+)$/, 'must be session or bearer:<profile>')).min(1)])
    .optional()
    .meta({ description: '`public` (no authentication), or the accepted methods: `session`, `bearer:<profile>`. Default: session (and bearer:provider with bearer.provider).' }),
  require: RequireSchema.optional(),
  allow: nonEmpty.optional().meta({ description: 'CEL expression over `identity` and `request` that must be true.' }),
  deny: nonEmpty.optional().meta({ description: 'CEL expression over `identity` and `request`; when true the request is denied (deny wins).' }),
  mode: z.enum(['enforce', 'audit']).optional().meta({ description: '`audit`: evaluate and log what would be denied, but allow.' }),
};

const PolicySchema = z.strictObject(PolicyFields);

const RouteSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, _ . -').meta({ description: 'Unique name, shown in logs and explanations.' }),
  hosts: z.array(nonEmpty).optional().meta({ description: 'Hosts: exact, or `*.example.com` for every subdomain. Default: any.' }),
  paths: z.array(nonEmpty).optional().meta({ description: 'Normalized paths: exact (`/api/health`), `/admin/**` (it and everything below), `*` within a segment. Default: any.' }),
  methods: z.array(nonEmpty).optional().meta({ description: 'Methods (from trusted X-Forwarded-Method). Default: any.' }),
  sources: z.array(nonEmpty).optional().meta({ description: 'CIDRs of the client address, resolved through trusted proxies. Default: any.' }),
  caseSensitive: z.boolean().optional().meta({ description: 'Match paths case-sensitively. Default: false, as broad as a case-insensitive backend.' }),
  policy: z.string().optional().meta({ description: 'Name of a policy in `policies` to apply instead of inline fields.' }),
  ...PolicyFields,
});

/** A route of the configuration. */
export type RouteConfig = z.output<typeof RouteSchema>;
/** A named policy of the configuration. */
export type PolicyConfig = z.output<typeof PolicySchema>;

/** The native configuration (what `gatehouse.yaml` holds). */
export const ConfigSchema = z
  .strictObject({
    listen: str('Address of the HTTP listener (`host:port`, `:port` for every interface).', '127.0.0.1:4180'),
    metrics: z.strictObject({ listen: str('Address of the Prometheus metrics listener; empty disables it.', '') }).prefault({}),
    tracing: z
      .strictObject({
        endpoint: leaf(
          z
            .string()
            .default('')
            .refine((value) => value === '' || (/^https?:\/\//.test(value) && URL.canParse(value)), {
              error: 'is not an http(s) URL',
              params: { fix: 'write the OTLP/HTTP traces URL of your collector, such as http://otel-collector:4318/v1/traces, or leave it empty' },
            }),
          {
            kind: 'string',
            description: 'OpenTelemetry OTLP/HTTP traces endpoint (JSON encoding), such as `http://otel-collector:4318/v1/traces`. Empty (the default) turns tracing off. Read at start: a change needs a restart.',
            example: 'http://otel-collector:4318/v1/traces',
          },
        ),
        serviceName: str('`service.name` of the exported spans.', 'gatehouse'),
        samplePercent: integer(100, 0, 100, 'Share of checks traced, in percent, when the proxy sent no `traceparent`; a `traceparent` from the proxy decides by its sampled flag.'),
      })
      .prefault({}),
    shutdownTimeout: duration('10s', 'How long in-flight requests may take to finish on SIGTERM', { min: 0, max: 3_600_000 }),
    provider: ProviderSchema,
    cookie: CookieSchema,
    session: SessionSchema,
    proxy: ProxySchema,
    forwardAuth: ForwardAuthSchema,
    identityHeaders: IdentityHeadersSchema,
    authorization: AuthorizationSchema,
    bearer: BearerSchema,
    logging: LoggingSchema,
    diagnostics: z
      .strictObject({
        token: secret(
          'A secret that turns on the diagnose echo: a check carrying `X-Gatehouse-Diagnose: <token>` is answered (403) with what gatehouse saw of it (host, path, scheme, client address, which forwarded headers arrived, cookie names) instead of a decision. Used by `gatehouse doctor --url`. Empty (the default) disables it.',
        ),
      })
      .prefault({}),
    envoy: z
      .strictObject({
        pathPrefix: str(
          "Path prefix of Envoy's ext_authz HTTP checks (`path_prefix` in Envoy, `pathPrefix` in Istio), such as `/ext-authz`; empty disables the mode. Envoy sends the original method, host and path after it; an allowed check answers exactly 200.",
          '',
          '/ext-authz',
        ),
      })
      .prefault({}),
    routes: leaf(z.array(RouteSchema).default([]), {
      kind: 'structured',
      description: 'Ordered routes: the first whose hosts, paths, methods and sources match decides who may authenticate how and what they need. YAML file only.',
    }),
    policies: leaf(z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), PolicySchema).default({}), {
      kind: 'structured',
      description: 'Named policies, applied by a route (`policy: NAME`) or by the proxy (`?policy=NAME` on the forward-auth URL). YAML file only.',
    }),
    routeDefault: enumOf(['auto', 'deny', 'authenticated'], 'auto', 'When no route matches: `deny`, or `authenticated` (any signed-in user passing `authorization`, the oauth2-proxy behaviour). `auto`: deny when routes are configured, authenticated otherwise.'),
  })


/** The validated, defaulted configuration. Frozen after loading. */
export type Config = z.output<typeof ConfigSchema>;
