/** The contract every session store satisfies (the cookie store and the Redis store), and one test suite checks. */
import type { CookieAttributes, CookieJar } from './cookies.js';
import type { Session } from './session.js';

/** The outcome of loading a session from a request's cookies. */
export type LoadResult =
  | { kind: 'none' }
  /** A cookie was there but is not a usable session; `reason` is a stable code for the log. */
  | { kind: 'invalid'; reason: 'session-cookie-ambiguous' | 'session-cookie-invalid' | 'session-cookie-malformed' | 'session-expired' | 'session-not-found' }
  /** `handle` identifies this exact session (the sealed value, or the ticket); `stale` asks for a re-seal. */
  | { kind: 'session'; session: Session; handle: string; stale: boolean };

/** Where sessions live. */
export interface SessionStore {
  readonly kind: 'cookie' | 'redis';
  /** Loads the session; rejects with `ERR_SESSION_STORE_UNAVAILABLE` when the store cannot answer. */
  load(jar: CookieJar, nowSeconds: number): Promise<LoadResult>;
  /** Synchronous load, for stores that need no I/O (the check's fast path). */
  readonly loadSync?: (jar: CookieJar, nowSeconds: number) => LoadResult;
  /**
   * Stores a session under a new handle (a login; in a store without `replace`, also a refreshed or
   * re-sealed session); returns the `Set-Cookie` values that point the browser at it.
   */
  save(session: Session, jar: CookieJar, attributes: CookieAttributes): Promise<string[]>;
  /**
   * Shared stores only: stores a refreshed session in place of the session the request holds, under the
   * same handle (the browser's cookie does not change; returns the `Set-Cookie` values, none). Rejects with
   * `ERR_SESSION_ENDED` when that session is gone (signed out, revoked) or is not the one refreshed.
   */
  readonly replace?: (session: Session, jar: CookieJar, attributes: CookieAttributes) => Promise<string[]>;
  /**
   * Ends the session the request holds; returns the clearing `Set-Cookie` values. A shared store deletes
   * only what the request's cookies can open (every one of them, should the name be sent more than once):
   * a cookie that does not open ends nothing on the server, but is cleared all the same.
   */
  clear(jar: CookieJar, attributes: CookieAttributes): Promise<string[]>;
  ready(): Promise<{ ok: boolean; detail: string }>;
  /** Shared stores only: takes the refresh lease of a session (true when this replica holds it). */
  readonly lock?: (handle: string, ttlMs: number) => Promise<boolean>;
  readonly unlock?: (handle: string) => Promise<void>;
  /** Shared stores only: the current state of a session, as another replica may have refreshed it. */
  readonly reload?: (handle: string, nowSeconds: number) => Promise<LoadResult>;
  close(): Promise<void>;
}
