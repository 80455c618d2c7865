/**
 * The login transaction: state, nonce, PKCE verifier and the validated return URL of one login, sealed in
 * its own short-lived cookie named after the state. Several tabs can log in at once (oauth2-proxy #817),
 * and a callback only completes in the browser that started it.
 *
 * With secure cookies the name carries the `__Host-` prefix, so the browser keeps it only host-only, on
 * `Path=/` and `Secure`: a sibling subdomain cannot plant its own login's cookie, and with it the
 * attacker's callback URL cannot sign the victim in as the attacker (login CSRF, SESS-08).
 *
 * The cookie must fit a browser's 4096-byte limit with its name and attributes, or the browser drops it
 * and the callback can never complete: a return target too long for that is replaced by its origin root
 * (`/` for a relative one) before sealing. Each transaction also seals a sequence number, one above the
 * highest the browser already holds, so the cap drops exactly the oldest even when several logins start
 * within the same second.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createKeyring, type Keyring } from '../crypto/keyring.js';
import { COOKIE_BUDGET, serializeCookie, type CookieAttributes, type CookieJar } from './cookies.js';

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

/** A return target replaced before sealing because the transaction cookie would not fit with it. */
export interface ReturnToReplaced {
  /** Length of the validated target that was dropped (the target itself is not repeated). */
  readonly length: number;
  /** What the login returns to instead: the target's origin root, or `/`. */
  readonly replacement: string;
}

/** Seals, finds and clears login-transaction cookies. */
export interface LoginTransactions {
  /** Cookie name of the transaction with this state. */
  cookieName(state: string): string;
  /**
   * `Set-Cookie` values: the new transaction, plus clearing of the oldest beyond the cap. A `returnTo` too
   * long for the cookie to fit the browser limit is replaced by its origin root, else `/`.
   */
  begin(transaction: LoginTransaction, jar: CookieJar, attributes: CookieAttributes, nowSeconds: number): string[];
  /** Finds the transaction for `state` in this browser's cookies; `undefined` when absent, forged or expired. */
  find(state: string, jar: CookieJar, nowSeconds: number): LoginTransaction | undefined;
  /** `Set-Cookie` value that ends the transaction for `state`. */
  end(state: string, attributes: CookieAttributes): string;
}

function stateId(state: string): string {
  return createHash('sha256').update(state).digest('base64url').slice(0, 12);
}

/** The origin root of a validated return target: `/` for a relative one, `scheme://host[:port]/` else. */
function originRoot(returnTo: string): string {
  if (returnTo.startsWith('/')) return '/';
  try {
    const { origin } = new URL(returnTo);
    return origin === 'null' ? '/' : `${origin}/`;
  } catch {
    return '/';
  }
}

/** A transaction as sealed: the fields of {@link LoginTransaction} plus its order among the browser's. */
interface Sealed {
  readonly transaction: LoginTransaction;
  /** One above the highest sequence the browser held when this login started; 0 for none sealed. */
  readonly sequence: number;
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
export function createLoginTransactions(options: {
  cookieName: string;
  secrets: readonly string[];
  hostOnly?: boolean;
  /** Told when a return target is replaced because the cookie would not fit with it (for the log). */
  onReturnToReplaced?: (event: ReturnToReplaced) => void;
}): LoginTransactions {
  const keyring: Keyring = createKeyring(options.secrets, 'login-transaction');
  const hostOnly = options.hostOnly === true;
  const prefix = `${hostOnly ? '__Host-' : ''}${options.cookieName}_tx_`;
  const cookieName = (state: string) => prefix + stateId(state);
  const attributesFor = (attributes: CookieAttributes): CookieAttributes => (hostOnly ? { ...attributes, domain: undefined, path: '/', secure: true } : attributes);

  const open = (name: string, value: string): Sealed | undefined => {
    const bytes = keyring.open(value, name);
    if (bytes === undefined) return undefined;
    try {
      const parsed = JSON.parse(bytes.toString('utf8')) as Partial<LoginTransaction> & { sequence?: unknown };
      const { state, nonce, codeVerifier, returnTo, redirectUri, expiresAt, sequence } = parsed;
      if (typeof state !== 'string' || typeof nonce !== 'string' || typeof codeVerifier !== 'string' || typeof returnTo !== 'string' || typeof redirectUri !== 'string' || typeof expiresAt !== 'number') return undefined;
      if (sequence !== undefined && !(Number.isSafeInteger(sequence) && (sequence as number) >= 0)) return undefined;
      return { transaction: { state, nonce, codeVerifier, returnTo, redirectUri, expiresAt }, sequence: (sequence as number | undefined) ?? 0 };
    } catch {
      return undefined;
    }
  };

  /** The `Set-Cookie` value carrying `transaction`, sealed with only the known fields and `sequence`. */
  const write = (name: string, transaction: LoginTransaction, sequence: number, attributes: CookieAttributes): string => {
    const { state, nonce, codeVerifier, returnTo, redirectUri, expiresAt } = transaction;
    const plaintext = JSON.stringify({ state, nonce, codeVerifier, returnTo, redirectUri, expiresAt, sequence });
    return serializeCookie(name, keyring.seal(Buffer.from(plaintext, 'utf8'), name), attributes);
  };

  return {
    cookieName,
    begin(transaction, jar, given, nowSeconds) {
      const attributes = attributesFor(given);
      const name = cookieName(transaction.state);
      const held: { name: string; expiresAt: number; sequence: number }[] = [];
      for (const [existing, values] of jar) {
        if (!existing.startsWith(prefix) || existing === name) continue;
        const opened = values.length === 1 ? open(existing, values[0] ?? '') : undefined;
        const current = opened !== undefined && opened.transaction.expiresAt > nowSeconds;
        held.push({ name: existing, expiresAt: current ? opened.transaction.expiresAt : 0, sequence: current ? opened.sequence : 0 });
      }
      const live = held.filter((entry) => entry.expiresAt > 0);
      const sequence = live.reduce((highest, entry) => Math.max(highest, entry.sequence + 1), 0);
      // The sealed value grows with the return target (and by a third again in base64), so only the whole
      // serialized cookie tells whether it fits; the fallbacks are tried in turn, `/` last.
      const candidates = [...new Set([transaction.returnTo, originRoot(transaction.returnTo), '/'])];
      let returnTo = transaction.returnTo;
      let setCookie = write(name, transaction, sequence, attributes);
      for (const replacement of candidates.slice(1)) {
        if (setCookie.length <= COOKIE_BUDGET) break;
        returnTo = replacement;
        setCookie = write(name, { ...transaction, returnTo }, sequence, attributes);
      }
      if (returnTo !== transaction.returnTo) options.onReturnToReplaced?.({ length: transaction.returnTo.length, replacement: returnTo });
      const out = [setCookie];
      // Newest first: by sequence, then (for ties from logins started at once, or cookies sealed without
      // a sequence) by expiry.
      const keep = new Set(live.sort((a, b) => b.sequence - a.sequence || b.expiresAt - a.expiresAt).slice(0, MAX_TRANSACTIONS - 1));
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
      const transaction = open(name, values[0] ?? '')?.transaction;
      if (transaction === undefined || transaction.expiresAt <= nowSeconds) return undefined;
      return sameText(transaction.state, state) ? transaction : undefined;
    },
    end(state, attributes) {
      return serializeCookie(cookieName(state), '', { ...attributesFor(attributes), maxAge: 0 });
    },
  };
}
