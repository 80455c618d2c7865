/**
 * The session model: what a check needs to know about a signed-in browser, and nothing more. Tokens are
 * kept only when a configured feature uses them (the ID token for the Authorization header or the
 * end-session hint, the access token for its header, the refresh token for refresh).
 */
import type { Identity } from '../identity/index.js';

/** A signed-in browser's session. Times are Unix seconds. */
export interface Session {
  readonly identity: Identity;
  /** When the user logged in. The session never outlives `expiresAt`, refreshes or not. */
  readonly createdAt: number;
  /** When the session was last refreshed with the provider (the login counts). */
  readonly refreshedAt: number;
  /** Absolute end: login + `cookie.expire`. */
  readonly expiresAt: number;
  readonly idToken?: string;
  /** `exp` of the ID token. */
  readonly idTokenExpiresAt?: number;
  readonly accessToken?: string;
  readonly refreshToken?: string;
  /**
   * The provider's session id (the ID token's `sid`), kept for back-channel logout, which may name one
   * session of a person rather than all of them.
   */
  readonly providerSid?: string;
}

interface Wire {
  v: 1;
  s: string;
  e: string;
  ev: 0 | 1;
  g: readonly string[];
  u: string;
  i: string;
  c: number;
  r: number;
  x: number;
  it?: string;
  ie?: number;
  at?: string;
  rt?: string;
  ps?: string;
  /**
   * The name of the cookie that carries the session's ticket, in a server-side session (the Redis store);
   * the cookie store binds it as associated data instead.
   */
  n?: string;
}

/**
 * Encodes a session compactly for sealing; with `cookieName`, bound to the name of the cookie that carries
 * it (see {@link decodeBoundSession}).
 */
export function encodeSession(session: Session, cookieName?: string): Buffer {
  const { identity } = session;
  const wire: Wire = {
    v: 1,
    s: identity.sub,
    e: identity.email,
    ev: identity.emailVerified ? 1 : 0,
    g: identity.groups,
    u: identity.username,
    i: identity.issuer,
    c: session.createdAt,
    r: session.refreshedAt,
    x: session.expiresAt,
  };
  if (session.idToken !== undefined) wire.it = session.idToken;
  if (session.idTokenExpiresAt !== undefined) wire.ie = session.idTokenExpiresAt;
  if (session.accessToken !== undefined) wire.at = session.accessToken;
  if (session.refreshToken !== undefined) wire.rt = session.refreshToken;
  if (session.providerSid !== undefined) wire.ps = session.providerSid;
  if (cookieName !== undefined) wire.n = cookieName;
  return Buffer.from(JSON.stringify(wire), 'utf8');
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** Decodes a session; `undefined` for anything that is not exactly a v1 session. */
export function decodeSession(bytes: Buffer): Session | undefined {
  return decodeBoundSession(bytes)?.session;
}

/**
 * Decodes a session and the cookie name it is bound to: `undefined` for a session encoded without one.
 * The whole is `undefined` for anything that is not exactly a v1 session.
 */
export function decodeBoundSession(bytes: Buffer): { session: Session; cookieName: string | undefined } | undefined {
  let wire: unknown;
  try {
    wire = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof wire !== 'object' || wire === null) return undefined;
  const w = wire as Partial<Record<keyof Wire, unknown>>;
  if (w.v !== 1 || !isString(w.s) || !isString(w.e) || !isString(w.u) || !isString(w.i) || !isTime(w.c) || !isTime(w.r) || !isTime(w.x)) return undefined;
  if (!Array.isArray(w.g) || !w.g.every(isString)) return undefined;
  const cookieName = w.n === undefined ? undefined : isString(w.n) ? w.n : null;
  if (cookieName === null) return undefined;
  const session: {
    -readonly [K in keyof Session]: Session[K];
  } = {
    identity: { sub: w.s, email: w.e, emailVerified: w.ev === 1, groups: w.g, username: w.u, issuer: w.i, authMethod: 'session' },
    createdAt: w.c,
    refreshedAt: w.r,
    expiresAt: w.x,
  };
  if (isString(w.it)) session.idToken = w.it;
  if (isTime(w.ie)) session.idTokenExpiresAt = w.ie;
  if (isString(w.at)) session.accessToken = w.at;
  if (isString(w.rt)) session.refreshToken = w.rt;
  if (isString(w.ps)) session.providerSid = w.ps;
  return { session, cookieName };
}
