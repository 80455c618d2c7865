/**
 * Envoy's ext_authz HTTP client, replayed byte for byte where it matters, so gatehouse's ext_authz mode can
 * be tested without an Envoy binary (none is packaged for this machine):
 *
 * - {@link buildCheckRequest} turns an original request, as Envoy's HTTP connection manager holds it, into
 *   the check request: `Content-Length: 0` and no body; the original method; `:path` = `path_prefix` +
 *   the original path and query; `:authority` (Host) the original one; `Authorization` and every header an
 *   `allowed_headers` matcher accepts, nothing else; `headers_to_add` on top; `x-envoy-internal: true` and
 *   Envoy's own address appended to `x-forwarded-for` (the async client's `send_xff`).
 *   (`ext_authz_http_impl.cc` `RawHttpClientImpl::check`, `ClientConfig::toRequestMatchers`;
 *   `async_client_impl.cc` `AsyncStreamImpl::sendHeaders`.)
 * - {@link interpretCheck} does what Envoy does with the answer: exactly 200 allows (headers matched by
 *   `allowed_upstream_headers` are set on the upstream request, `allowed_client_headers_on_success` added to
 *   the client's answer); any 5xx is an error (`status_on_error`, empty body); anything else, 202 included,
 *   is a denial passed to the client with its status, body and the headers `allowed_client_headers` accepts
 *   plus Location, WWW-Authenticate, Content-Length (`RawHttpClientImpl::toResponse`,
 *   `ClientConfig::toClientMatchers`).
 * - {@link startEnvoy} is a loopback edge proxy made of those two and the recipe's routes
 *   ({@link RECIPE_ROUTES}, matched as Envoy's router matches them): `/oauth2/auth` is answered `404` by
 *   the edge itself, the rest of `/oauth2/` goes to gatehouse, both with ext_authz disabled
 *   (`ExtAuthzPerRoute {disabled: true}`), and every other request is checked first and then answered by an
 *   echo "application" that shows what it received.
 *
 * Plus a gatehouse started in-process from a YAML file, the same way `gatehouse serve` starts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type LoadedConfig } from '../../src/config/index.js';
import { createKeyring } from '../../src/crypto/keyring.js';
import type { DevProvider } from '../../src/devidp/index.js';
import { createApp, startServer, type App, type RunningServer } from '../../src/http/index.js';
import { createLoggers } from '../../src/log/index.js';
import { decodeSession, parseCookies, readChunkedCookie, sessionBinding, type Session } from '../../src/session/index.js';
import { baseEnv, COOKIE_NAME, COOKIE_SECRET } from '../support/gatehouse-fixture.js';
import { Browser, send, type RawResponse, type Route } from '../support/http-client.js';

/** `path_prefix` of the recipe (docs/proxies/envoy.md), and gatehouse's `envoy.pathPrefix`. */
export const PREFIX = '/ext-authz';

/**
 * The address Envoy's async client appends to `x-forwarded-for` (its node address: a pod address in
 * Kubernetes). Only ever a header value here, never connected to.
 */
export const ENVOY_NODE_ADDRESS = '10.244.1.17';
/** The pod network Envoy runs in: trusted by gatehouse, together with loopback where the tests connect from. */
export const ENVOY_NETWORK = '10.244.0.0/16';

/** An Envoy `type.matcher.v3.StringMatcher` as used in `ListStringMatcher.patterns` (case-sensitive unless `ignoreCase`). */
export interface StringMatcher {
  readonly exact?: string;
  readonly prefix?: string;
  readonly suffix?: string;
  readonly contains?: string;
  readonly ignoreCase?: boolean;
}

/** True when `matcher` accepts `value` (Envoy's `StringMatcherImpl::match`). */
export function matches(matcher: StringMatcher, value: string): boolean {
  const fold = (text: string) => (matcher.ignoreCase === true ? text.toLowerCase() : text);
  const subject = fold(value);
  if (matcher.exact !== undefined) return subject === fold(matcher.exact);
  if (matcher.prefix !== undefined) return subject.startsWith(fold(matcher.prefix));
  if (matcher.suffix !== undefined) return subject.endsWith(fold(matcher.suffix));
  if (matcher.contains !== undefined) return subject.includes(fold(matcher.contains));
  return false;
}

