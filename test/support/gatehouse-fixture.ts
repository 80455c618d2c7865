/**
 * A real gatehouse in-process, in front of a real OpenID Provider (the embedded development provider, or
 * any issuer such as the hostile test IdP), reached the way a reverse proxy reaches it: requests arrive
 * from 127.0.0.1 (a trusted proxy) with `X-Forwarded-Proto: https` and `X-Forwarded-Host:
 * app.homelab.example.com`. A {@link Browser} routes `https://*.homelab.example.com` there and the
 * provider's own origin to the provider, so a login runs exactly as in a browser, cookies included.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Writable } from 'node:stream';
import { loadConfig, type LoadedConfig } from '../../src/config/index.js';
import { createKeyring } from '../../src/crypto/keyring.js';
import { startDevProvider, type DevProvider } from '../../src/devidp/index.js';
import { createApp, startServer, type App, type RunningServer } from '../../src/http/index.js';
import { createLoggers } from '../../src/log/index.js';
import { loadTracing } from '../../src/metrics/index.js';
import { decodeSession, parseCookies, readChunkedCookie, type Session, sessionBinding } from '../../src/session/index.js';
import { Browser, parseSetCookie, send, type BrowserResponse, type RawResponse, type Route } from './http-client.js';

/** The protected application's host (security-cases.md §0). */
export const APP_HOST = 'app.homelab.example.com';
export const APP_ORIGIN = `https://${APP_HOST}`;
export const COOKIE_DOMAIN = '.homelab.example.com';
/** The redirect URI gatehouse builds for the app host behind the emulated proxy. */
export const CALLBACK_URL = `${APP_ORIGIN}/oauth2/callback`;
/** 32 bytes, base64url. */
export const COOKIE_SECRET = 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf';
/** Another deployment's secret (32 bytes, base64url). */
export const OTHER_SECRET = 'Zm9yZWlnbi1kZXBsb3ltZW50LXNlY3JldC0zMmJ5dGU';
export const COOKIE_NAME = '_gatehouse';
/** The login-transaction cookies' names start so: secure cookies carry the __Host- prefix (SESS-08). */
export const TX_PREFIX = `__Host-${COOKIE_NAME}_tx_`;

/** A provider gatehouse is pointed at. */
export interface ProviderSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Options of {@link startGatehouse}. */
export interface GatehouseOptions {
  /** Extra or overriding `GATEHOUSE_*` variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Use this provider instead of starting a development provider. */
  readonly provider?: ProviderSettings;
  /** Reuse this development provider (it is then not closed with gatehouse). */
  readonly devProvider?: DevProvider;
  /** Wait until discovery has succeeded (default true). */
  readonly waitForDiscovery?: boolean;
  /** A YAML configuration file under the environment (for what variables cannot say, such as routes). */
  readonly file?: string;
}

/** A running gatehouse. */
export interface Gatehouse {
  readonly port: number;
  readonly loaded: LoadedConfig;
  /** The development provider, when one was started or given. */
  readonly idp: DevProvider | undefined;
  readonly issuer: string;
  /** Milliseconds added to the real clock for gatehouse (not for the provider). */
  clockOffsetMs: number;
  /** Every JSON log line written so far. */
  readonly logs: string[];
  /** A fresh browser whose requests to `*.homelab.example.com` reach this gatehouse. */
  browser(): Browser;
  /** A request straight to gatehouse through the emulated proxy (forwarded headers added unless given). */
  request(path: string, options?: { method?: string; headers?: Readonly<Record<string, string | readonly string[]>>; proxied?: boolean }): Promise<RawResponse>;
  close(): Promise<void>;
}

/** The `GATEHOUSE_*` variables every fixture starts from. */
export function baseEnv(provider: ProviderSettings): Record<string, string> {
  return {
    GATEHOUSE_PROVIDER_ISSUER: provider.issuer,
    GATEHOUSE_PROVIDER_CLIENT_ID: provider.clientId,
    GATEHOUSE_PROVIDER_CLIENT_SECRET: provider.clientSecret,
    GATEHOUSE_COOKIE_SECRETS: COOKIE_SECRET,
    GATEHOUSE_COOKIE_DOMAINS: COOKIE_DOMAIN,
    GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS: 'homelab.example.com',
    GATEHOUSE_PROXY_REVERSE_PROXY: 'true',
    GATEHOUSE_PROXY_TRUSTED: '127.0.0.1/32',
    GATEHOUSE_PROXY_ALLOWED_REDIRECT_DOMAINS: COOKIE_DOMAIN,
    GATEHOUSE_FORWARD_AUTH_SKIP_PROVIDER_BUTTON: 'true',
    GATEHOUSE_IDENTITY_HEADERS_X_AUTH_REQUEST: 'true',
    GATEHOUSE_LOGGING_FORMAT: 'json',
    GATEHOUSE_LOGGING_LEVEL: 'debug',
  };
}

