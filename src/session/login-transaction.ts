/**
 * The login transaction: state, nonce, PKCE verifier and the validated return URL of one login, sealed in
 * its own short-lived cookie named after the state. Several tabs can log in at once (oauth2-proxy #817),
 * and a callback only completes in the browser that started it.
 *
 * With secure cookies the name carries the `__Host-` prefix, so the browser keeps it only host-only, on
 * `Path=/` and `Secure`: a sibling subdomain cannot plant its own login's cookie, and with it the
 * attacker's callback URL cannot sign the victim in as the attacker (login CSRF, SESS-08).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createKeyring, type Keyring } from '../crypto/keyring.js';
import { serializeCookie, type CookieAttributes, type CookieJar } from './cookies.js';

/** One login in flight. Times are Unix seconds. */
export interface LoginTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** Where to go after login; already validated against the redirect allow-list. */
  readonly returnTo: string;
  /** The exact `redirect_uri` sent to the provider; the code exchange must repeat it. */
  readonly redirectUri: string;
  readonly expiresAt: number;
}

/** Most login transactions one browser may hold; the oldest are dropped beyond it (SESS-06). */
export const MAX_TRANSACTIONS = 4;

/** Most stale transaction cookies cleared by one answer. */
const MAX_CLEARED_PER_ANSWER = 8;

/** Seals, finds and clears login-transaction cookies. */
export interface LoginTransactions {
  /** Cookie name of the transaction with this state. */
  cookieName(state: string): string;
  /** `Set-Cookie` values: the new transaction, plus clearing of the oldest beyond the cap. */
  begin(transaction: LoginTransaction, jar: CookieJar, attributes: CookieAttributes, nowSeconds: number): string[];
  /** Finds the transaction for `state` in this browser's cookies; `undefined` when absent, forged or expired. */
  find(state: string, jar: CookieJar, nowSeconds: number): LoginTransaction | undefined;
  /** `Set-Cookie` value that ends the transaction for `state`. */
  end(state: string, attributes: CookieAttributes): string;
}

function stateId(state: string): string {
  return createHash('sha256').update(state).digest('base64url').slice(0, 12);
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Creates the login-transaction cookie codec for a session cookie name. `hostOnly` (secure cookies, not
 * development mode): `__Host-` names, and every cookie host-only on `Path=/` and `Secure`, whatever
 * attributes the caller passes.
 */
export function createLoginTransactions(options: { cookieName: string; secrets: readonly string[]; hostOnly?: boolean }): LoginTransactions {
  const keyring: Keyring = createKeyring(options.secrets, 'login-transaction');
  const hostOnly = options.hostOnly === true;
  const prefix = `${hostOnly ? '__Host-' : ''}${options.cookieName}_tx_`;
  const cookieName = (state: string) => prefix + stateId(state);
  const attributesFor = (attributes: CookieAttributes): CookieAttributes => (hostOnly ? { ...attributes, domain: undefined, path: '/', secure: true } : attributes);

  const open = (name: string, value: string): LoginTransaction | undefined => {
    const bytes = keyring.open(value, name);
    if (bytes === undefined) return undefined;
    try {
      const parsed = JSON.parse(bytes.toString('utf8')) as Partial<LoginTransaction>;
      const { state, nonce, codeVerifier, returnTo, redirectUri, expiresAt } = parsed;
      if (typeof state !== 'string' || typeof nonce !== 'string' || typeof codeVerifier !== 'string' || typeof returnTo !== 'string' || typeof redirectUri !== 'string' || typeof expiresAt !== 'number') return undefined;
      return { state, nonce, codeVerifier, returnTo, redirectUri, expiresAt };
    } catch {
      return undefined;
    }
  };

  return {
    cookieName,
    begin(transaction, jar, given, nowSeconds) {
      const attributes = attributesFor(given);
      const name = cookieName(transaction.state);
      const sealed = keyring.seal(Buffer.from(JSON.stringify(transaction), 'utf8'), name);
      const out = [serializeCookie(name, sealed, attributes)];
      const held: { name: string; expiresAt: number }[] = [];
      for (const [existing, values] of jar) {
        if (!existing.startsWith(prefix) || existing === name) continue;
        const opened = values.length === 1 ? open(existing, values[0] ?? '') : undefined;
        held.push({ name: existing, expiresAt: opened === undefined || opened.expiresAt <= nowSeconds ? 0 : opened.expiresAt });
      }
      const keep = new Set(
        held
          .filter((entry) => entry.expiresAt > 0)
          .sort((a, b) => b.expiresAt - a.expiresAt)
          .slice(0, MAX_TRANSACTIONS - 1),
      );
      // At most a few clearing cookies per answer, so a planted flood cannot make the answer too large for
      // the proxy's header buffer; the rest go on later logins.
      let cleared = 0;
      for (const entry of held) {
        if (keep.has(entry) || cleared >= MAX_CLEARED_PER_ANSWER) continue;
        out.push(serializeCookie(entry.name, '', { ...attributes, maxAge: 0 }));
        cleared++;
      }
      return out;
    },
    find(state, jar, nowSeconds) {
      const name = cookieName(state);
      const values = jar.get(name);
      if (values?.length !== 1) return undefined;
      const transaction = open(name, values[0] ?? '');
      if (transaction === undefined || transaction.expiresAt <= nowSeconds) return undefined;
      return sameText(transaction.state, state) ? transaction : undefined;
    },
    end(state, attributes) {
      return serializeCookie(cookieName(state), '', { ...attributesFor(attributes), maxAge: 0 });
    },
  };
}
