/**
 * OpenID Connect Back-Channel Logout 1.0, the relying party's side: when someone signs out at the provider,
 * the provider POSTs a logout token to `/oauth2/backchannel-logout`, and gatehouse ends the sessions it
 * names on every replica (Redis store): those of the provider session its `sid` names, else every session
 * of its `sub`. The token is checked as §2.6 says, with `jose` against the
 * provider's key set: signature (asymmetric algorithms only), `iss`, `aud`, `iat` (recent), `exp` (required
 * since errata set 1), `jti` (once), the logout event, and no `nonce`, so neither an ID token nor a
 * replayed logout token ends anything. Every failure is a 400 (§2.8), an invalid token and a logout that
 * could not be carried out alike; only a 200 says the sessions are over.
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ASYMMETRIC_ALGORITHMS } from '../jwt/index.js';
import { json, text } from './answers.js';
import type { Verdict } from './types.js';

/** The member of `events` that makes a JWT a logout token. */
export const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** The largest form body read (a logout token is well under a kilobyte or two). */
export const MAX_LOGOUT_BODY = 16 * 1024;
/** How old a logout token may be (its `iat`). */
const MAX_AGE_SECONDS = 600;
const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * How long a token's `jti` must be remembered: until no replica can accept the token any more. A replica
 * accepts it until `min(iat + MAX_AGE, exp)` plus the tolerance by its own clock, and the replicas' clocks
 * may differ by up to the tolerance again.
 */
export function replayWindowSeconds(iat: number, exp: number, nowSeconds: number): number {
  return Math.max(1, Math.ceil(Math.min(iat + MAX_AGE_SECONDS, exp) + 2 * CLOCK_TOLERANCE_SECONDS - nowSeconds) + 1);
}

/** What back-channel logout needs from the rest of gatehouse. */
export interface BackchannelDeps {
  readonly issuer: string;
  readonly clientId: string;
  /** The provider's discovered `jwks_uri`, once discovery is done. */
  readonly jwksUri: () => string | undefined;
  /** Resolves when discovery is done (rejects after `timeoutMs`). */
  readonly ready: (timeoutMs: number) => Promise<unknown>;
  /**
   * Ends the sessions a logout token names; resolves with how many. With `sid`: the sessions of that
   * provider session, and those of `sub` (when given) that recorded no provider session, since they
   * cannot be told apart. Without: every session of `sub`.
   */
  readonly endSessions: (by: { sub?: string; sid?: string }) => Promise<number>;
  /** True the first time a key is seen within `ttlSeconds` (shared by the replicas). */
  readonly firstSeen: (key: string, ttlSeconds: number) => Promise<boolean>;
  /** Forgets a key `firstSeen` recorded, so the provider may retry a logout that failed half-way. */
  readonly forget: (key: string) => Promise<void>;
  readonly timeoutMs: number;
  readonly now: () => number;
  /** Logs what happened (never the token). */
  readonly log: (fields: Record<string, unknown>, message: string) => void;
}

function refused(description: string): Verdict {
  // RFC 6749 §5.2 style, as §2.8 asks: a 400 with an error code and a safe description.
  return json(400, { error: 'invalid_request', error_description: description }, 'deny', 'backchannel-logout-invalid');
}

/** A valid token whose logout could not be carried out now (§2.8: also a 400); the provider may retry. */
function failed(description: string): Verdict {
  return json(400, { error: 'temporarily_unavailable', error_description: description }, 'error', 'backchannel-logout-failed');
}

/** True for `application/x-www-form-urlencoded`, with parameters or not, in any case; nothing longer. */
function isFormContentType(contentType: string | undefined): boolean {
  const semicolon = (contentType ?? '').indexOf(';');
  const mediaType = semicolon === -1 ? (contentType ?? '') : (contentType ?? '').slice(0, semicolon);
  return mediaType.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

/** Reads the `logout_token` of a form body; undefined when there is not exactly one. */
function logoutTokenOf(form: string): string | undefined {
  const values = new URLSearchParams(form).getAll('logout_token');
  return values.length === 1 && values[0] !== '' ? values[0] : undefined;
}

/** Why the verified claims are not a logout token, or undefined when they are. */
function claimsProblem(payload: Record<string, unknown>): string | undefined {
  const { events } = payload;
  if (typeof events !== 'object' || events === null || Array.isArray(events)) return 'events is missing';
  const event = (events as Record<string, unknown>)[LOGOUT_EVENT];
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return 'events does not hold the back-channel logout event';
  if ('nonce' in payload) return 'a logout token carries no nonce';
  if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256) return 'jti is missing';
  // §2.4: sub, sid, or both.
  if (payload.sub !== undefined && (typeof payload.sub !== 'string' || payload.sub === '')) return 'sub is not a string';
  if (payload.sid !== undefined && !isProviderSid(payload.sid)) return 'sid is not a string';
  if (payload.sub === undefined && payload.sid === undefined) return 'neither sub nor sid is present';
  return undefined;
}

