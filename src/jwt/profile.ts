/**
 * A bearer-token profile: where the token is read from, which keys may verify it, and what its claims
 * must say. Accepts jwt-middleware's configuration verbatim and is stricter where the plugin is unsafe:
 * `iss` is checked against `issuers` (the plugin only uses them to fetch keys), a token with a `kid`
 * verifies only with that key (never falling back to `secret`), a token without one never with another
 * issuer's key, keys are bound to their algorithms,
 * `exp` is required, header mappings overwrite, and JWKS fetches are rate-limited with timeouts.
 * @see docs/bearer.md, RFC 8725, RFC 6750
 */
import { readFileSync } from 'node:fs';
import { parseDuration, type ProfileConfig } from '../config/index.js';
import { headerSafe } from '../header-value.js';
import { compileSources } from '../policy/matchers/source.js';
import { parseKeyText, type VerificationKey } from './keys.js';
import { bearerPrefixLength } from './provider-bearer.js';
import { claimsProblem, decodeJws, signatureValid, type ClaimRules, type DecodedJws } from './jws.js';
import { createRemoteKeySet, type RemoteKeySet } from './remote-jwks.js';
import { VerifiedTokens } from './verified-tokens.js';
import { listsName, type Lists, type SharedDenyList } from './shared-deny-list.js';
import { compileRequire, type ClaimsCheck } from './require.js';
import { isTemplate, parseTemplate, templateEnvironment, type Template, type TemplateRequest } from './template.js';

/** Largest token accepted, checked before any decoding (DOS-01). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * A slot kept with a cached token, for what a caller works out from its claims (the identity, the
 * headers): it lives exactly as long as the token stays in the cache.
 */
export interface TokenMemo {
  facts?: unknown;
}

/** Verified claims, with the cache entry's memo when they came from the cache. */
type Verified = { claims: Record<string, unknown>; memo: TokenMemo | undefined } | { error: string };

interface VerifiedToken {
  readonly claims: Record<string, unknown>;
  readonly exp: number;
  /** The key that verified it: the entry counts only while the profile still has that key. */
  readonly key: VerificationKey;
  readonly memo: TokenMemo;
}
/** jwt-middleware's default `validMethods`, plus EdDSA and PS*, which its key types bind safely. */
export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'];

/** Where a request carries its token. */
export interface TokenCarrier {
  /** The header's value; `name` is lower-case. */
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
  query(name: string): string | undefined;
}

/** The outcome of checking a request against a profile. */
export type ProfileResult =
  /**
   * `memo` is offered from a token's second check on: most tokens seen once are never seen again, and
   * what is kept for them only makes work for the garbage collector.
   */
  | { kind: 'valid'; claims: Record<string, unknown>; token: string; memo: TokenMemo | undefined }
  | { kind: 'absent' }
  /** 401: no valid token. `description` is safe to show (no token content). */
  | { kind: 'invalid'; reason: string; description: string }
  /** 403 (or 401 when stale per `freshness`): a valid token whose claims do not meet `require`. */
  | { kind: 'forbidden'; reason: string; description: string; stale: boolean; claims: Record<string, unknown> };

/** A compiled profile. */
export interface BearerProfile {
  readonly name: string;
  /** Reads the token from the request (header, cookie or query parameter, as configured). */
  extract(carrier: TokenCarrier): string | undefined;
  /** Verifies a token and checks its claims for this request. */
  /** Answers at once for a cached token or junk; waits only to check a signature. */
  check(token: string, request: TemplateRequest & { ip: string }): ProfileResult | Promise<ProfileResult>;
  readonly optional: boolean;
  readonly unauthenticatedMethods: ReadonlySet<string>;
  /** Headers for the upstream from claims (`headerMap`): always all set, overwriting. */
  headersFor(claims: Readonly<Record<string, unknown>>): Record<string, string>;
  /** The names `headersFor` sets (lower case). */
  readonly headerNames: readonly string[];
  /** The header to blank on an allowed answer when `forwardToken` is false. */
  readonly blankHeader: string | undefined;
  readonly redirectUnauthorized: Template | undefined;
  readonly redirectForbidden: Template | undefined;
  readonly claimNames: { email: string; groups: string; username: string };
  /** Starts the key prefetch and background refresh (unless `skipPrefetch`). */
  start(): void;
  status(): { ok: boolean; detail: string };
  /** Seconds since the oldest remote key set was last fetched, if the profile has any. */
  jwksAgeSeconds(): number | undefined;
  close(): void;
}

