/**
 * The cookie session store: the whole session sealed (AES-256-GCM) into the session cookie, split into
 * chunks when large. Opening a cookie is the expensive part of a check, so opened sessions are cached by
 * their exact sealed value; the cache can only return what that same value already opened to.
 */
import { createKeyring, type Keyring } from '../crypto/keyring.js';
import { clearChunkedCookie, readChunkedCookie, writeChunkedCookie, type CookieAttributes, type CookieJar } from './cookies.js';
import { GenerationalCache } from './cache.js';
import { decodeSession, encodeSession, type Session } from './session.js';
import type { LoadResult, SessionStore } from './store.js';

/** Options of the cookie store. */
export interface CookieStoreOptions {
  readonly name: string;
  readonly secrets: readonly string[];
  /**
   * What else a session is bound to, besides the cookie name: the issuer and client id, so a cookie from
   * another deployment that shares the secret does not open here (SESS-03).
   */
  readonly binding?: string;
  /** Entries in the opened-session cache (two generations of this size). Default 10 000. */
  readonly cacheSize?: number;
}

/** The binding of a deployment's sessions: its provider's issuer and its client id. */
export function sessionBinding(issuer: string, clientId: string): string {
  return `${issuer} ${clientId}`;
}

/** Creates the cookie store. */
export function createCookieStore(options: CookieStoreOptions): SessionStore {
  const keyring: Keyring = createKeyring(options.secrets, 'session');
  const cache = new GenerationalCache<{ session: Session; stale: boolean }>(options.cacheSize ?? 10_000);
  const { name } = options;
  const context = options.binding === undefined ? name : `${name} ${options.binding}`;

  const load = (jar: CookieJar, nowSeconds: number): LoadResult => {
    const read = readChunkedCookie(name, jar);
    if (read.kind === 'absent') return { kind: 'none' };
    if (read.kind === 'ambiguous') return { kind: 'invalid', reason: 'session-cookie-ambiguous' };
    let opened = cache.get(read.value);
    if (opened === undefined) {
      const bytes = keyring.open(read.value, context);
      if (bytes === undefined) return { kind: 'invalid', reason: 'session-cookie-invalid' };
      const session = decodeSession(bytes);
      if (session === undefined) return { kind: 'invalid', reason: 'session-cookie-malformed' };
      opened = { session, stale: keyring.isStale(read.value) };
      cache.set(read.value, opened);
    }
    if (opened.session.expiresAt <= nowSeconds) return { kind: 'invalid', reason: 'session-expired' };
    return { kind: 'session', session: opened.session, handle: read.value, stale: opened.stale };
  };

  return {
    kind: 'cookie',
    load: (jar, nowSeconds) => Promise.resolve(load(jar, nowSeconds)),
    loadSync: load,
    save(session: Session, jar: CookieJar, attributes: CookieAttributes) {
      const sealed = keyring.seal(encodeSession(session), context);
      cache.set(sealed, { session, stale: false });
      return Promise.resolve(writeChunkedCookie(name, sealed, attributes, jar));
    },
    clear(jar: CookieJar, attributes: CookieAttributes) {
      const read = readChunkedCookie(name, jar);
      if (read.kind === 'value') cache.delete(read.value);
      return Promise.resolve(clearChunkedCookie(name, attributes, jar));
    },
    ready: () => Promise.resolve({ ok: true, detail: 'cookie store' }),
    close: () => {
      cache.clear();
      return Promise.resolve();
    },
  };
}
