/**
 * A small HTTP client for integration tests: raw requests over node:http (so `Host` and every other header
 * can be set exactly), raw bytes over a socket for malformed requests, and a manual-redirect browser with
 * an RFC 6265-style cookie jar (domain, path, Secure, Max-Age) that talks to loopback servers only.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

/** One HTTP answer, read whole. */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** `Set-Cookie` values, in order. */
  readonly setCookies: readonly string[];
  readonly body: string;
}

/** A request to a loopback port. Header values given as a list are sent as repeated lines. */
export interface RawRequest {
  readonly port: number;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: string;
  /** Milliseconds before the request is abandoned with an error; default 10 000. */
  readonly timeoutMs?: number;
}

/** Sends one request to 127.0.0.1 and reads the whole answer. No redirect is followed. */
export function send(options: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name] = typeof value === 'string' ? value : [...value];
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    const outgoing = httpRequest(
      { host: '127.0.0.1', port: options.port, method: options.method ?? 'GET', path: options.path, headers, agent: false, maxHeaderSize: 256 * 1024, setHost: !Object.keys(headers).some((name) => name.toLowerCase() === 'host') },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const raw = response.headers['set-cookie'];
          resolve({ status: response.statusCode ?? 0, headers: response.headers, setCookies: raw ?? [], body: Buffer.concat(chunks).toString('utf8') });
        });
        response.on('error', reject);
      },
    );
    outgoing.setTimeout(options.timeoutMs ?? 10_000, () => outgoing.destroy(new Error(`no answer to ${options.method ?? 'GET'} ${options.path} within ${options.timeoutMs ?? 10_000} ms`)));
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/**
 * Writes raw bytes to 127.0.0.1:`port` and resolves with everything the server answered before it closed
 * the connection (or `timeoutMs` passed). For requests node:http refuses to build; send
 * `Connection: close` in well-formed ones so the answer arrives without waiting for the timeout.
 */
export function sendRaw(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A server that answers and resets is still an answer.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') return;
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('connect', () => {
      socket.write(bytes);
    });
  });
}

/** The status code of the first answer in raw response bytes, or 0 when there is none. */
export function statusOf(raw: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return match === null ? 0 : Number(match[1]);
}

/** A cookie the browser holds. */
export interface StoredCookie {
  readonly name: string;
  readonly value: string;
  /** Lower-case host, without a leading dot. */
  readonly domain: string;
  readonly hostOnly: boolean;
  readonly path: string;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: string | undefined;
  /** Milliseconds since the epoch; `undefined` for a session cookie. */
  readonly expires: number | undefined;
  /** The `Set-Cookie` value it came from. */
  readonly raw: string;
}

/** Parsed attributes of one `Set-Cookie` value (lower-case attribute names). */
export interface ParsedSetCookie {
  readonly name: string;
  readonly value: string;
  readonly attributes: ReadonlyMap<string, string>;
}

/** Parses one `Set-Cookie` value. */
export function parseSetCookie(text: string): ParsedSetCookie {
  const [pair = '', ...rest] = text.split(';');
  const eq = pair.indexOf('=');
  const name = (eq === -1 ? pair : pair.slice(0, eq)).trim();
  const value = eq === -1 ? '' : pair.slice(eq + 1).trim();
  const attributes = new Map<string, string>();
  for (const part of rest) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase();
    if (key !== '') attributes.set(key, at === -1 ? '' : part.slice(at + 1).trim());
  }
  return { name, value, attributes };
}

/** True when a `Set-Cookie` value deletes its cookie. */
export function isDeletion(cookie: ParsedSetCookie): boolean {
  const maxAge = cookie.attributes.get('max-age');
  if (maxAge !== undefined) return Number(maxAge) <= 0;
  const expires = cookie.attributes.get('expires');
  return expires !== undefined && Date.parse(expires) <= Date.now();
}

/** Where a URL is served: the loopback port to connect to and the headers that say which origin it is. */
export interface Route {
  readonly port: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** Maps a URL to the loopback server that plays its origin. */
export type Router = (url: URL) => Route;

/** One answer the browser received, with the URL it asked for. */
export interface BrowserResponse extends RawResponse {
  readonly url: URL;
  /** The `Location` resolved against `url`, when there is one. */
  readonly location: URL | undefined;
}

/** Options of one browser request. */
export interface BrowserRequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as `application/x-www-form-urlencoded`. */
  readonly form?: Readonly<Record<string, string>>;
}

/** Headers of a top-level navigation in a current browser. */
export const NAVIGATION_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'user-agent': 'gatehouse-test-browser',
});

function defaultPath(url: URL): string {
  const path = url.pathname;
  if (!path.startsWith('/')) return '/';
  const last = path.lastIndexOf('/');
  return last <= 0 ? '/' : path.slice(0, last);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}

function domainMatches(host: string, cookie: StoredCookie): boolean {
  if (cookie.hostOnly) return host === cookie.domain;
  return host === cookie.domain || host.endsWith(`.${cookie.domain}`);
}

/** A browser: manual redirects, one cookie jar across origins with domain/path/secure scoping. */
export class Browser {
  #cookies: StoredCookie[] = [];
  readonly #route: Router;
  /** Every answer received, in order. */
  readonly history: BrowserResponse[] = [];

  constructor(route: Router) {
    this.#route = route;
  }

