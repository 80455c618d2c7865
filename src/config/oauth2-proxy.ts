/**
 * oauth2-proxy compatibility: its `OAUTH2_PROXY_*` environment variables and `--kebab-case` flags, mapped
 * onto the native model with oauth2-proxy's own parsing and semantics. An option gatehouse does not
 * implement is an error that names it, or a warning where ignoring it is harmless; never silently ignored.
 * @see docs/oauth2-proxy.md
 */
import { convertText, parseGoBool, splitList, type Assignment } from './assignments.js';
import type { LeafKind } from './schema.js';
import type { Origin, Problem } from './problems.js';

/** The outcome of mapping one oauth2-proxy option value. */
export interface MappedOption {
  assignments: Assignment[];
  problems: Problem[];
  warnings: string[];
}

interface OptionSpec {
  /** oauth2-proxy config key (`cookie_secret`); the env name is `OAUTH2_PROXY_` + upper-cased key. */
  readonly key: string;
  /** Flag names besides the kebab-cased key (`--email-domain` for `email_domains`). */
  readonly flags?: readonly string[];
  readonly kind: LeafKind;
  /** Native path the value lands on, when the mapping is one to one. */
  readonly path?: string;
  /** Custom mapping, for options whose meaning differs in shape. */
  readonly map?: (text: string, origin: Origin) => MappedOption;
  /** The value is a secret: never printed, and `<KEY>_FILE` / `--<key>-file` read it from a file. */
  readonly secret?: boolean;
}

const none = (): MappedOption => ({ assignments: [], problems: [], warnings: [] });

function ignoredWithWarning(why: string) {
  return (_text: string, origin: Origin): MappedOption => ({
    assignments: [],
    problems: [],
    warnings: [`${origin.name ?? ''} is accepted for oauth2-proxy compatibility and has no effect: ${why}`],
  });
}

function problem(origin: Origin, path: string, code: string, message: string, fix: string): MappedOption {
  return { assignments: [], problems: [{ code, path, message, fix, source: `${origin.kind} ${origin.name ?? ''}` }], warnings: [] };
}

const one = (path: string, value: unknown, origin: Origin): MappedOption => ({
  assignments: [{ path, value, origin }],
  problems: [],
  warnings: [],
});

/** `static://202` → the status of an allowed check. */
function mapUpstreams(text: string, origin: Origin): MappedOption {
  const items = splitList(text);
  const codes = new Set<number>();
  for (const item of items) {
    // The oauth2-proxy Helm chart's placeholder upstream: nothing to proxy, nothing to map.
    if (item === 'file:///dev/null') continue;
    const match = /^static:\/\/(\d{3})\/?$/.exec(item);
    if (match === null) {
      return problem(
        origin,
        'forwardAuth.status',
        'ERR_CONFIG_UPSTREAM_UNSUPPORTED',
        `upstream '${item}' is not supported: gatehouse answers forward-auth checks and does not proxy requests`,
        'use static://202 (the forward-auth answer) and let the reverse proxy route to the application',
      );
    }
    codes.add(Number(match[1]));
  }
  if (codes.size > 1) {
    return problem(origin, 'forwardAuth.status', 'ERR_CONFIG_UPSTREAM_UNSUPPORTED', 'several static:// upstreams with different codes', 'keep one static://CODE upstream');
  }
  const [code] = codes;
  return code === undefined ? none() : one('forwardAuth.status', code, origin);
}

function mapProvider(text: string, origin: Origin): MappedOption {
  if (text.trim() === 'oidc') return none();
  // Keycloak speaks OpenID Connect: what keycloak-oidc adds is its roles, read from the access token into the
  // groups as `role:…` (allowed_roles, below, is refused with the way to require roles instead).
  if (text.trim() === 'keycloak-oidc') {
    return {
      assignments: [],
      problems: [],
      warnings: [`${origin.name ?? ''} keycloak-oidc is read as oidc: gatehouse signs in with Keycloak's ID token and does not add Keycloak roles (role:…) to the groups. To require a role, add the roles to the ID token (Keycloak: the roles mapper's 'Add to ID token') and set oidc_groups_claim to their claim, such as realm_access.roles.`],
    };
  }
  return problem(
    origin,
    'provider.type',
    'ERR_CONFIG_PROVIDER_UNSUPPORTED',
    `provider '${text}' is not supported; gatehouse speaks generic OpenID Connect`,
    'set OAUTH2_PROXY_PROVIDER=oidc and OAUTH2_PROXY_OIDC_ISSUER_URL to the provider issuer',
  );
}