/** Context for compiling profiles. */
export interface ProfileEnvironment {
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Called after every JWKS fetch of a profile, for metrics. */
  readonly onJwksFetch?: (profile: string, ok: boolean, keys: number, seconds: number) => void;
  /** The deny-list shared through Redis (with the Redis session store), read on top of `denyList`. */
  readonly sharedDenyList?: Pick<SharedDenyList, 'denies'>;
}

/**
 * A claim as a header value: control characters removed (a claim must not split a header, FWD-17), and
 * non-ASCII and `%` percent-encoded as in the identity headers (Node refuses a header value beyond
 * Latin-1, which would make every check with that token a 500).
 */
function headerValue(value: unknown): string {
  if (value === undefined || value === null) return '';
  return headerSafe(typeof value === 'string' ? value : JSON.stringify(value));
}

function readDenyList(path: string): Lists {
  const jti = new Set<string>();
  const sub = new Set<string>();
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const entry = line.split('#')[0]?.trim() ?? '';
    if (entry === '') continue;
    const match = /^(jti|sub):(.+)$/.exec(entry);
    if (match === null) throw new TypeError(`denyList: '${entry}' is not jti:<id> or sub:<id>`);
    (match[1] === 'jti' ? jti : sub).add(match[2]?.trim() ?? '');
  }
  return { jti, sub };
}

/**
 * A configured list, or one comma-separated string as Traefik hands a plugin list from labels or a CRD
 * (`"a,b"`): the items trimmed, empty ones dropped.
 */
