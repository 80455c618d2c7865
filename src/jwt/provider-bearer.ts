/**
 * Bearer JWTs from the configured provider (oauth2-proxy `skip_jwt_bearer_tokens`): verified with `jose`
 * against the provider's JWKS, issuer exact, audience the client id or an extra audience, asymmetric
 * algorithms only, `exp` required.
 * @see RFC 8725 (JWT best current practices), RFC 6750 (bearer tokens)
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { GatewayError } from '../errors.js';
import type { BearerProfile } from './profile.js';

/** Largest token accepted, checked before any parsing (DOS-01). */
export const MAX_TOKEN_LENGTH = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Asymmetric algorithms only: no `none`, no HMAC with a public key (RFC 8725 §3.1, §2.1). */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Verifies bearer tokens of one issuer. */
export interface BearerVerifier {
  /** Verified claims; throws `ERR_JWT_INVALID` with a safe description otherwise. */
  verify(token: string): Promise<Record<string, unknown>>;
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

/** The `iss` a token claims, before verification: used only to pick which issuer's keys to try. */
function unverifiedIssuer(token: string): string | undefined {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    const iss = (payload as { iss?: unknown } | null)?.iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** Extracts the token of an `Authorization: Bearer` header, or `undefined`. */
export function bearerTokenOf(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined;
  if (header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  return header.slice(7).trim();
}

/** Creates the verifier; the JWKS is fetched on first use and cached by `jose`. */
export function createProviderBearerVerifier(options: ProviderBearerOptions): BearerVerifier {
  let jwks: JWTVerifyGetKey | undefined;
  let jwksFor: string | undefined;
  return {
    async verify(token) {
      if (token.length > MAX_TOKEN_LENGTH) throw new GatewayError('ERR_JWT_INVALID', 'token too large');
      if (!COMPACT_JWS.test(token)) throw new GatewayError('ERR_JWT_INVALID', 'not a compact JWS');
      const extra = options.extraIssuers?.get(unverifiedIssuer(token) ?? '');
      if (extra !== undefined) {
        const result = await extra.check(token, { Method: '', Host: '', Path: '', Scheme: '', URL: '', ip: '' });
        if (result.kind === 'valid') return result.claims;
        throw new GatewayError('ERR_JWT_INVALID', result.kind === 'absent' ? 'no token' : result.description);
      }
      const uri = options.jwksUri();
      if (uri === undefined) throw new GatewayError('ERR_JWT_KEYS_UNAVAILABLE', 'the provider keys are not available yet');
      if (jwks === undefined || jwksFor !== uri) {
        jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration: options.timeoutMs, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
        jwksFor = uri;
      }
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: options.issuer,
          audience: [...options.audiences],
          algorithms: ASYMMETRIC_ALGORITHMS,
          requiredClaims: ['exp', 'sub'],
          clockTolerance: options.clockToleranceSeconds,
        });
        return payload;
      } catch (error) {
        const description = error instanceof errors.JWTExpired ? 'token expired' : error instanceof errors.JOSEError ? error.code : 'invalid token';
        throw new GatewayError('ERR_JWT_INVALID', description, { cause: error });
      }
    },
  };
}