const anyMatches = (list: readonly StringMatcher[], value: string) => list.some((matcher) => matches(matcher, value));

/** Exact, lower-case matchers for header names (Envoy's header keys are always lower case). */
export const exact = (...names: readonly string[]): StringMatcher[] => names.map((name) => ({ exact: name }));

/** The `envoy.filters.http.ext_authz` settings the replay honours. */
export interface ExtAuthzFilter {
  readonly pathPrefix: string;
  /** `allowed_headers` (top level; `authorization_request.allowed_headers` in older Envoy). */
  readonly allowedHeaders: readonly StringMatcher[];
  /** `authorization_request.headers_to_add`: fixed values, overwriting the client's. */
  readonly headersToAdd?: Readonly<Record<string, string>>;
  readonly allowedUpstreamHeaders: readonly StringMatcher[];
  /** Unset (undefined) means every header but Host, as in Envoy. */
  readonly allowedClientHeaders?: readonly StringMatcher[];
  readonly allowedClientHeadersOnSuccess: readonly StringMatcher[];
  readonly statusOnError: number;
  readonly failureModeAllow: boolean;
  /** `server_uri.timeout`, ms. */
  readonly timeoutMs: number;
}

/** The request headers the recipe lets through to gatehouse, beyond Envoy's own defaults. */
export const RECIPE_ALLOWED_HEADERS = ['cookie', 'authorization', 'x-forwarded-proto', 'x-forwarded-for', 'accept', 'sec-fetch-mode', 'x-requested-with', 'x-request-id'] as const;
/** gatehouse's answer headers the recipe passes to the client on a denial. */
export const RECIPE_CLIENT_HEADERS = ['location', 'set-cookie', 'www-authenticate', 'content-type', 'cache-control', 'x-gatehouse-reason'] as const;

/** The filter of docs/proxies/envoy.md (its tests check the page against this). */
export const RECIPE: ExtAuthzFilter = Object.freeze({
  pathPrefix: PREFIX,
  allowedHeaders: exact(...RECIPE_ALLOWED_HEADERS),
  allowedUpstreamHeaders: [{ exact: 'authorization' }, { prefix: 'x-auth-request-' }, { exact: 'gap-auth' }, { exact: 'x-device' }],
  allowedClientHeaders: exact(...RECIPE_CLIENT_HEADERS),
  allowedClientHeadersOnSuccess: exact('set-cookie'),
  statusOnError: 503,
  failureModeAllow: false,
  timeoutMs: 500,
});

/**
 * One route of a virtual host, as the replay needs it: its `match` (`path`: the path without the query,
 * exactly; `prefix`: the start of `:path`; both case-sensitive, Envoy's default), what it does (a
 * `direct_response` with this status, or the gatehouse or application cluster), and whether its
 * `ExtAuthzPerRoute` disables the filter.
 */
export interface EdgeRoute {
  readonly match: { readonly path: string } | { readonly prefix: string };
  readonly to: 'gatehouse' | 'application' | { readonly status: number };
  readonly checked: boolean;
}

/**
 * The routes of every virtual host of docs/proxies/envoy.md, in order (its tests check the page against
 * this). `/oauth2/auth` comes first and never reaches gatehouse: its allowed answer carries the identity and
 * the ID token, which no page script may read. Envoy's own checks do not use these routes: ext_authz asks
 * its cluster directly, on `path_prefix`.
 */
export const RECIPE_ROUTES: readonly EdgeRoute[] = Object.freeze([
  { match: { path: '/oauth2/auth' }, to: { status: 404 }, checked: false },
  { match: { prefix: '/oauth2/' }, to: 'gatehouse', checked: false },
  { match: { prefix: '/' }, to: 'application', checked: true },
]);

