/**
 * A remote JWKS, kept warm: fetched at start (unless `skipPrefetch`), refreshed in the background, and
 * fetched again for an unknown `kid` at most once per cooldown (single-flight). When the issuer is down,
 * the last good keys stay in use. Every fetch has a timeout, a size cap, no redirects (a token can never
 * make gatehouse fetch anything: URLs come only from configuration) and a key-count cap.
 */
import { calculateJwkThumbprint } from 'jose';
import { parseKeyText, type VerificationKey } from './keys.js';

/** Options of a remote key set. */
export interface RemoteKeySetOptions {
  /** The issuer; its discovery document names the JWKS when `jwksUri` is not given. */
  readonly issuer: string;
  readonly jwksUri?: string | undefined;
  readonly timeoutMs: number;
  /** Background refresh period. Default 10 minutes. */
  readonly refreshIntervalMs?: number;
  /** Least time between two fetches caused by unknown key ids. Default 30 s. */
  readonly cooldownMs?: number;
  /**
   * Longest `get` waits for a fetch in flight before answering with the keys it has (the fetch carries on).
   * Default: as long as the fetch takes (at most `timeoutMs`).
   */
  readonly waitMs?: number;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  /** Called after each fetch attempt, for metrics and logs. */
  readonly onFetch?: (outcome: { ok: boolean; keys: number; error?: string; ms: number }) => void;
}

/** Largest JWKS or discovery document read, bytes. */
export const MAX_DOCUMENT_BYTES = 256 * 1024;
/** Most keys kept from one JWKS. */
export const MAX_KEYS = 64;

/** A remote key set. */
export interface RemoteKeySet {
  /**
   * The key with this id, fetching again (within the cooldown) when it is unknown. `'pending'` when a fetch
   * is still running after `waitMs`.
   */
  get(kid: string): Promise<VerificationKey | 'pending' | undefined>;
  /** All current keys (for a token without `kid` that names this issuer, when there is exactly one). */
  current(): readonly VerificationKey[];
  /** Fetches now (start-up prefetch). Never throws. */
  refresh(): Promise<void>;
  status(): { ok: boolean; keys: number; ageMs: number | undefined; error: string | undefined };
  close(): void;
}

async function readJson(response: Response): Promise<unknown> {
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_DOCUMENT_BYTES) throw new Error('document too large');
  if (response.body === null) throw new Error('empty body');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    // Read no further than the cap, whatever the server claims or streams (DOS-05).
    if (size > MAX_DOCUMENT_BYTES) throw new Error('document too large');
    chunks.push(Buffer.from(chunk));
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Creates a remote key set (no fetch yet). */
export function createRemoteKeySet(options: RemoteKeySetOptions): RemoteKeySet {
  const fetchFn = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const cooldown = options.cooldownMs ?? 30_000;
  let keys = new Map<string, VerificationKey>();
  let all: VerificationKey[] = [];
  let fetchedAt: number | undefined;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let lastError: string | undefined;
  let inFlight: Promise<void> | undefined;
  let jwksUri = options.jwksUri;

  const get = async (url: string): Promise<unknown> => {
    const response = await fetchFn(url, { redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs), headers: { accept: 'application/json' } });
    return readJson(response);
  };

  const discover = async (): Promise<string> => {
    if (jwksUri !== undefined) return jwksUri;
    const base = options.issuer.replace(/\/+$/, '');
    try {
      const document = (await get(`${base}/.well-known/openid-configuration`)) as { jwks_uri?: unknown };
      if (typeof document.jwks_uri !== 'string') throw new Error('no jwks_uri in the discovery document');
      // Only a discovered address is kept.
      jwksUri = document.jwks_uri;
      return jwksUri;
    } catch {
      // jwt-middleware's fallback for issuers without discovery, for this fetch only: an issuer that was
      // down at start is asked for its discovery document again next time.
      return `${base}/.well-known/jwks.json`;
    }
  };

  const load = async (): Promise<void> => {
    const started = now();
    attemptedAt = started;
    try {
      const document = (await get(await discover())) as { keys?: unknown };
      if (!Array.isArray(document.keys)) throw new Error('the JWKS has no keys array');
      const next = new Map<string, VerificationKey>();
      const list: VerificationKey[] = [];
      for (const jwk of document.keys.slice(0, MAX_KEYS)) {
        try {
          // A published key set is public: a symmetric (oct) key in it would let anyone sign, so it is
          // skipped, as jose and jwt-middleware do. HMAC secrets come only from the configuration.
          if (typeof jwk === 'object' && jwk !== null && (jwk as { kty?: unknown }).kty === 'oct') continue;
          // A key gatehouse cannot use (another kty, use:enc, too small) is skipped, not fatal (JWT-33).
          const [parsed] = parseKeyText(undefined, JSON.stringify(jwk));
          if (parsed === undefined) continue;
          // A key published without a kid is filed under its RFC 7638 thumbprint, as jwt-middleware does:
          // a token names it by that. It is computed from the key as imported, so every curve is right.
          const key = parsed.kid === undefined ? { ...parsed, kid: await calculateJwkThumbprint(parsed.key.export({ format: 'jwk' }), 'sha256') } : parsed;
          list.push(key);
          if (key.kid !== undefined && !next.has(key.kid)) next.set(key.kid, key);
        } catch {
          continue;
        }
      }
      keys = next;
      all = list;
      fetchedAt = now();
      lastError = undefined;
      options.onFetch?.({ ok: true, keys: list.length, ms: now() - started });
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
      options.onFetch?.({ ok: false, keys: all.length, error: lastError, ms: now() - started });
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const refresh = (): Promise<void> => {
    // The background refresh starts with the first fetch, so a key set that is only compiled (to check a
    // configuration) holds no timer.
    if (timer === undefined) {
      timer = setInterval(() => void refresh(), options.refreshIntervalMs ?? 600_000);
      timer.unref();
    }
    inFlight ??= load().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  /** Waits for `fetching`, or `waitMs` if that is sooner; true when it settled. */
  const settled = async (fetching: Promise<void>): Promise<boolean> => {
    if (options.waitMs === undefined) {
      await fetching;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), options.waitMs);
    });
    const done = await Promise.race([fetching.then(() => true), late]);
    clearTimeout(timer);
    return done;
  };

  return {
    async get(kid) {
      const known = keys.get(kid);
      if (known !== undefined) return known;
      const fetching = now() - attemptedAt < cooldown ? inFlight : refresh();
      if (fetching !== undefined && !(await settled(fetching))) return 'pending';
      return keys.get(kid);
    },
    current: () => all,
    refresh,
    status: () => ({ ok: fetchedAt !== undefined, keys: all.length, ageMs: fetchedAt === undefined ? undefined : now() - fetchedAt, error: lastError }),
    close: () => {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