/** Starts the development provider with the redirect URIs the emulated proxy produces. */
export function startTestProvider(options: { tokenTtlSeconds?: number; backchannelLogoutUri?: string } = {}): Promise<DevProvider> {
  return startDevProvider({
    redirectUris: [CALLBACK_URL, 'https://other.homelab.example.com/oauth2/callback'],
    postLogoutRedirectUris: [`${APP_ORIGIN}/`],
    ...(options.tokenTtlSeconds === undefined ? {} : { tokenTtlSeconds: options.tokenTtlSeconds }),
    ...(options.backchannelLogoutUri === undefined ? {} : { backchannelLogoutUri: options.backchannelLogoutUri }),
  });
}

/** The session bindings (issuer and client id) of every gatehouse the tests started. */
const KNOWN_BINDINGS = new Set<string>();

/**
 * For a test file: starts the development provider and a gatehouse in front of it before the file's tests,
 * and stops both after them. The returned object's fields are set once the `before` hook has run.
 */
export function gatehouseForFile(options: Omit<GatehouseOptions, 'devProvider' | 'provider'> = {}): { readonly idp: DevProvider; readonly gatehouse: Gatehouse } {
  const started = {} as { idp: DevProvider; gatehouse: Gatehouse };
  before(async () => {
    started.idp = await startTestProvider();
    started.gatehouse = await startGatehouse({ ...options, devProvider: started.idp });
  });
  after(async () => {
    await started.gatehouse.close();
    await started.idp.close();
  });
  return started;
}