function mapCodeChallenge(text: string, origin: Origin): MappedOption {
  const value = text.trim();
  if (value === '') return none();
  if (value === 'S256' || value === 'plain') return one('provider.pkce', value, origin);
  return problem(origin, 'provider.pkce', 'ERR_CONFIG_PKCE_METHOD', `'${value}' is not a PKCE method`, 'use S256');
}

function mapSkipNonce(text: string, origin: Origin): MappedOption {
  const converted = convertText('boolean', text);
  if (converted.ok && converted.value === true) {
    return ignoredWithWarning('gatehouse always sends and checks the OIDC nonce')(text, origin);
  }
  return none();
}

function mapProxyPrefix(text: string, origin: Origin): MappedOption {
  if (text.trim() === '/oauth2') return none();
  return problem(origin, 'proxyPrefix', 'ERR_CONFIG_OPTION_UNSUPPORTED', `proxy prefix '${text}' is not supported`, 'gatehouse serves its endpoints under /oauth2/; remove the option');
}

/**
 * oauth2-proxy options gatehouse knows and does not implement, each with what to do instead: an operator
 * moving a configuration over learns the way forward, not just that the key is unknown.
 */
const UNSUPPORTED: Readonly<Record<string, { readonly message: string; readonly fix: string }>> = {
  skip_auth_regex: {
    message: "is oauth2-proxy's deprecated form of skip_auth_routes",
    fix: 'rename it skip_auth_routes (OAUTH2_PROXY_SKIP_AUTH_ROUTES, --skip-auth-route): an entry without METHOD= applies to every method, as a skip_auth_regex entry did',
  },
  allowed_roles: {
    message: "is keycloak-oidc's role check, and gatehouse does not read roles from Keycloak's access token",
    fix: "add the roles to the ID token (Keycloak: the roles mapper's 'Add to ID token'), set oidc_groups_claim to their claim (realm_access.roles) and list the roles in allowed_groups",
  },
  provider_ca_files: {
    message: "is not read: gatehouse trusts Node's certificate authorities and those in NODE_EXTRA_CA_CERTS",
    fix: "put the provider's CA certificates in one PEM file and set NODE_EXTRA_CA_CERTS to its path",
  },
  ssl_insecure_skip_verify: {
    message: "would turn off TLS verification, which gatehouse never does",
    fix: "remove it, and trust the provider's certificate authority with NODE_EXTRA_CA_CERTS (the path of a PEM file)",
  },
  htpasswd_file: {
    message: 'is a password login, which gatehouse does not offer',
    fix: 'sign people in through the OpenID Connect provider, and give machines bearer tokens (docs/bearer.md)',
  },
  ...Object.fromEntries(
    ['skip_oidc_discovery', 'login_url', 'redeem_url', 'oidc_jwks_url'].map((key) => [
      key,
      {
        message: "is not read: gatehouse always takes the provider's endpoints from its discovery document",
        fix: "remove it, and set oidc_issuer_url to the provider's issuer, which must serve /.well-known/openid-configuration",
      },
    ]),
  ),
};

/** What to say about an oauth2-proxy option gatehouse does not implement, when it is a known one. */
export function unsupportedOption(key: string): { readonly message: string; readonly fix: string } | undefined {
  return Object.hasOwn(UNSUPPORTED, key) ? UNSUPPORTED[key] : undefined;
}