function listOf<T>(value: string | readonly T[] | undefined): readonly (T | string)[] {
  if (typeof value !== 'string') return value ?? [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/**
 * Compiles a profile.
 * @throws TypeError naming what is wrong (a bad key, template, requirement or option).
 */
export function compileProfile(name: string, config: ProfileConfig, environment: ProfileEnvironment): BearerProfile {
  if ((config.insecureSkipVerify ?? []).length > 0) throw new TypeError('insecureSkipVerify is not supported: gatehouse always verifies TLS certificates (use NODE_EXTRA_CA_CERTS for a private CA)');
  if ((config.rootCAs ?? []).length > 0) throw new TypeError('rootCAs is not supported: add the CA with NODE_EXTRA_CA_CERTS');
  const now = environment.now ?? Date.now;
  const templateEnv = templateEnvironment(environment.env);
  const base64 = config.secretBase64Encoded === true;
  const staticKeys = new Map<string, VerificationKey>();
  let anonymous: VerificationKey | undefined;
  if (config.secret !== undefined && config.secret !== '') {
    const parsed = parseKeyText(undefined, config.secret, base64);
    if (parsed.length !== 1) throw new TypeError('secret: must be one key');
    anonymous = parsed[0];
  }
  for (const [kid, text] of Object.entries(config.secrets ?? {})) {
    let parsed: VerificationKey[];
    try {
      parsed = parseKeyText(kid, text, base64);
    } catch (error) {
      throw new TypeError(`secrets.${kid}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    for (const key of parsed) staticKeys.set(key.kid ?? kid, key);
  }
  if (config.keysFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(config.keysFile, 'utf8');
    } catch (error) {
      throw new TypeError(`keysFile: cannot read '${config.keysFile}'`, { cause: error });
    }
    for (const key of parseKeyText(undefined, text)) {
      if (key.kid === undefined) throw new TypeError('keysFile: every key needs a kid');
      staticKeys.set(key.kid, key);
    }
  }
  const issuerEntries = listOf(config.issuers).map((entry) => (typeof entry === 'string' ? { issuer: entry, jwks: undefined } : entry));
  for (const { issuer } of issuerEntries) {
    if (issuer.includes('*')) throw new TypeError(`issuers: '${issuer}' has a wildcard; gatehouse checks iss exactly, so list each issuer`);
  }
  const issuers = issuerEntries.map((entry) => entry.issuer);
  const refreshInterval = config.refreshKeysInterval === undefined ? undefined : parseDuration(config.refreshKeysInterval);
  const remote: Map<string, RemoteKeySet> = new Map(
    issuerEntries.map((entry) => [
      entry.issuer,
      createRemoteKeySet({
        issuer: entry.issuer,
        jwksUri: entry.jwks,
        timeoutMs: environment.timeoutMs,
        ...(refreshInterval === undefined ? {} : { refreshIntervalMs: refreshInterval }),
        ...(environment.fetch === undefined ? {} : { fetch: environment.fetch }),
        ...(environment.onJwksFetch === undefined ? {} : { onFetch: (outcome: { ok: boolean; keys: number; ms: number }) => environment.onJwksFetch?.(name, outcome.ok, outcome.keys, outcome.ms / 1000) }),
        now,
      }),
    ]),
  );
  if (anonymous === undefined && staticKeys.size === 0 && remote.size === 0) throw new TypeError('has no keys: give secret, secrets, keysFile or issuers');

  const allowed = new Set(config.validMethods === undefined ? DEFAULT_ALGORITHMS : listOf(config.validMethods));
  const audiences = config.audiences;
  const leeway = Math.floor((config.leeway === undefined ? 60_000 : (parseDuration(config.leeway) ?? 60_000)) / 1000);
  if (leeway > 300) throw new TypeError('leeway: at most 5m');
  const requireCheck: ClaimsCheck | undefined = config.require === undefined ? undefined : compileRequire(config.require, templateEnv);
  const freshness = config.freshness ?? 3600;
  const denyList = config.denyList === undefined ? undefined : readDenyList(config.denyList);
  const sharedDenyList = environment.sharedDenyList;
  const verified = new VerifiedTokens<VerifiedToken>();
  /** True while the key that verified a cached token is still one of the profile's keys (JWT-32). */
  const stillKnown = (key: VerificationKey): boolean =>
    key === anonymous || (key.kid !== undefined && staticKeys.get(key.kid) === key) || [...remote.values()].some((set) => set.current().includes(key));
  const headerName = config.headerName ?? 'Authorization';
  // Header names are case-insensitive, and Node gives them lower-cased.
  const headerKey = headerName.toLowerCase();
  const cookieName = config.cookieName ?? 'Authorization';
  const parameterName = config.parameterName ?? '';

  const template = (label: string, text: string | undefined): Template | undefined => {
    if (text === undefined || text === '') return undefined;
    try {
      return isTemplate(text) ? parseTemplate(text, templateEnv) : () => text;
    } catch (error) {
      throw new TypeError(`${label}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };
  const redirectUnauthorized = template('redirectUnauthorized', config.redirectUnauthorized);
  const redirectForbidden = redirectUnauthorized === undefined ? undefined : template('redirectForbidden', config.redirectForbidden);

  const selectKey = async (header: Record<string, unknown>, claimsIss: unknown): Promise<VerificationKey | string> => {
    const { kid } = header;
    if (kid === undefined) {
      // Without a kid only the anonymous key, or the one and only key that may speak for the issuer the
      // token names: the profile's own static keys and the keys fetched from that issuer, never another
      // issuer's (JWT-31). An issuer that publishes nothing, or is down, lends no other issuer's key.
      if (anonymous !== undefined) return anonymous;
      const fetched = typeof claimsIss === 'string' ? (remote.get(claimsIss)?.current() ?? []) : [];
      if (staticKeys.size + fetched.length !== 1) return 'the token has no kid';
      return (staticKeys.size === 1 ? staticKeys.values().next().value : fetched[0]) ?? 'the token has no kid';
    }
    if (typeof kid !== 'string' || kid === '' || kid.length > 256) return 'the kid is not a usable string';
    const known = staticKeys.get(kid);
    if (known !== undefined) return known;
    // Remote keys are looked up only at the issuer the token names, when it is a configured one.
    const set = typeof claimsIss === 'string' ? remote.get(claimsIss) : undefined;
    if (set === undefined) return 'no key has this kid';
    const found = await set.get(kid);
    return found === 'pending' ? 'the issuer keys are still being fetched' : (found ?? 'no key has this kid');
  };

  const rules: ClaimRules = {
    ...(issuers.length > 0 ? { issuers } : {}),
    ...(audiences !== undefined ? { audiences } : {}),
    required: config.allowNonExpiring === true ? [] : ['exp'],
    leewaySeconds: leeway,
  };

  /**
   * Verifies a token. A cached token and junk are answered at once; only a signature check waits (for the
   * key, and for the libuv pool).
   */
  const verify = (token: string): Verified | Promise<Verified> => {
    if (token.length > MAX_TOKEN_LENGTH) return { error: 'token too large' };
    // A token seen before is answered from the cache: it passed every format check when it was stored.
    const cached = verified.get(token, Math.floor(now() / 1000), stillKnown);
    if (cached !== undefined) return { claims: cached.claims, memo: cached.memo };
    const jws = decodeJws(token);
    if (typeof jws === 'string') return { error: jws };
    if (!allowed.has(jws.alg)) return { error: `the algorithm ${jws.alg} is not allowed` };
    return verifySignature(token, jws);
  };

  const verifySignature = async (token: string, jws: DecodedJws): Promise<Verified> => {
    // The payload is read before the signature is checked only to learn which issuer's keys to ask.
    const key = await selectKey(jws.header, jws.payload.iss);
    if (typeof key === 'string') return { error: key };
    if (!key.algorithms.includes(jws.alg)) return { error: `the key cannot verify ${jws.alg}` };
    if (!(await signatureValid(jws, key.key))) return { error: 'jws signature verification failed' };
    // The time after the wait: a token that expired meanwhile is not let through.
    const nowSeconds = Math.floor(now() / 1000);
    const claims = jws.payload;
    const problem = claimsProblem(claims, rules, nowSeconds);
    if (problem !== undefined) return { error: problem };
    if (typeof claims.iat === 'number' && claims.iat > nowSeconds + leeway) return { error: 'issued in the future' };
    verified.set(token, { claims, exp: typeof claims.exp === 'number' ? claims.exp : Number.MAX_SAFE_INTEGER, key, memo: {} });
    return { claims, memo: undefined };
  };

  const sources = config.sourceClaim;

  /** What a verified (or refused) token means for this request: revoked, out of place, or short of `require`. */
  const judge = (result: Verified, token: string, request: TemplateRequest & { ip: string }): ProfileResult => {
    if ('error' in result) return { kind: 'invalid', reason: 'bearer-invalid', description: result.error };
    const { claims } = result;
    if (denyList !== undefined && listsName(denyList, claims.jti, claims.sub)) {
      return { kind: 'invalid', reason: 'bearer-revoked', description: 'token revoked' };
    }
    // Throws (a 503) while the shared list has never been read: a revoked token must not pass meanwhile.
    if (sharedDenyList?.denies(name, claims.jti, claims.sub) === true) return { kind: 'invalid', reason: 'bearer-revoked', description: 'token revoked' };
    if (sources !== undefined) {
      const value = claims[sources];
      const ranges = Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : typeof value === 'string' ? [value] : [];
      let inside: boolean;
      try {
        inside = ranges.length > 0 && compileSources(ranges)(request.ip);
      } catch {
        // A claim that is not a list of ranges binds the token nowhere.
        inside = false;
      }
      if (!inside) return { kind: 'forbidden', reason: 'bearer-source-not-allowed', description: `the token may not be used from this address (claim ${sources})`, stale: false, claims };
    }
    if (requireCheck !== undefined) {
      const outcome = requireCheck(claims, request);
      if (!outcome.pass) {
        const iat = typeof claims.iat === 'number' ? claims.iat : undefined;
        const stale = freshness > 0 && iat !== undefined && Math.floor(now() / 1000) - iat > freshness;
        return { kind: 'forbidden', reason: 'bearer-claim-not-allowed', description: `claim ${outcome.claim} is not valid`, stale, claims };
      }
    }
    return { kind: 'valid', claims, token, memo: result.memo };
  };

  return {
    name,
    optional: config.optional === true,
    unauthenticatedMethods: new Set((config.unauthenticatedMethods ?? []).map((method) => method.toUpperCase())),
    extract(carrier) {
      const fromCookie = cookieName === '' ? undefined : carrier.cookie(cookieName);
      if (fromCookie !== undefined && fromCookie !== '') return fromCookie;
      const fromHeader = headerKey === '' ? undefined : carrier.header(headerKey);
      if (fromHeader !== undefined && fromHeader !== '') return fromHeader.slice(bearerPrefixLength(fromHeader)).trim();
      const fromQuery = parameterName === '' ? undefined : carrier.query(parameterName);
      return fromQuery === undefined || fromQuery === '' ? undefined : fromQuery;
    },
    check(token, request) {
      const verified = verify(token);
      return verified instanceof Promise ? verified.then((result) => judge(result, token, request)) : judge(verified, token, request);
    },
    headersFor(claims) {
      const headers: Record<string, string> = {};
      // Always set, overwriting: a claim that is absent gives an empty value, so a client-sent copy never
      // survives (jwt-middleware's Add was spoofable).
      for (const [header, claim] of Object.entries(config.headerMap ?? {})) headers[header.toLowerCase()] = headerValue(claims[claim]);
      return headers;
    },
    headerNames: Object.keys(config.headerMap ?? {}).map((header) => header.toLowerCase()),
    blankHeader: config.forwardToken === false && headerKey !== '' ? headerKey : undefined,
    redirectUnauthorized,
    redirectForbidden,
    claimNames: { email: config.claims?.email ?? 'email', groups: config.claims?.groups ?? 'groups', username: config.claims?.username ?? 'preferred_username' },
    start() {
      if (config.skipPrefetch === true) return;
      const delay = config.delayPrefetch === undefined ? 0 : (parseDuration(config.delayPrefetch) ?? 0);
      const prefetch = () => {
        for (const set of remote.values()) void set.refresh();
      };
      if (delay === 0) prefetch();
      else setTimeout(prefetch, delay).unref();
    },
    status() {
      const states = [...remote.entries()].map(([issuer, set]) => ({ issuer, ...set.status() }));
      const broken = states.filter((state) => !state.ok && config.skipPrefetch !== true);
      return broken.length === 0 ? { ok: true, detail: `${staticKeys.size + (anonymous === undefined ? 0 : 1)} static keys, ${states.length} remote key sets` } : { ok: false, detail: broken.map((state) => `${state.issuer}: ${state.error ?? 'not fetched yet'}`).join('; ') };
    },
    jwksAgeSeconds() {
      const ages = [...remote.values()].map((set) => set.status().ageMs).filter((age): age is number => age !== undefined);
      return ages.length === 0 ? undefined : Math.max(...ages) / 1000;
    },
    close() {
      for (const set of remote.values()) set.close();
    },
  };
}
