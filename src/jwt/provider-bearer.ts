/**
 * Bearer JWTs from the configured provider (oauth2-proxy `skip_jwt_bearer_tokens`): checked by `jws.ts`
 * against the provider's JWKS, issuer exact, audience the client id or an extra audience, asymmetric
 * algorithms only, `exp` required. Verified tokens are cached like a profile's, so a repeat check costs no
 * signature verification.
 * @see RFC 8725 (JWT best current practices), RFC 6750 (bearer tokens)
 */
import { spellsAt } from '../ascii.js';
import { GatewayError } from '../errors.js';
import { claimsProblem, decodeJws, signatureValid, type ClaimRules } from './jws.js';
import type { BearerProfile } from './profile.js';
import type { VerificationKey } from './keys.js';
import { createRemoteKeySet, type RemoteKeySet } from './remote-jwks.js';
import { VerifiedTokens } from './verified-tokens.js';

/** Largest token accepted, checked before any parsing (DOS-01). */
export const MAX_TOKEN_LENGTH = 16 * 1024;
/** Asymmetric algorithms only: no `none`, no HMAC with a public key (RFC 8725 §3.1, §2.1). */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Verifies bearer tokens of one issuer. */
export interface BearerVerifier {
  /** Verified claims; throws `ERR_JWT_INVALID` with a safe description otherwise. */
  verify(token: string): Promise<Record<string, unknown>>;
  /** Fetches the provider's keys now (once discovery has named them), so no check waits for them. */
  warm(): void;
  close(): void;
}

/** Options of a provider bearer verifier. */
export interface ProviderBearerOptions {
  readonly issuer: string;
  /** oauth2-proxy `extra_jwt_issuers`: a token naming one of these issuers is verified by its profile only. */
  readonly extraIssuers?: ReadonlyMap<string, BearerProfile>;
  readonly audiences: readonly string[];
  readonly jwksUri: () => string | undefined;
  readonly timeoutMs: number;
  readonly clockToleranceSeconds: number;
}

/**
 * The length of a leading `Bearer` and the spaces after it (the scheme in any letter case, at least one
 * space), else 0: the same as `/^bearer +/i`, without building a match on every check.
 */
export function bearerPrefixLength(header: string): number {
  const scheme = 'bearer';
  if (header.charCodeAt(scheme.length) !== 0x20 || !spellsAt(header, scheme)) return 0;
  let end = scheme.length + 1;
  while (end < header.length && header.charCodeAt(end) === 0x20) end++;
  return end;
}

/** Extracts the token of an `Authorization: Bearer` header, or `undefined`. */
export function bearerTokenOf(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined;
  const prefix = bearerPrefixLength(header);
  return prefix === 0 ? undefined : header.slice(prefix).trim();
}

/**
 * Longest a check waits for the provider's keys to arrive (first fetch, or a new kid). Envoy gives a check
 * 200 ms by default and answers with an error after it; the fetch itself carries on for the next check.
 */
const KEY_WAIT_MS = 100;

/**
 * Creates the verifier. The provider's JWKS is kept warm like a bearer profile's: fetched when discovery
 * names it, refreshed in the background, fetched again for an unknown `kid` at most once per cooldown, and
 * the last good keys stay in use while the provider is down, so no check waits on the provider.
 */
export function createProviderBearerVerifier(options: ProviderBearerOptions): BearerVerifier {
  let keys: RemoteKeySet | undefined;
  let keysFor: string | undefined;
  const verified = new VerifiedTokens<{ claims: Record<string, unknown>; exp: number; key: VerificationKey }>();
  const rules: ClaimRules = { issuers: [options.issuer], audiences: options.audiences, required: ['exp', 'sub'], leewaySeconds: options.clockToleranceSeconds };
  const keySet = (): RemoteKeySet | undefined => {
    const uri = options.jwksUri();
    if (uri === undefined) return undefined;
    if (keys === undefined || keysFor !== uri) {
      keys?.close();
      keys = createRemoteKeySet({ issuer: options.issuer, jwksUri: uri, timeoutMs: options.timeoutMs, waitMs: KEY_WAIT_MS });
      keysFor = uri;
      void keys.refresh();
    }
    return keys;
  };
  return {
    warm: () => void keySet(),
    close: () => keys?.close(),
    async verify(token) {
      if (token.length > MAX_TOKEN_LENGTH) throw new GatewayError('ERR_JWT_INVALID', 'token too large');
      // A token verified before counts while its key is still in the provider's current key set.
      const cached = verified.get(token, Math.floor(Date.now() / 1000), (key) => keySet()?.current().includes(key) === true);
      if (cached !== undefined) return cached.claims;
      const jws = decodeJws(token);
      if (typeof jws === 'string') throw new GatewayError('ERR_JWT_INVALID', jws);
      // The unverified `iss` only picks which issuer's keys to try.
      const extra = typeof jws.payload.iss === 'string' ? options.extraIssuers?.get(jws.payload.iss) : undefined;
      if (extra !== undefined) {
        const result = await extra.check(token, { Method: '', Host: '', Path: '', Scheme: '', URL: '', ip: '' });
        if (result.kind === 'valid') return result.claims;
        throw new GatewayError('ERR_JWT_INVALID', result.kind === 'absent' ? 'no token' : result.description);
      }
      const set = keySet();
      if (set === undefined) throw new GatewayError('ERR_JWT_KEYS_UNAVAILABLE', 'the provider keys are not available yet');
      const { alg, header } = jws;
      const { kid, typ } = header;
      if (!ASYMMETRIC_ALGORITHMS.includes(alg)) throw new GatewayError('ERR_JWT_INVALID', 'algorithm not allowed');
      // The provider's back-channel logout tokens are signed with the same keys for the same audience:
      // never a bearer token (JWT-19b).
      if (typeof typ === 'string' && /^(application\/)?logout\+jwt$/i.test(typ)) throw new GatewayError('ERR_JWT_INVALID', 'a logout token is not a bearer token');
      let key;
      if (typeof kid === 'string' && kid !== '' && kid.length <= 256) key = await set.get(kid);
      if (key === 'pending') throw new GatewayError('ERR_JWT_KEYS_UNAVAILABLE', 'the provider keys are still being fetched');
      else if (kid === undefined && set.current().length === 1) key = set.current()[0];
      if (key === undefined) throw new GatewayError('ERR_JWT_INVALID', 'no provider key has this kid');
      if (!key.algorithms.includes(alg)) throw new GatewayError('ERR_JWT_INVALID', `the key cannot verify ${alg}`);
      if (!(await signatureValid(jws, key.key))) throw new GatewayError('ERR_JWT_INVALID', 'jws signature verification failed');
      const payload = jws.payload;
      const problem = claimsProblem(payload, rules, Math.floor(Date.now() / 1000));
      if (problem !== undefined) throw new GatewayError('ERR_JWT_INVALID', problem);
      if ('events' in payload) throw new GatewayError('ERR_JWT_INVALID', 'a logout token is not a bearer token');
      // `exp` is required and checked above, so a finite number.
      verified.set(token, { claims: payload, exp: payload.exp as number, key });
      return payload;
    },
  };
}