  /** Cookies that would be sent to `url`. */
  cookiesFor(url: string | URL): StoredCookie[] {
    const target = new URL(url);
    const now = Date.now();
    this.#cookies = this.#cookies.filter((cookie) => cookie.expires === undefined || cookie.expires > now);
    return this.#cookies
      .filter((cookie) => domainMatches(target.hostname, cookie) && pathMatches(target.pathname, cookie.path) && (!cookie.secure || target.protocol === 'https:'))
      .sort((a, b) => b.path.length - a.path.length);
  }

  /** Every cookie held. */
  allCookies(): readonly StoredCookie[] {
    return [...this.#cookies];
  }

  /** The value of the cookie `name` sent to `url`, if any. */
  cookie(name: string, url: string | URL): string | undefined {
    return this.cookiesFor(url).find((cookie) => cookie.name === name)?.value;
  }

  /** Stores a cookie as if `url` had set it with `setCookie`. */
  storeCookie(url: string | URL, setCookie: string): void {
    const target = new URL(url);
    const parsed = parseSetCookie(setCookie);
    if (parsed.name === '') return;
    let domain = target.hostname;
    let hostOnly = true;
    const domainAttribute = parsed.attributes.get('domain');
    if (domainAttribute !== undefined && domainAttribute !== '') {
      const bare = domainAttribute.replace(/^\./, '').toLowerCase();
      // RFC 6265 §5.3 step 6: a Domain the request host is not within is ignored with the cookie.
      if (target.hostname !== bare && !target.hostname.endsWith(`.${bare}`)) return;
      domain = bare;
      hostOnly = false;
    }
    const pathAttribute = parsed.attributes.get('path');
    const path = pathAttribute?.startsWith('/') === true ? pathAttribute : defaultPath(target);
    const maxAge = parsed.attributes.get('max-age');
    const expiresText = parsed.attributes.get('expires');
    let expires: number | undefined;
    if (maxAge !== undefined && /^-?\d+$/.test(maxAge)) expires = Date.now() + Number(maxAge) * 1000;
    else if (expiresText !== undefined) expires = Date.parse(expiresText);
    const secure = parsed.attributes.has('secure');
    if (secure && target.protocol !== 'https:') return;
    // Cookie name prefixes, as browsers enforce them (RFC 6265bis §4.1.3): `__Secure-` needs Secure;
    // `__Host-` also needs no Domain and Path=/.
    if (parsed.name.startsWith('__Secure-') && !secure) return;
    if (parsed.name.startsWith('__Host-') && (!secure || !hostOnly || path !== '/')) return;
    this.#cookies = this.#cookies.filter((cookie) => !(cookie.name === parsed.name && cookie.domain === domain && cookie.path === path && cookie.hostOnly === hostOnly));
    if (expires !== undefined && expires <= Date.now()) return;
    this.#cookies.push({
      name: parsed.name,
      value: parsed.value,
      domain,
      hostOnly,
      path,
      secure,
      httpOnly: parsed.attributes.has('httponly'),
      sameSite: parsed.attributes.get('samesite'),
      expires,
      raw: setCookie,
    });
  }

  /** Removes cookies by name (every domain and path). */
  dropCookie(name: string): void {
    this.#cookies = this.#cookies.filter((cookie) => cookie.name !== name);
  }

  /** One request, no redirect followed; cookies sent and stored as a browser would. */
  async request(url: string | URL, options: BrowserRequestOptions = {}): Promise<BrowserResponse> {
    const target = new URL(url);
    const route = this.#route(target);
    const cookies = this.cookiesFor(target);
    const headers: Record<string, string> = { ...route.headers, ...(options.headers ?? {}) };
    if (cookies.length > 0 && headers.cookie === undefined) headers.cookie = cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
    let body: string | undefined;
    if (options.form !== undefined) {
      body = new URLSearchParams(options.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const raw = await send({ port: route.port, method: options.method ?? (body === undefined ? 'GET' : 'POST'), path: target.pathname + target.search, headers, ...(body === undefined ? {} : { body }) });
    for (const setCookie of raw.setCookies) this.storeCookie(target, setCookie);
    const locationHeader = raw.headers.location;
    const response: BrowserResponse = { ...raw, url: target, location: locationHeader === undefined ? undefined : new URL(locationHeader, target) };
    this.history.push(response);
    return response;
  }

  /**
   * Navigates to `url` and follows redirects (as GET) until an answer that is not a redirect, or until
   * `stopBefore` accepts the next URL (then that URL is returned unvisited).
   */
  async navigate(
    url: string | URL,
    options: { stopBefore?: (next: URL) => boolean; maxRedirects?: number; headers?: Readonly<Record<string, string>> } = {},
  ): Promise<{ response: BrowserResponse; stoppedAt: URL | undefined; chain: BrowserResponse[] }> {
    const chain: BrowserResponse[] = [];
    let next = new URL(url);
    for (let hop = 0; hop <= (options.maxRedirects ?? 15); hop += 1) {
      const response = await this.request(next, { headers: { ...NAVIGATION_HEADERS, ...(options.headers ?? {}) } });
      chain.push(response);
      if (response.status < 300 || response.status >= 400 || response.location === undefined) return { response, stoppedAt: undefined, chain };
      next = response.location;
      if (options.stopBefore?.(next) === true) return { response, stoppedAt: next, chain };
    }
    throw new Error(`too many redirects from ${String(url)}`);
  }
}