/**
 * True for a provider session id: a non-empty string (the specification bounds neither its length nor its
 * characters; gatehouse keeps it encrypted and names its index by a hash).
 */
export function isProviderSid(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/** Creates the endpoint's handler: the request's method, content type and form body in, a verdict out. */
export function createBackchannelLogout(deps: BackchannelDeps): (method: string, contentType: string | undefined, form: string | undefined) => Promise<Verdict> {
  let keys: { uri: string; get: JWTVerifyGetKey } | undefined;
  const keySet = (uri: string): JWTVerifyGetKey => {
    if (keys?.uri !== uri) keys = { uri, get: createRemoteJWKSet(new URL(uri), { timeoutDuration: deps.timeoutMs, cooldownDuration: 30_000 }) };
    return keys.get;
  };

  return async (method, contentType, form) => {
    if (method !== 'POST') return text(405, 'Method Not Allowed', 'deny', 'method-not-allowed', { allow: 'POST' });
    if (!isFormContentType(contentType)) return refused('the body must be application/x-www-form-urlencoded');
    if (form === undefined) return refused(`the body is larger than ${MAX_LOGOUT_BODY} bytes`);
    const token = logoutTokenOf(form);
    if (token === undefined) return refused('logout_token is missing');
    try {
      await deps.ready(2000);
    } catch {
      return failed('the provider key set cannot be read now');
    }
    const uri = deps.jwksUri();
    if (uri === undefined) return failed('the provider key set cannot be read now');
    let payload: Record<string, unknown>;
    try {
      const verified = await jwtVerify(token, keySet(uri), {
        issuer: deps.issuer,
        audience: deps.clientId,
        algorithms: ASYMMETRIC_ALGORITHMS,
        requiredClaims: ['iat', 'exp', 'jti', 'events'],
        maxTokenAge: MAX_AGE_SECONDS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(deps.now()),
      });
      const { typ } = verified.protectedHeader;
      // An explicit type other than a logout token's (an ID token's JWT is tolerated: older providers).
      if (typ !== undefined && !['logout+jwt', 'application/logout+jwt', 'jwt'].includes(typ.toLowerCase())) return refused('typ is not logout+jwt');
      payload = verified.payload;
    } catch (error) {
      const description = error instanceof errors.JWTClaimValidationFailed ? `claim ${error.claim} is not valid` : error instanceof errors.JOSEError ? error.code.replace(/^ERR_/, '').toLowerCase().replaceAll('_', ' ') : 'the logout token is not valid';
      deps.log({ reason: 'backchannel-logout-invalid', detail: description }, 'logout token refused');
      return refused(description);
    }
    const problem = claimsProblem(payload);
    if (problem !== undefined) {
      deps.log({ reason: 'backchannel-logout-invalid', detail: problem }, 'logout token refused');
      return refused(problem);
    }
    const by = { ...(payload.sub === undefined ? {} : { sub: payload.sub as string }), ...(payload.sid === undefined ? {} : { sid: payload.sid as string }) };
    // Who, for the log: the subject, and whether one provider session was named (its id stays out).
    const who = { ...(by.sub === undefined ? {} : { sub: by.sub }), by: by.sid === undefined ? 'sub' : 'sid' };
    // Each logout token counts once, on whichever replica it reaches (§2.6 step 10), for as long as any
    // replica would accept it. jose has checked that iat and exp are numbers.
    const replayKey = createHash('sha256').update(`${deps.issuer}\n${String(payload.jti)}`).digest('base64url');
    const window = replayWindowSeconds(payload.iat as number, payload.exp as number, Math.floor(deps.now() / 1000));
    let first: boolean;
    try {
      first = await deps.firstSeen(replayKey, window);
    } catch (error) {
      deps.log({ reason: 'backchannel-logout-failed', detail: error instanceof Error ? error.message : String(error) }, 'back-channel logout failed');
      return failed('the session store cannot be reached');
    }
    if (!first) {
      deps.log({ reason: 'backchannel-logout-replayed' }, 'logout token refused');
      return refused('this logout token was already used');
    }
    let ended: number;
    try {
      ended = await deps.endSessions(by);
    } catch (error) {
      // Nothing may say the sessions are over when they are not: the token is forgotten (as far as the store
      // allows) so that the provider's retry counts, and the answer says the logout failed.
      await deps.forget(replayKey).catch(() => undefined);
      deps.log({ reason: 'backchannel-logout-failed', ...who, detail: error instanceof Error ? error.message : String(error) }, 'back-channel logout failed');
      return failed('the sessions could not be ended now; retry');
    }
    deps.log({ ...who, sessions: ended }, 'back-channel logout');
    return text(200, 'OK', 'allow', 'backchannel-logout');
  };
}