/** The oauth2-proxy options gatehouse understands. */
export const OAUTH2_PROXY_OPTIONS: readonly OptionSpec[] = [
  { key: 'provider', kind: 'string', map: mapProvider },
  { key: 'oidc_issuer_url', kind: 'string', path: 'provider.issuer' },
  { key: 'client_id', kind: 'string', path: 'provider.clientId' },
  { key: 'client_secret', kind: 'secret', path: 'provider.clientSecret', secret: true },
  { key: 'provider_display_name', kind: 'string', path: 'provider.displayName' },
  { key: 'scope', kind: 'string', map: (text, origin) => one('provider.scopes', text.split(/\s+/).filter((s) => s !== ''), origin) },
  { key: 'code_challenge_method', kind: 'string', map: mapCodeChallenge },
  { key: 'oidc_email_claim', kind: 'string', path: 'provider.claims.email' },
  { key: 'oidc_groups_claim', kind: 'string', path: 'provider.claims.groups' },
  { key: 'oidc_extra_audiences', flags: ['oidc-extra-audience'], kind: 'list', path: 'provider.extraAudiences' },
  { key: 'insecure_oidc_allow_unverified_email', kind: 'boolean', path: 'provider.insecureAllowUnverifiedEmail' },
  { key: 'insecure_oidc_skip_nonce', kind: 'boolean', map: mapSkipNonce },
  { key: 'cookie_secret', kind: 'secret', secret: true, map: (text, origin) => one('cookie.secrets', [text], origin) },
  { key: 'cookie_name', kind: 'string', path: 'cookie.name' },
  { key: 'cookie_domains', flags: ['cookie-domain'], kind: 'list', path: 'cookie.domains' },
  { key: 'cookie_path', kind: 'string', path: 'cookie.path' },
  { key: 'cookie_expire', kind: 'duration', path: 'cookie.expire' },
  { key: 'cookie_refresh', kind: 'duration', path: 'cookie.refresh' },
  { key: 'cookie_secure', kind: 'boolean', path: 'cookie.secure' },
  { key: 'cookie_httponly', kind: 'boolean', path: 'cookie.httpOnly' },
  { key: 'cookie_samesite', kind: 'enum', path: 'cookie.sameSite' },
  { key: 'cookie_csrf_expire', kind: 'duration', path: 'cookie.csrfExpire' },
  { key: 'cookie_csrf_per_request', kind: 'boolean', map: ignoredWithWarning('every login already has its own transaction cookie') },
  { key: 'email_domains', flags: ['email-domain'], kind: 'list', path: 'authorization.emailDomains' },
  { key: 'authenticated_emails_file', kind: 'string', path: 'authorization.emailsFile' },
  { key: 'allowed_groups', flags: ['allowed-group'], kind: 'list', path: 'authorization.groups' },
  { key: 'whitelist_domains', flags: ['whitelist-domain'], kind: 'list', path: 'proxy.allowedRedirectDomains' },
  { key: 'redirect_url', kind: 'string', path: 'proxy.redirectUrl' },
  { key: 'reverse_proxy', kind: 'boolean', path: 'proxy.reverseProxy' },
  { key: 'trusted_proxy_ips', flags: ['trusted-proxy-ip'], kind: 'list', path: 'proxy.trusted' },
  { key: 'http_address', kind: 'string', path: 'listen' },
  { key: 'https_address', kind: 'string', map: ignoredWithWarning('gatehouse serves plain HTTP behind the proxy, which terminates TLS; nothing listens on the HTTPS address') },
  { key: 'metrics_address', kind: 'string', path: 'metrics.listen' },
  { key: 'upstreams', flags: ['upstream'], kind: 'list', map: mapUpstreams },
  { key: 'proxy_prefix', kind: 'string', map: mapProxyPrefix },
  { key: 'set_authorization_header', kind: 'boolean', path: 'identityHeaders.authorization' },
  { key: 'set_xauthrequest', kind: 'boolean', path: 'identityHeaders.xAuthRequest' },
  {
    key: 'pass_access_token',
    kind: 'boolean',
    path: 'identityHeaders.accessToken',
    // Marked, because oauth2-proxy accepts it without set_xauthrequest (see the loader).
    // Read as the boolean check read it (trimmed), so a value that passes it is never taken as false.
    map: (text, origin) => one('identityHeaders.accessToken', parseGoBool(text.trim()) === true, { ...origin, option: 'pass_access_token' }),
  },
  {
    key: 'skip_auth_strip_headers',
    kind: 'boolean',
    map: ignoredWithWarning('gatehouse does not proxy requests; on an allowed check it always sends every identity header, so the reverse proxy overwrites whatever the client sent'),
  },
  { key: 'skip_provider_button', kind: 'boolean', path: 'forwardAuth.skipProviderButton' },
  { key: 'force_json_errors', kind: 'boolean', path: 'forwardAuth.forceJsonErrors' },
  { key: 'skip_auth_routes', flags: ['skip-auth-route'], kind: 'list', path: 'forwardAuth.skipAuthRoutes' },
  { key: 'skip_auth_preflight', kind: 'boolean', path: 'forwardAuth.skipAuthPreflight' },
  { key: 'api_routes', flags: ['api-route'], kind: 'list', path: 'forwardAuth.apiRoutes' },
  { key: 'skip_jwt_bearer_tokens', kind: 'boolean', path: 'bearer.provider' },
  { key: 'extra_jwt_issuers', flags: ['extra-jwt-issuer'], kind: 'list', path: 'bearer.extraIssuers' },
  { key: 'session_store_type', kind: 'enum', path: 'session.store' },
  { key: 'redis_connection_url', kind: 'secret', path: 'session.redis.url', secret: true },
  { key: 'redis_username', kind: 'string', path: 'session.redis.username' },
  { key: 'redis_password', kind: 'secret', path: 'session.redis.password', secret: true },
  { key: 'redis_use_sentinel', kind: 'boolean', path: 'session.redis.useSentinel' },
  { key: 'redis_sentinel_master_name', kind: 'string', path: 'session.redis.sentinelMasterName' },
  { key: 'redis_sentinel_connection_urls', kind: 'list', path: 'session.redis.sentinelUrls' },
  { key: 'redis_sentinel_password', kind: 'secret', path: 'session.redis.sentinelPassword', secret: true },
  { key: 'redis_use_cluster', kind: 'boolean', path: 'session.redis.useCluster' },
  { key: 'redis_cluster_connection_urls', kind: 'list', path: 'session.redis.clusterUrls' },
  { key: 'redis_ca_path', kind: 'string', path: 'session.redis.caPath' },
  { key: 'redis_insecure_skip_tls_verify', kind: 'boolean', path: 'session.redis.insecureSkipTlsVerify' },
  {
    key: 'redis_connection_idle_timeout',
    kind: 'integer',
    // oauth2-proxy takes whole seconds here.
    map: (text, origin) => {
      const converted = convertText('integer', text);
      if (!converted.ok) return problem(origin, 'session.redis.idleTimeout', converted.problem.code, converted.problem.message, 'write whole seconds, such as 60');
      return one('session.redis.idleTimeout', `${String(converted.value)}s`, origin);
    },
  },
  { key: 'auth_logging', kind: 'boolean', path: 'logging.auth' },
  { key: 'request_logging', kind: 'boolean', path: 'logging.requests' },
  { key: 'standard_logging', kind: 'boolean', path: 'logging.standard' },
  { key: 'silence_ping_logging', kind: 'boolean', path: 'logging.silencePing' },
];

