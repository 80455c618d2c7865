/**
 * Shared fixtures for the policy tests: the catalogue's policy fixture as gatehouse routes
 * (security-cases.md §0), identities built from claims, the pure selection → decision pipeline, and a
 * gateway with an in-memory session store to check that the real forward-auth check agrees with it.
 */
import { Writable } from 'node:stream';
import { ConfigSchema, type Config } from '../../src/config/index.js';
import { createGateway, type Gateway, type GatewayRequest, type Verdict } from '../../src/gateway/index.js';
import { identityFromClaims, type Identity } from '../../src/identity/index.js';
import type { BearerVerifier } from '../../src/jwt/index.js';
import { createLoggers } from '../../src/log/index.js';
import { authorizeIdentity, createEmailPolicy, emailPolicyFromConfig, type EmailPolicy } from '../../src/policy/email-policy.js';
import { normalizePath } from '../../src/policy/path.js';
import { evaluatePolicy, type PolicyRequest } from '../../src/policy/requirements.js';
import { compilePolicySet, type PolicySet } from '../../src/policy/routes.js';
import type { CookieJar, LoadResult, SessionStore } from '../../src/session/index.js';

/** The protected host of the fixture. */
export const APP = 'app.homelab.example.com';

/** Claim names as configured by default (`email`, `groups`, `preferred_username`). */
export const CLAIM_NAMES = { email: 'email', groups: 'groups', username: 'preferred_username' } as const;

/** The catalogue's policy fixture as gatehouse routes (first match wins; anything else on APP → `app`). */
export const FIXTURE_ROUTES = [
  { name: 'public', hosts: [APP], paths: ['/public/**'], auth: 'public' },
  { name: 'api-status', hosts: [APP], paths: ['/api/*/status'], methods: ['GET'], auth: 'public' },
  { name: 'admin', hosts: [APP], paths: ['/admin/**'], require: { groups: ['admins'] } },
  { name: 'app', hosts: [APP], require: { emailDomains: ['homelab.example.com'] } },
] as const;

/** A schema-valid, defaulted configuration (no file or env involved). */
export function configOf(input: Record<string, unknown>): Config {
  return ConfigSchema.parse(input);
}

/** The fixture configuration: the routes, a named `admins` policy, and the global email allow-list. */
export function fixtureConfig(extra: Record<string, unknown> = {}): Config {
  return configOf({
    routes: FIXTURE_ROUTES,
    policies: { admins: { require: { groups: ['admins'] } } },
    authorization: { emailDomains: ['homelab.example.com'] },
    ...extra,
  });
}

/** A policy request for a normalized path. */
export function policyRequest(path: string, options: { method?: string; host?: string; search?: string; ip?: string; headers?: Record<string, string> } = {}): PolicyRequest {
  return {
    method: options.method ?? 'GET',
    scheme: 'https',
    host: options.host ?? APP,
    path,
    search: options.search ?? '',
    ip: options.ip ?? '10.0.0.7',
    headers: options.headers ?? {},
  };
}

/** Options of one request through the pipeline. */
export interface RequestOptions {
  readonly method?: string;
  readonly host?: string;
  readonly headers?: Record<string, string>;
}

/** The outcome of the pure pipeline, in the gateway's terms. */
export interface Outcome {
  /** `bad-path`, or the selection label (`route:<name>`, `policy:<name>`, `default:<kind>`). */
  readonly label: string;
  /** `allow`, `unauthenticated` (401 / login), `forbidden` (403) or `bad` (400). */
  readonly kind: 'allow' | 'unauthenticated' | 'forbidden' | 'bad';
  /** Stable reason code. */
  readonly reason: string;
}

/**
 * URI → normalizePath → select → (public? authenticated? global authorization → evaluatePolicy), the same
 * order as src/gateway/check.ts. `identity` undefined means an anonymous request.
 */
export function decide(set: PolicySet, emailPolicy: EmailPolicy, uri: string, identity: Identity | undefined, options: RequestOptions & { policyName?: string } = {}): Outcome {
  const normalized = normalizePath(uri);
  if (!normalized.ok) return { label: 'bad-path', kind: 'bad', reason: 'bad-path' };
  const queryAt = uri.indexOf('?');
  const request = policyRequest(normalized.path, { ...options, search: queryAt === -1 ? '' : uri.slice(queryAt) });
  const selection = set.select(request, options.policyName);
  const policy = selection.policy;
  if (policy === undefined) return { label: selection.label, kind: 'forbidden', reason: options.policyName === undefined ? 'no-route-matched' : 'policy-unknown' };
  if (policy.auth.public) return { label: selection.label, kind: 'allow', reason: 'route-public' };
  if (identity === undefined) return { label: selection.label, kind: 'unauthenticated', reason: 'user-unauthenticated' };
  const global = authorizeIdentity(identity, emailPolicy);
  if (!global.allow) return { label: selection.label, kind: 'forbidden', reason: global.reason };
  const decision = evaluatePolicy(policy, identity, {}, request);
  if (!decision.allow && !policy.audit) return { label: selection.label, kind: 'forbidden', reason: decision.reason };
  return { label: selection.label, kind: 'allow', reason: 'session-valid' };
}