/** The first of `routes` that takes `path` (`:path`, query included), as Envoy's router picks it. */
export function routeFor(path: string, routes: readonly EdgeRoute[] = RECIPE_ROUTES): EdgeRoute | undefined {
  const queryAt = path.indexOf('?');
  const pathOnly = queryAt === -1 ? path : path.slice(0, queryAt);
  return routes.find((route) => ('path' in route.match ? pathOnly === route.match.path : path.startsWith(route.match.prefix)));
}

/**
 * The original request as Envoy's HTTP connection manager hands it to the filter chain: header names in
 * lower case, `x-forwarded-proto` and `x-forwarded-for` already set by the connection manager.
 */
export interface OriginalRequest {
  readonly method: string;
  /** `:authority`. */
  readonly host: string;
  /** `:path`: path and query as the client sent them. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
}

/** What the connection manager of an edge Envoy (`use_remote_address: true`) does to a client's request. */
export function atEdge(request: OriginalRequest, clientAddress: string, scheme: 'http' | 'https' = 'https'): OriginalRequest {
  const headers: Record<string, string | readonly string[]> = { ...(request.headers ?? {}) };
  // An edge Envoy overwrites the scheme with its own connection's, and appends the peer to the chain.
  headers['x-forwarded-proto'] = scheme;
  const chain = headers['x-forwarded-for'];
  const before = chain === undefined ? '' : typeof chain === 'string' ? chain : chain.join(',');
  headers['x-forwarded-for'] = before === '' ? clientAddress : `${before},${clientAddress}`;
  return { ...request, headers };
}

/** The HTTP request Envoy sends to the authorization cluster. */
export interface CheckRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** Envoy always includes these (the `:authority`, `:method`, `:path` pseudo-headers and Authorization). */
const DEFAULT_REQUEST_HEADERS = new Set(['authorization']);

/** Builds the check request for `original` as Envoy's ext_authz HTTP client does. */
export function buildCheckRequest(original: OriginalRequest, filter: ExtAuthzFilter = RECIPE, envoyAddress = ENVOY_NODE_ADDRESS): CheckRequest {
  const headers: Record<string, string> = { 'content-length': '0' };
  for (const [name, value] of Object.entries(original.headers ?? {})) {
    const key = name.toLowerCase();
    // The length is Envoy's own (0: the body is never sent without with_request_body); Host is :authority.
    if (key === 'content-length' || key === 'host' || key === 'transfer-encoding') continue;
    if (!DEFAULT_REQUEST_HEADERS.has(key) && !anyMatches(filter.allowedHeaders, key)) continue;
    // HTTP/2 cookie crumbs are joined with '; ', other repeated headers with ','.
    headers[key] = typeof value === 'string' ? value : value.join(key === 'cookie' ? '; ' : ',');
  }
  headers.host = original.host;
  for (const [name, value] of Object.entries(filter.headersToAdd ?? {})) headers[name.toLowerCase()] = value;
  headers['x-envoy-internal'] = 'true';
  headers['x-envoy-expected-rq-timeout-ms'] = String(filter.timeoutMs);
  const chain = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = chain === undefined || chain === '' ? envoyAddress : `${chain},${envoyAddress}`;
  return { method: original.method, path: `${filter.pathPrefix}${original.path}`, headers };
}

/** Sends a check request to gatehouse on `port`. */
export function sendCheck(port: number, check: CheckRequest, timeoutMs = 10_000): Promise<RawResponse> {
  return send({ port, method: check.method, path: check.path, headers: check.headers, timeoutMs });
}

/** Builds and sends the check for `original`. */
export function checkAsEnvoy(port: number, original: OriginalRequest, filter: ExtAuthzFilter = RECIPE): Promise<RawResponse> {
  return sendCheck(port, buildCheckRequest(original, filter));
}

/** What Envoy makes of gatehouse's answer. */
export type EnvoyOutcome =
  | { readonly kind: 'allow'; readonly upstream: Readonly<Record<string, string>>; readonly client: Readonly<Record<string, readonly string[]>> }
  | { readonly kind: 'deny'; readonly status: number; readonly headers: Readonly<Record<string, readonly string[]>>; readonly body: string }
  | { readonly kind: 'error'; readonly status: number };

function headerList(headers: IncomingHttpHeaders): [string, string[]][] {
  return Object.entries(headers)
    .filter((entry): entry is [string, string | string[]] => entry[1] !== undefined)
    .map(([name, value]) => [name.toLowerCase(), Array.isArray(value) ? value : [value]]);
}

/** Interprets gatehouse's answer to a check as Envoy's `toResponse` and the filter do. */
export function interpretCheck(answer: Pick<RawResponse, 'status' | 'headers' | 'body'>, filter: ExtAuthzFilter = RECIPE): EnvoyOutcome {
  if (answer.status >= 500) return filter.failureModeAllow ? { kind: 'allow', upstream: {}, client: {} } : { kind: 'error', status: filter.statusOnError };
  const list = headerList(answer.headers);
  if (answer.status === 200) {
    const upstream: Record<string, string> = {};
    const client: Record<string, string[]> = {};
    for (const [name, values] of list) {
      if (anyMatches(filter.allowedUpstreamHeaders, name)) upstream[name] = values.join(',');
      if (anyMatches(filter.allowedClientHeadersOnSuccess, name)) client[name] = values;
    }
    return { kind: 'allow', upstream, client };
  }
  const allowed = filter.allowedClientHeaders;
  const passes = (name: string) =>
    allowed === undefined ? name !== 'host' : anyMatches(allowed, name) || name === 'location' || name === 'www-authenticate' || name === 'content-length';
  const headers: Record<string, string[]> = {};
  for (const [name, values] of list) if (passes(name)) headers[name] = values;
  return { kind: 'deny', status: answer.status, headers, body: answer.body };
}

/** The first value of a header in an answer. */
export function headerOf(response: Pick<RawResponse, 'headers'>, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/**
 * Writes a request head and part of a body, and resolves with the answer as soon as it is complete, without
 * ever sending the rest of the body: an answer proves the server did not wait for the body.
 */
export function sendWithoutFinishingBody(port: number, head: string, bodyPart: string, timeoutMs = 3000): Promise<{ status: number; headers: Record<string, string>; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms: ${buffer.toString('latin1').slice(0, 200)}`));
    }, timeoutMs);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const lines = buffer.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (buffer.length - end - 4 < length) return;
      clearTimeout(timer);
      const ms = performance.now() - started;
      socket.destroy();
      resolve({ status, headers, body: buffer.subarray(end + 4, end + 4 + length).toString('utf8'), ms });
    });
    socket.on('connect', () => {
      socket.write(head + bodyPart);
    });
  });
}

/** A gatehouse started in-process from a YAML file. */
export interface YamlGatehouse {
  readonly port: number;
  readonly loaded: LoadedConfig;
  readonly logs: string[];
  close(): Promise<void>;
}

/** The provider a gatehouse is pointed at. */
export interface ProviderSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/**
 * Writes `yaml` to a temporary file and starts gatehouse with it: the fixture's environment (the provider,
 * the cookie secret, `.homelab.example.com`, `skipProviderButton`, X-Auth-Request headers), Envoy's prefix,
 * and loopback plus {@link ENVOY_NETWORK} as trusted proxies, with `env` on top.
 */
export async function startYamlGatehouse(yaml: string, provider: ProviderSettings, env: Readonly<Record<string, string>> = {}): Promise<YamlGatehouse> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-envoy-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, yaml);
  let server: RunningServer | undefined;
  let app: App | undefined;
  const close = async () => {
    await server?.close(100);
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const loaded = loadConfig({
      file,
      env: { ...baseEnv(provider), GATEHOUSE_ENVOY_PATH_PREFIX: PREFIX, GATEHOUSE_PROXY_TRUSTED: `127.0.0.1/32,${ENVOY_NETWORK}`, GATEHOUSE_LOGGING_LEVEL: 'info', ...env },
    });
    const logs: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        logs.push(...String(chunk).split('\n').filter((line) => line !== ''));
        callback();
      },
    });
    const loggers = createLoggers({ ...loaded.config.logging, format: 'json', destination });
    server = await startServer({ host: '127.0.0.1', port: 0 }, (request, response) => {
      if (app === undefined) response.writeHead(503).end();
      else app.handle(request, response);
    });
    app = await createApp(loaded, loggers, { listen: server.address, env: {} });
    const ready = app;
    const deadline = Date.now() + 5000;
    for (;;) {
      const readiness = await ready.ready();
      if (readiness.checks.find((check) => check.name === 'identity provider')?.ok === true) break;
      if (Date.now() > deadline) throw new Error(`gatehouse did not reach its provider: ${JSON.stringify(readiness.checks)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { port: server.address.port, loaded, logs, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The one request log line of the request with this `x-request-id`. */
export function requestLog(logs: readonly string[], requestId: string): Record<string, unknown> | undefined {
  for (const line of logs) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.requestId === requestId && entry.msg === 'request') return entry;
  }
  return undefined;
}

/** What the echo application received, as the edge proxy answers an allowed request. */
export interface EchoBody {
  readonly app: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** A running edge proxy. */
export interface EnvoyEdge {
  readonly port: number;
  /** Every check request sent to gatehouse, in order. */
  readonly checks: CheckRequest[];
  close(): Promise<void>;
}

/** Forwards one request to loopback `port` and resolves with the whole answer. */
function forward(port: number, method: string, path: string, headers: Record<string, string | string[]>, body: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false, setHost: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, setCookies: response.headers['set-cookie'] ?? [], body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

function writeAnswer(response: ServerResponse, status: number, headers: Readonly<Record<string, string | readonly string[]>>, body: string): void {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name) && name !== 'content-length') out[name] = typeof value === 'string' ? value : [...value];
  out['content-length'] = String(Buffer.byteLength(body));
  response.writeHead(status, out);
  response.end(body);
}

/**
 * Starts a loopback edge Envoy in front of gatehouse on `gatehousePort`: TLS is pretended (the scheme is
 * `https`, the client `clientAddress`), each request takes the first of `routes` that matches it:
 * `/oauth2/auth` answered `404` by the edge, the rest of `/oauth2/` to gatehouse unchecked, everything else
 * checked with `filter` first and, when allowed, answered by an echo application.
 */
export async function startEnvoy(gatehousePort: number, filter: ExtAuthzFilter = RECIPE, clientAddress = '198.51.100.23', routes: readonly EdgeRoute[] = RECIPE_ROUTES): Promise<EnvoyEdge> {
  const checks: CheckRequest[] = [];
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    const original = atEdge({ method: request.method ?? 'GET', host: request.headers.host ?? '', path: request.url ?? '/', headers }, clientAddress);
    const originalHeaders = { ...(original.headers ?? {}) } as Record<string, string | string[]>;
    const route = routeFor(original.path, routes);
    if (route === undefined) {
      // No route: Envoy answers 404.
      writeAnswer(response, 404, {}, '');
      return;
    }
    /** What the route does with the request, once the filter has let it through. */
    const deliver = async (headers: Record<string, string | string[]>, client: Readonly<Record<string, readonly string[]>>) => {
      if (typeof route.to === 'object') {
        // direct_response: the router answers itself, and nothing reaches a cluster.
        writeAnswer(response, route.to.status, client, '');
      } else if (route.to === 'gatehouse') {
        // The router keeps :authority.
        const answer = await forward(gatehousePort, original.method, original.path, { ...headers, 'x-envoy-expected-rq-timeout-ms': '15000' }, body);
        writeAnswer(response, answer.status, { ...(answer.headers as Record<string, string | string[]>), ...client }, answer.body);
      } else {
        const upstream: Record<string, string> = {};
        for (const [name, value] of Object.entries(headers)) upstream[name] = typeof value === 'string' ? value : value.join(',');
        const echo: EchoBody = { app: original.host, method: original.method, path: original.path, headers: upstream };
        writeAnswer(response, 200, { 'content-type': 'application/json', ...client }, JSON.stringify(echo));
      }
    };
    if (!route.checked) {
      // The route's ExtAuthzPerRoute disables the filter.
      await deliver(originalHeaders, {});
      return;
    }
    const check = buildCheckRequest(original, filter);
    checks.push(check);
    let outcome: EnvoyOutcome;
    try {
      outcome = interpretCheck(await sendCheck(gatehousePort, check, filter.timeoutMs), filter);
    } catch {
      // A timeout or a connection failure is an error, like a 5xx.
      outcome = filter.failureModeAllow ? { kind: 'allow', upstream: {}, client: {} } : { kind: 'error', status: filter.statusOnError };
    }
    if (outcome.kind === 'error') {
      writeAnswer(response, outcome.status, {}, '');
      return;
    }
    if (outcome.kind === 'deny') {
      writeAnswer(response, outcome.status, outcome.headers, outcome.body);
      return;
    }
    await deliver({ ...originalHeaders, ...outcome.upstream }, outcome.client);
  };
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) writeAnswer(response, 502, {}, `edge proxy failed: ${String(error)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    checks,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** A browser whose `https://*.homelab.example.com` requests reach the edge proxy, and the provider's origin the provider. */
export function browserThrough(edge: EnvoyEdge, provider: DevProvider | ProviderSettings): Browser {
  const issuer = new URL(provider.issuer);
  return new Browser((url): Route => {
    if (url.origin === issuer.origin) return { port: Number(issuer.port), headers: { host: url.host } };
    if (url.hostname.endsWith('.homelab.example.com')) return { port: edge.port, headers: { host: url.host } };
    throw new Error(`the test browser has no route to ${url.origin}`);
  });
}

/** The `Cookie` header `browser` sends to `origin`. */
export function cookiesOf(browser: Browser, origin: string): string {
  return browser
    .cookiesFor(`${origin}/`)
    .map((cookie) => `${cookie.name}=${cookie.value}`)
    .join('; ');
}

/** Opens the session cookie `browser` holds for `origin`, sealed with the fixture's secret for `provider`. */
export function sessionOf(browser: Browser, origin: string, provider: ProviderSettings): Session | undefined {
  const jar = parseCookies(cookiesOf(browser, origin));
  const read = readChunkedCookie(COOKIE_NAME, jar);
  if (read.kind !== 'value') return undefined;
  const bytes = createKeyring([COOKIE_SECRET], 'session').open(read.value, `${COOKIE_NAME} ${sessionBinding(provider.issuer, provider.clientId)}`);
  return bytes === undefined ? undefined : decodeSession(bytes);
}

/** How a key server answers the JWKS of one issuer. */
export type KeysMode = 'ok' | 'hang';

/**
 * A loopback OpenID issuer for keys only: `<origin>/<name>` is an issuer with discovery and a JWKS, and the
 * JWKS of each can be made to hang (accept the request and never answer), as a slow provider does.
 */
export interface KeyServer {
  issuer(name: string): string;
  setKeys(name: string, keys: readonly Record<string, unknown>[]): void;
  setMode(name: string, mode: KeysMode): void;
  /** JWKS requests per issuer name. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

/** Starts a {@link KeyServer}. */
export async function startKeyServer(): Promise<KeyServer> {
  const keys = new Map<string, readonly Record<string, unknown>[]>();
  const modes = new Map<string, KeysMode>();
  const hits = new Map<string, number>();
  const server = createServer((request, response) => {
    const match = /^\/([a-z0-9-]+)(\/.*)$/.exec(request.url ?? '');
    const name = match?.[1] ?? '';
    const rest = match?.[2] ?? '';
    const issuer = `${origin}/${name}`;
    if (rest === '/.well-known/openid-configuration') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          issuer,
          jwks_uri: `${issuer}/jwks`,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['ES256'],
        }),
      );
      return;
    }
    if (rest !== '/jwks') {
      response.writeHead(404).end();
      return;
    }
    hits.set(name, (hits.get(name) ?? 0) + 1);
    if (modes.get(name) === 'hang') return;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.get(name) ?? [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer: (name) => `${origin}/${name}`,
    setKeys: (name, list) => keys.set(name, list),
    setMode: (name, mode) => modes.set(name, mode),
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