/** Env name of an option: `OAUTH2_PROXY_` + upper-cased config key. */
export function envNameOf(spec: OptionSpec): string {
  return `OAUTH2_PROXY_${spec.key.toUpperCase()}`;
}

/** Every flag name of an option, without the leading dashes. */
export function flagNamesOf(spec: OptionSpec): string[] {
  return [spec.key.replaceAll('_', '-'), ...(spec.flags ?? [])];
}

/** Maps one oauth2-proxy option value onto native assignments. */
export function mapOption(spec: OptionSpec, text: string, origin: Origin): MappedOption {
  if (spec.map !== undefined) {
    // A boolean that is ignored or only warned about is still a boolean: 'yes' must fail, as in oauth2-proxy.
    if (spec.kind === 'boolean') {
      const converted = convertText('boolean', text);
      if (!converted.ok) return { assignments: [], problems: [{ ...converted.problem, path: spec.path ?? spec.key, source: `${origin.kind} ${origin.name ?? ''}` }], warnings: [] };
    }
    return spec.map(text, origin);
  }
  const path = spec.path ?? '';
  const converted = convertText(spec.kind, text);
  if (!converted.ok) {
    return { assignments: [], problems: [{ ...converted.problem, path, source: `${origin.kind} ${origin.name ?? ''}` }], warnings: [] };
  }
  return one(path, converted.value, origin);
}

export const OPTION_BY_KEY: ReadonlyMap<string, OptionSpec> = new Map(OAUTH2_PROXY_OPTIONS.map((spec) => [spec.key, spec]));

export const OPTION_BY_ENV: ReadonlyMap<string, OptionSpec> = new Map(OAUTH2_PROXY_OPTIONS.map((spec) => [envNameOf(spec), spec]));

export const OPTION_BY_FLAG: ReadonlyMap<string, OptionSpec> = new Map(
  OAUTH2_PROXY_OPTIONS.flatMap((spec) => flagNamesOf(spec).map((flag) => [flag, spec] as const)),
);

export type { OptionSpec };