/** Starts gatehouse (listener first, then the app, as `gatehouse serve` does) and waits for discovery. */
export async function startGatehouse(options: GatehouseOptions = {}): Promise<Gatehouse> {
  let ownIdp: DevProvider | undefined;
  let idp = options.devProvider;
  if (options.provider === undefined && idp === undefined) {
    ownIdp = await startTestProvider();
    idp = ownIdp;
  }
  const provider: ProviderSettings = options.provider ?? { issuer: idp!.issuer, clientId: idp!.clientId, clientSecret: idp!.clientSecret };
  const loaded = loadConfig({ ...(options.file === undefined ? {} : { file: options.file }), env: { ...baseEnv(provider), ...(options.env ?? {}) } });
  KNOWN_BINDINGS.add(sessionBinding(provider.issuer, provider.clientId));
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      logs.push(...String(chunk).split('\n').filter((line) => line !== ''));
      callback();
    },
  });
  const loggers = createLoggers({ ...loaded.config.logging, format: 'json', destination });
  let app: App | undefined;
  // Traces go where the configuration says (tracing.endpoint), as under `gatehouse serve`.
  const tracing = await loadTracing(loaded.config.tracing);
  const server: RunningServer = await startServer({ host: '127.0.0.1', port: 0 }, (request, response) => {
    if (app === undefined) {
      response.writeHead(503).end();
      return;
    }
    app.handle(request, response);
  });
  const fixture: Gatehouse = {
    port: server.address.port,
    loaded,
    idp,
    issuer: provider.issuer,
    clockOffsetMs: 0,
    logs,
    browser: () => new Browser((url) => routeFor(url, fixture.port, idp?.issuer ?? provider.issuer)),
    request: (path, requestOptions = {}) => {
      const forwarded = requestOptions.proxied === false ? {} : { 'x-forwarded-proto': 'https', 'x-forwarded-host': APP_HOST };
      return send({ port: fixture.port, path, method: requestOptions.method ?? 'GET', headers: { host: `127.0.0.1:${fixture.port}`, ...forwarded, ...(requestOptions.headers ?? {}) } });
    },
    close: async () => {
      await server.close(100);
      await app?.close();
      await tracing?.shutdown();
      await ownIdp?.close();
    },
  };
  try {
    app = await createApp(loaded, loggers, { listen: server.address, now: () => Date.now() + fixture.clockOffsetMs, ...(tracing === undefined ? {} : { tracing }) });
    const deadline = Date.now() + 5000;
    while (options.waitForDiscovery !== false) {
      const readiness = await app.ready();
      if (readiness.ok) break;
      if (Date.now() > deadline) throw new Error(`gatehouse did not become ready: ${JSON.stringify(readiness.checks)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } catch (error) {
    await fixture.close();
    throw error;
  }
  return fixture;
}

function routeFor(url: URL, gatehousePort: number, issuer: string): Route {
  const issuerUrl = new URL(issuer);
  if (url.origin === issuerUrl.origin) return { port: Number(issuerUrl.port), headers: { host: url.host } };
  if (url.hostname === 'homelab.example.com' || url.hostname.endsWith('.homelab.example.com')) {
    // The emulated reverse proxy: TLS ends there, the original host and scheme travel as X-Forwarded-*.
    return { port: gatehousePort, headers: { host: `127.0.0.1:${gatehousePort}`, 'x-forwarded-proto': url.protocol.slice(0, -1), 'x-forwarded-host': url.host } };
  }
  throw new Error(`the test browser has no route to ${url.origin}`);
}

/** The login form submission the development provider expects. */
export interface Account {
  readonly email: string;
  readonly groups?: string;
}

/**
 * Runs a login in `browser` up to the provider's redirect back to gatehouse, and returns that callback
 * URL unvisited. `start` is where the browser begins (a protected page by default).
 */
export async function loginUntilCallback(browser: Browser, account: Account, start = `${APP_ORIGIN}/dashboard`): Promise<URL> {
  const toIdp = await browser.navigate(start, { stopBefore: isCallback });
  // The provider remembers this browser: it sends it straight back without a form.
  if (toIdp.stoppedAt !== undefined) return toIdp.stoppedAt;
  const form = toIdp.response;
  assert.equal(form.status, 200, `expected the provider's login form, got ${form.status} at ${form.url.href}: ${form.body.slice(0, 300)}`);
  const uid = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(form.url.pathname)?.[1];
  assert.ok(uid !== undefined, `not a login form: ${form.url.href}`);
  return submitLogin(browser, new URL(`/interaction/${uid}/login`, form.url), account);
}

/** Submits the provider's login form and follows its redirects until the callback URL (unvisited). */
export async function submitLogin(browser: Browser, action: URL, account: Account): Promise<URL> {
  const posted = await browser.request(action, { form: { email: account.email, groups: account.groups ?? '' }, headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } });
  assert.ok(posted.location !== undefined, `the login form was refused: ${posted.status} ${posted.body.slice(0, 300)}`);
  if (isCallback(posted.location)) return posted.location;
  const followed = await browser.navigate(posted.location, { stopBefore: isCallback });
  assert.ok(followed.stoppedAt !== undefined, `the provider did not redirect back: ${followed.response.status} ${followed.response.url.href} ${followed.response.body.slice(0, 300)}`);
  return followed.stoppedAt;
}

/** True for gatehouse's callback URL. */
export function isCallback(url: URL): boolean {
  return url.pathname === '/oauth2/callback' && url.hostname.endsWith('homelab.example.com');
}

/** A complete login: returns the callback answer and the final answer after following it. */
export async function login(browser: Browser, account: Account, start = `${APP_ORIGIN}/dashboard`): Promise<{ callback: BrowserResponse; final: BrowserResponse; callbackUrl: URL }> {
  const callbackUrl = await loginUntilCallback(browser, account, start);
  const { chain, response } = await browser.navigate(callbackUrl);
  return { callback: chain[0]!, final: response, callbackUrl };
}

/** The `Set-Cookie` values of an answer for cookies named `name` (or starting with it when `prefix`). */
export function setCookiesNamed(response: RawResponse, name: string, prefix = false) {
  return response.setCookies.map(parseSetCookie).filter((cookie) => (prefix ? cookie.name.startsWith(name) : cookie.name === name));
}

/** Opens the session cookie(s) in a browser with the fixture's secret. */
export function openSession(browser: Browser, secrets: readonly string[] = [COOKIE_SECRET]): Session | undefined {
  const jar = parseCookies(browser.cookiesFor(`${APP_ORIGIN}/`).map((cookie) => `${cookie.name}=${cookie.value}`).join('; '));
  const read = readChunkedCookie(COOKIE_NAME, jar);
  if (read.kind !== 'value') return undefined;
  // Sessions are bound to their deployment's issuer and client id: try each deployment the tests started.
  const keyring = createKeyring(secrets, 'session');
  for (const binding of KNOWN_BINDINGS) {
    const bytes = keyring.open(read.value, `${COOKIE_NAME} ${binding}`);
    if (bytes !== undefined) return decodeSession(bytes);
  }
  return undefined;
}

/** The `Cookie` header a browser sends to the app origin. */
export function cookieHeader(browser: Browser, path = '/'): string {
  return browser.cookiesFor(`${APP_ORIGIN}${path}`).map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
}

/** Headers of a forward-auth check as an API client (not a navigation) makes it. */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({ accept: 'application/json', 'sec-fetch-mode': 'cors' });

/** Identity headers in an answer (`x-auth-request-*`, `gap-auth`, `authorization`, `remote-*`). */
export function identityHeadersOf(response: RawResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (/^(x-auth-request-|remote-|x-forwarded-user|x-forwarded-email)/.test(name) || name === 'gap-auth' || name === 'authorization') out[name] = String(value);
  }
  return out;
}