/** An identity from ID-token claims, as the gateway builds it (strict email parsing). */
export function identityOf(claims: Record<string, unknown>): Identity {
  return identityFromClaims({ sub: `sub-${String(claims.email)}`, iss: 'https://idp.test/realms/home', ...claims }, CLAIM_NAMES, 'session');
}

/** A verified user of the allowed domain who is not an admin. */
export const USER = identityOf({ email: 'user@homelab.example.com', email_verified: true, groups: ['staff'] });
/** A verified admin of the allowed domain. */
export const ADMIN = identityOf({ email: 'admin@homelab.example.com', email_verified: true, groups: ['admins'] });

/** The global allow-list of the fixture (verified email @homelab.example.com). */
export const FIXTURE_EMAIL_POLICY = createEmailPolicy({ emailDomains: ['homelab.example.com'], emails: [], groups: [], requireVerifiedEmail: true });

/** A gateway over an in-memory session store: the cookie `who` names the identity of the session. */
export interface TestGateway {
  readonly gateway: Gateway;
  /** Every log line written so far (JSON). */
  readonly logs: string[];
  /** Runs a forward-auth check (`/oauth2/auth` mode unless `mode` says otherwise). */
  check(uri: string, options?: RequestOptions & { who?: string; endpointSearch?: string; mode?: 'auth' | 'proxy' }): Promise<Verdict>;
}

/** Builds a gateway for `config`; `identities` are the sessions a request can hold (by name). */
export function createTestGateway(config: Config, identities: Readonly<Record<string, Identity>>, options: { bearer?: BearerVerifier } = {}): TestGateway {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      logs.push(...String(chunk).split('\n').filter((line) => line !== ''));
      callback();
    },
  });
  const loggers = createLoggers({ format: 'json', level: 'debug', auth: true, requests: true, standard: true, destination });
  const load = (jar: CookieJar): LoadResult => {
    const who = jar.get('who')?.[0];
    const identity = who === undefined ? undefined : identities[who];
    if (identity === undefined) return { kind: 'none' };
    return { kind: 'session', session: { identity, createdAt: 1_000, refreshedAt: 1_000, expiresAt: 4_000_000_000 }, handle: `handle-${who ?? ''}`, stale: false };
  };
  const store: SessionStore = {
    kind: 'cookie',
    load: (jar) => Promise.resolve(load(jar)),
    loadSync: (jar) => load(jar),
    save: () => Promise.resolve([]),
    clear: () => Promise.resolve([]),
    ready: () => Promise.resolve({ ok: true, detail: 'memory' }),
    close: () => Promise.resolve(),
  };
  const gateway = createGateway({
    config,
    devMode: false,
    store,
    // Neither is reached by a forward-auth check with a valid session and no refresh due.
    transactions: {} as never,
    oidc: {} as never,
    validateRedirect: (target) => target,
    emailPolicy: emailPolicyFromConfig(config, false),
    emailsFromFile: new Set(),
    bearer: options.bearer,
    bearerProfiles: new Map(),
    policySet: compilePolicySet(config),
    apiRoutes: [],
    loggers,
    now: () => 2_000_000,
  });
  return {
    gateway,
    logs,
    check(uri, options = {}) {
      const jar: CookieJar = new Map(options.who === undefined ? [] : [['who', [options.who]]]);
      const endpointSearch = options.endpointSearch ?? '';
      const request: GatewayRequest = {
        view: { method: options.method ?? 'GET', scheme: 'https', host: options.host ?? APP, port: undefined, uri, clientIp: '10.0.0.7' },
        endpointPath: '/oauth2/auth',
        endpointSearch,
        query: new URLSearchParams(endpointSearch),
        headers: { accept: 'application/json', ...(options.headers ?? {}) },
        jar,
        requestId: 'test-request',
      };
      return Promise.resolve(gateway.check(request, options.mode ?? 'auth'));
    },
  };
}

/** The HTTP status the gateway gives an outcome kind in `/oauth2/auth` mode. */
export const STATUS_OF: Readonly<Record<Outcome['kind'], number>> = { allow: 202, unauthenticated: 401, forbidden: 403, bad: 400 };
