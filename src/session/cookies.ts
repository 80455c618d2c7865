/**
 * Cookies on the wire: a bounded parser for the `Cookie` header, `Set-Cookie` serialisation, the domain
 * choice, and splitting a large value into `<name>_0`, `<name>_1`, … chunks (oauth2-proxy's naming).
 * @see RFC 6265
 */

/** Most cookies read from one header; the rest are ignored (a flood costs bounded work). */
export const MAX_COOKIES = 100;
/** Most chunks a session may span (SESS-05: a forged high chunk count costs nothing). */
export const MAX_CHUNKS = 8;
/** Browsers keep cookies of up to 4096 bytes; stay below with the attributes included. */
export const COOKIE_BUDGET = 4000;

/** Cookie values by name; a name sent more than once keeps every value, in order. */
export type CookieJar = Map<string, string[]>;

/** Parses a `Cookie` header. Malformed pairs are skipped; never throws. */
export function parseCookies(header: string | undefined): CookieJar {
  const jar: CookieJar = new Map();
  if (header === undefined || header === '') return jar;
  let start = 0;
  let count = 0;
  while (start < header.length && count < MAX_COOKIES) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const name = header.slice(start, eq).trim();
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (name !== '') {
        const values = jar.get(name);
        if (values === undefined) jar.set(name, [value]);
        else values.push(value);
        count += 1;
      }
    }
    start = end + 1;
  }
  return jar;
}

/** Attributes of a cookie gatehouse sets. */
export interface CookieAttributes {
  readonly domain: string | undefined;
  readonly path: string;
  /** Seconds; 0 clears the cookie. */
  readonly maxAge: number;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: 'lax' | 'strict' | 'none' | '';
}

const SAME_SITE: Record<string, string> = { lax: 'Lax', strict: 'Strict', none: 'None' };

/** Serialises one `Set-Cookie` value. */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  let out = `${name}=${value}; Path=${attributes.path}`;
  if (attributes.domain !== undefined) out += `; Domain=${attributes.domain}`;
  out += `; Max-Age=${Math.max(0, Math.floor(attributes.maxAge))}`;
  if (attributes.maxAge <= 0) out += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  if (attributes.httpOnly) out += '; HttpOnly';
  if (attributes.secure) out += '; Secure';
  const sameSite = SAME_SITE[attributes.sameSite];
  if (sameSite !== undefined) out += `; SameSite=${sameSite}`;
  return out;
}

/**
 * Chooses the cookie domain for a request host: the longest configured domain the host is within, with
 * a dot boundary. `undefined` (a host-only cookie) when none matches or none is configured.
 */
export function chooseCookieDomain(host: string, domains: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const domain of domains) {
    const bare = domain.startsWith('.') ? domain.slice(1) : domain;
    const within = host === bare || host.endsWith(`.${bare}`);
    if (within && (best === undefined || bare.length > best.replace(/^\./, '').length)) best = domain;
  }
  return best;
}

/**
 * The `Set-Cookie` values that store `value` under `name`, split into chunks when one cookie would pass
 * the browser limit, plus the clearing of whatever stale chunk or whole cookie the request still holds.
 */
export function writeChunkedCookie(name: string, value: string, attributes: CookieAttributes, jar: CookieJar): string[] {
  const single = serializeCookie(name, value, attributes);
  const clear = { ...attributes, maxAge: 0 };
  const out: string[] = [];
  if (single.length <= COOKIE_BUDGET) {
    out.push(single);
    for (let index = 0; index < MAX_CHUNKS; index += 1) {
      if (jar.has(`${name}_${index}`)) out.push(serializeCookie(`${name}_${index}`, '', clear));
    }
    return out;
  }
  const overhead = serializeCookie(`${name}_${MAX_CHUNKS}`, '', attributes).length;
  const size = COOKIE_BUDGET - overhead;
  const count = Math.ceil(value.length / size);
  if (count > MAX_CHUNKS) throw new RangeError(`a cookie value of ${value.length} characters needs more than ${MAX_CHUNKS} chunks`);
  for (let index = 0; index < count; index += 1) {
    out.push(serializeCookie(`${name}_${index}`, value.slice(index * size, (index + 1) * size), attributes));
  }
  if (jar.has(name)) out.push(serializeCookie(name, '', clear));
  for (let index = count; index < MAX_CHUNKS; index += 1) {
    if (jar.has(`${name}_${index}`)) out.push(serializeCookie(`${name}_${index}`, '', clear));
  }
  return out;
}

/** The reading of a possibly chunked cookie. */
export type ChunkedRead = { kind: 'absent' } | { kind: 'ambiguous' } | { kind: 'value'; value: string };

/**
 * Reads a cookie written by {@link writeChunkedCookie}: the whole cookie, else `_0`, `_1`, … up to the
 * first gap. A name sent twice, or a whole cookie beside chunks, is ambiguous: gatehouse never leaves both
 * (each write clears the other form), so the second is cookie tossing from a sibling domain (SESS-08).
 */
export function readChunkedCookie(name: string, jar: CookieJar): ChunkedRead {
  const whole = jar.get(name);
  if (whole !== undefined) {
    if (whole.length > 1) return { kind: 'ambiguous' };
    const [value = ''] = whole;
    if (value !== '') return jar.has(`${name}_0`) ? { kind: 'ambiguous' } : { kind: 'value', value };
  }
  let joined = '';
  for (let index = 0; index < MAX_CHUNKS; index += 1) {
    const chunk = jar.get(`${name}_${index}`);
    if (chunk === undefined) break;
    if (chunk.length > 1) return { kind: 'ambiguous' };
    joined += chunk[0] ?? '';
  }
  return joined === '' ? { kind: 'absent' } : { kind: 'value', value: joined };
}

/** `Set-Cookie` values that clear a possibly chunked cookie, for every part the request holds. */
export function clearChunkedCookie(name: string, attributes: CookieAttributes, jar: CookieJar): string[] {
  const clear = { ...attributes, maxAge: 0 };
  const out = [serializeCookie(name, '', clear)];
  for (let index = 0; index < MAX_CHUNKS; index += 1) {
    if (jar.has(`${name}_${index}`)) out.push(serializeCookie(`${name}_${index}`, '', clear));
  }
  return out;
}
