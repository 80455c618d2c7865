/**
 * Builds the request handling of one configuration: the session store, the OIDC relying party (or the
 * embedded development provider), the gateway, and the routing of `/oauth2/*` and forward-auth checks.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isAsciiWord } from '../ascii.js';
import { isLoopbackHost, readEmailsFile, usesDevelopmentProvider, type ListenAddress, type LoadedConfig } from '../config/index.js';
import { createGateway, text, type Gateway, type GatewayRequest, type Verdict } from '../gateway/index.js';
import { compileProfiles, createProviderBearerVerifier, createSharedDenyList, denyListNames, parseKeyText } from '../jwt/index.js';
import { createBackchannelLogout, MAX_LOGOUT_BODY } from '../gateway/backchannel.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Loggers } from '../log/index.js';
import { NO_METRICS, type Metrics, type Tracing } from '../metrics/index.js';
import { createOidcClient, type OidcClient, type OidcClientOptions } from '../oidc/index.js';
import { emailPolicyFromConfig } from '../policy/email-policy.js';
import { compileRegex } from '../policy/regex.js';
import { compilePolicySet } from '../policy/routes.js';
import { createCookieStore, createLoginTransactions, createRedisClient, createRedisStore, parseCookies, storeUnavailable, sessionBinding, type CookieAttributes, type CookieJar, type Session, type SessionStore } from '../session/index.js';
import { handleHealth, logRequest, requestIdOf, type App, type HttpRequest, type HttpResponse } from './app.js';
import { createProxyTrust, resolveRequest } from './forwarded.js';
import { createRedirectPolicy, validateRedirect } from './redirect.js';
import { SECURITY_HEADERS, send, sendJson, sendText } from './respond.js';

const EMPTY_QUERY = new URLSearchParams();
/** The development mode's cookie secret: one per process, so a reload keeps people signed in. */
const DEVELOPMENT_SECRET = randomBytes(32).toString('base64url');
const ROBOTS = 'User-agent: *\nDisallow: /\n';

/**
 * Logs an error at most once every 10 seconds (a Redis outage would otherwise flood the log), with the
 * number of the same errors left unlogged since the last line.
 */
function rateLimited(loggers: Loggers, message: string): (error: Error, fields?: Readonly<Record<string, unknown>>) => void {
  let last = 0;
  let unlogged = 0;
  return (error, fields = {}) => {
    const now = Date.now();
    if (now - last < 10_000) {
      unlogged += 1;
      return;
    }
    last = now;
    loggers.standard.error({ ...fields, err: error.message, ...(unlogged === 0 ? {} : { unlogged }) }, message);
    unlogged = 0;
  };
}

/** Times the operations of a shared store (the cookie store needs no I/O and is not wrapped). */
function timedStore(store: SessionStore, metrics: Metrics): SessionStore {
  if (metrics === NO_METRICS) return store;
  const timed = <A extends unknown[], R>(operation: string, work: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = performance.now();
      try {
        const result = await work(...args);
        metrics.storeOperation(store.kind, operation, true, (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        metrics.storeOperation(store.kind, operation, false, (performance.now() - started) / 1000);
        throw error;
      }
    };
  return {
    ...store,
    load: timed('load', (jar: CookieJar, nowSeconds: number) => store.load(jar, nowSeconds)),
    save: timed('save', (session: Session, jar: CookieJar, attributes: CookieAttributes) => store.save(session, jar, attributes)),
    ...(store.replace === undefined ? {} : { replace: timed('replace', (session: Session, jar: CookieJar, attributes: CookieAttributes) => store.replace?.(session, jar, attributes) ?? store.save(session, jar, attributes)) }),
    clear: timed('clear', (jar: CookieJar, attributes: CookieAttributes) => store.clear(jar, attributes)),
  };
}

/**
 * The JWKS of the configured public keys. A key's id is its JWK `kid`, else the file name before
 * `.pub.pem` / `.jwk.json` (what `gatehouse keys generate` writes).
 * @throws GatewayError `ERR_CONFIG_PUBLISH_KEY` when a file cannot be read or holds no public key.
 */
function publishedJwks(files: readonly string[]): { keys: Record<string, unknown>[] } {
  const keys = files.flatMap((file) => {
    let parsed;
    try {
      const kid = basename(file).replace(/\.(pub\.pem|jwk\.json|pem|json)$/, '');
      parsed = parseKeyText(kid, readFileSync(file, 'utf8'));
    } catch (error) {
      throw new GatewayError('ERR_CONFIG_PUBLISH_KEY', `bearer.publishKeys: '${file}' is not a readable public key (${error instanceof Error ? error.message : String(error)})`, { cause: error });
    }
    return parsed
      .filter((key) => key.key.type === 'public')
      .map((key) => ({ ...(key.key.export({ format: 'jwk' }) as Record<string, unknown>), kid: key.kid, alg: key.algorithms[0], use: 'sig' }));
  });
  return { keys };
}

/** True when the request carries the diagnostics token (compared in constant time). */
function isDiagnose(header: string | string[] | undefined, token: Buffer): boolean {
  if (typeof header !== 'string') return false;
  const given = Buffer.from(header, 'utf8');
  return given.length === token.length && timingSafeEqual(given, token);
}

/** What a check sees of a request, for `gatehouse doctor --url`: names and resolved values, never a secret. */
function diagnosis(request: HttpRequest, view: GatewayRequest['view'], trusted: boolean, gatewayRequest: GatewayRequest): Record<string, unknown> {
  const forwardedNames = Object.keys(request.headers).filter((name) => name.startsWith('x-forwarded-') || name.startsWith('x-original-') || name === 'forwarded' || name === 'x-real-ip');
  return {
    gatehouse: 'diagnose',
    peer: request.socket.remoteAddress ?? '',
    peerTrusted: trusted,
    forwardedHeaders: forwardedNames.sort(),
    seen: { method: view.method, scheme: view.scheme, host: view.host, port: view.port ?? null, uri: view.uri, clientIp: view.clientIp },
    endpoint: gatewayRequest.endpointPath,
    cookies: [...gatewayRequest.jar.keys()].sort(),
    authorization: request.headers.authorization === undefined ? 'absent' : 'present',
  };
}

/** The original path and query of an ext_authz check: what follows the prefix. */
function envoyTarget(raw: string, prefix: string): string {
  const rest = raw.slice(prefix.length);
  if (rest === '') return '/';
  return rest.startsWith('?') ? `/${rest}` : rest;
}

/** `host` or `authorization` when the raw request carried that header more than once. */
function repeatedSingleHeader(rawHeaders: readonly string[]): 'host' | 'authorization' | undefined {
  let hosts = 0;
  let authorizations = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] ?? '';
    if (isAsciiWord(name, 'host')) hosts++;
    else if (isAsciiWord(name, 'authorization')) authorizations++;
  }
  return hosts > 1 ? 'host' : authorizations > 1 ? 'authorization' : undefined;
}

/** Where the app runs: the bound listener address (the development provider needs the real port). */
export interface AppEnvironment {
  readonly listen: ListenAddress;
  readonly now?: () => number;
  /** Environment variables bearer-profile templates may read (secret-looking names excluded). */
  readonly env?: NodeJS.ProcessEnv;
  /** Where to record metrics; nothing is recorded without. */
  readonly metrics?: Metrics;
  /** Where to trace checks and IdP calls; nothing is traced without. */
  readonly tracing?: Tracing;
  /** The configuration this one replaces (on a reload): it hands over what it knows. */
  readonly previous?: App;
}

/**
 * The relying party of a configuration, kept by the configurations that replace it while the settings it
 * was built from stay the same: a reload then neither repeats discovery nor loses what the client knows
 * (its discovered metadata and the provider's keys), so a provider briefly unreachable during a reload
 * costs nothing. Closed when the last app using it closes.
 */
interface SharedProvider {
  /** A digest of the options the client was built from (a secret among them, so never the options themselves). */
  readonly settings: string;
  readonly metrics: Metrics;
  readonly tracing: Tracing | undefined;
  readonly oidc: OidcClient;
  /** The apps using it, built or being built. */
  users: number;
}

/** What an app hands over to the app built to replace it. */
interface Handover {
  readonly provider: SharedProvider;
}

const handovers = new WeakMap<App, Handover>();

/** The digest of what a relying party depends on: a client built from the same digest behaves the same. */
function providerSettings(options: Omit<OidcClientOptions, 'onRequest'>): string {
  return createHash('sha256').update(JSON.stringify([options.issuer, options.clientId, options.clientSecret, options.timeoutMs, options.allowHttpLoopback, options.clockToleranceSeconds ?? null])).digest('base64url');
}

/**
 * The previous configuration's relying party when it was built from the same settings (and reports to the
 * same metrics and tracing), else a new one, which starts discovery. Either way, `release` gives it back.
 */
function acquireProvider(previous: App | undefined, options: Omit<OidcClientOptions, 'onRequest'>, metrics: Metrics, tracing: Tracing | undefined): { provider: SharedProvider; reused: boolean; release: () => void } {
  const settings = providerSettings(options);
  const inherited = previous === undefined ? undefined : handovers.get(previous)?.provider;
  const reused = inherited !== undefined && inherited.users > 0 && inherited.settings === settings && inherited.metrics === metrics && inherited.tracing === tracing;
  const provider: SharedProvider = reused
    ? inherited
    : {
        settings,
        metrics,
        tracing,
        oidc: createOidcClient({
          ...options,
          onRequest: (operation, ok, seconds) => {
            metrics.idpRequest(operation, ok, seconds);
            tracing?.idpRequest(operation, ok, seconds);
          },
        }),
        users: 0,
      };
  provider.users += 1;
  let released = false;
  return {
    provider,
    reused,
    release: () => {
      if (released) return;
      released = true;
      provider.users -= 1;
      if (provider.users === 0) provider.oidc.close();
    },
  };
}

/** Runs every teardown step, the last started first; a step that fails does not stop the others. */
async function runTeardown(steps: readonly (() => void | Promise<void>)[]): Promise<void> {
  for (const step of [...steps].reverse()) {
    try {
      await step();
    } catch {
      // Closing is best effort: what could not be closed is let go of.
    }
  }
}

/** A Redis command whose failure is the store's unavailability (a 503, or a failed logout). */
function unavailableOnError<T>(command: Promise<T>): Promise<T> {
  return command.catch((error: unknown) => {
    throw storeUnavailable(error);
  });
}

/** Reads a request body of at most `limit` bytes as UTF-8; undefined when it is larger (read and dropped). */
function readForm(request: HttpRequest, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/**
 * Builds the app for a loaded configuration. A build that fails part-way closes again everything it had
 * started (connections, timers, the development provider), so a failed reload leaves nothing behind.
 */
export async function createApp(loaded: LoadedConfig, loggers: Loggers, environment: AppEnvironment): Promise<App> {
  const teardown: (() => void | Promise<void>)[] = [];
  try {
    return await buildApp(loaded, loggers, environment, teardown);
  } catch (error) {
    await runTeardown(teardown);
    throw error;
  }
}

/** Builds the app; every step that starts something adds its closing to `teardown`, which the app's close runs. */
async function buildApp(loaded: LoadedConfig, loggers: Loggers, environment: AppEnvironment, teardown: (() => void | Promise<void>)[]): Promise<App> {
  const { config } = loaded;
  const devMode = usesDevelopmentProvider(config);
  const now = environment.now ?? Date.now;
  const metrics = environment.metrics ?? NO_METRICS;
  const { tracing } = environment;
  let issuer = config.provider.issuer;
  let clientId = config.provider.clientId;
  let clientSecret = config.provider.clientSecret;
  if (devMode) {
    // The development provider signs anyone in: only ever behind a listener this machine alone reaches,
    // checked here against the address actually bound (a reload keeps the listener it had).
    if (!isLoopbackHost(environment.listen.host)) throw new GatewayError('ERR_CONFIG_DEV_PROVIDER_EXPOSED', `the development identity provider would run behind ${environment.listen.host}, beyond this machine; set provider.issuer`);
    const port = environment.listen.port;
    const hosts = ['localhost', '127.0.0.1', '[::1]'];
    // Loaded only in development mode: production never loads oidc-provider.
    const { startDevProvider } = await import('../devidp/index.js');
    const dev = await startDevProvider({
      redirectUris: hosts.map((host) => `http://${host}:${port}/oauth2/callback`),
      postLogoutRedirectUris: hosts.map((host) => `http://${host}:${port}/`),
    });
    teardown.push(() => dev.close());
    issuer = dev.issuer;
    clientId = dev.clientId;
    clientSecret = dev.clientSecret;
    loggers.standard.warn({ issuer }, `DEVELOPMENT MODE: embedded identity provider at ${issuer}; open http://localhost:${port}/ to try the sign-in flow. Configure provider.issuer (OAUTH2_PROXY_OIDC_ISSUER_URL) for real use.`);
  }
  const secrets = config.cookie.secrets.length > 0 ? config.cookie.secrets : [DEVELOPMENT_SECRET];
  const provider = acquireProvider(environment.previous, { issuer, clientId, clientSecret, timeoutMs: config.provider.timeout, allowHttpLoopback: true }, metrics, tracing);
  teardown.push(provider.release);
  const { oidc } = provider.provider;
  const binding = sessionBinding(issuer, clientId);
  const redisClient = config.session.store === 'redis' ? createRedisClient(config.session.redis, rateLimited(loggers, 'redis connection error')) : undefined;
  const redisStore = redisClient === undefined ? undefined : createRedisStore({ client: redisClient, cookieName: config.cookie.name, keyPrefix: config.session.redis.keyPrefix, binding, now });
  const store: SessionStore = redisStore !== undefined ? timedStore(redisStore, metrics) : createCookieStore({ name: config.cookie.name, secrets, binding });
  // The Redis store's close quits its client.
  teardown.push(() => store.close());
  // With the Redis store, the bearer deny-list is shared through it too (on top of each profile's file),
  // for the named profiles and the provider's own tokens.
  const denyLists = denyListNames(config.bearer);
  const sharedDenyList =
    redisClient === undefined || denyLists.length === 0
      ? undefined
      : createSharedDenyList({
          client: redisClient,
          keyPrefix: config.session.redis.keyPrefix,
          profiles: denyLists,
          onError: rateLimited(loggers, 'the bearer deny-list could not be read from Redis; the last copy stays in force'),
          // The same Redis and prefix as the configuration this one replaces: start from its copy.
          source: createHash('sha256').update(JSON.stringify(config.session.redis)).digest('base64url'),
          ...(environment.previous?.denyListCopy === undefined ? {} : { seed: environment.previous.denyListCopy() }),
        });
  if (sharedDenyList !== undefined) teardown.push(() => sharedDenyList.close());
  const transactions = createLoginTransactions({
    cookieName: config.cookie.name,
    secrets,
    hostOnly: config.cookie.secure && !devMode,
    // Its length only: a return target may carry what its page put in its query.
    onReturnToReplaced: (event) => loggers.auth.info(event, 'return target too long for the login cookie; replaced'),
  });
  const noDowngrade = config.cookie.secure && !devMode;
  const redirectPolicy = createRedirectPolicy([...config.proxy.allowedRedirectDomains, ...config.cookie.domains]);
  const emailPolicy = emailPolicyFromConfig(config, devMode);
  const profiles = compileProfiles(config, { env: environment.env ?? process.env, timeoutMs: config.provider.timeout, now, onJwksFetch: (profile, ok, keys, seconds) => metrics.jwksFetch(profile, ok, keys, seconds), ...(sharedDenyList === undefined ? {} : { sharedDenyList }) });
  teardown.push(() => {
    for (const profile of profiles.all()) profile.close();
  });
  for (const profile of profiles.all()) profile.start();
  sharedDenyList?.start();
  const bearer = config.bearer.provider
    ? createProviderBearerVerifier({
        issuer,
        audiences: [clientId, ...config.provider.extraAudiences],
        jwksUri: () => oidc.jwksUri(),
        extraIssuers: profiles.extraIssuers,
        timeoutMs: config.provider.timeout,
        clockToleranceSeconds: 30,
      })
    : undefined;

  // The provider's keys are fetched as soon as discovery names them, so no bearer check waits for them;
  // not once this app is closed (the relying party may outlive it, kept by the next configuration).
  if (bearer !== undefined) {
    let closed = false;
    teardown.push(() => {
      closed = true;
      bearer.close();
    });
    oidc.ready(600_000).then(
      () => {
        if (!closed) bearer.warm();
      },
      () => undefined,
    );
  }

  const gateway: Gateway = createGateway({
    config,
    devMode,
    store,
    transactions,
    oidc,
    validateRedirect: (target) => {
      const safe = validateRedirect(target, redirectPolicy);
      // No downgrade to plain http when cookies are Secure (REDIR-14).
      return safe !== undefined && noDowngrade && safe.startsWith('http:') ? undefined : safe;
    },
    emailPolicy,
    emailsFromFile: readEmailsFile(config.authorization.emailsFile),
    bearer,
    bearerProfiles: profiles.named,
    ...(sharedDenyList === undefined ? {} : { sharedDenyList }),
    policySet: compilePolicySet(config),
    apiRoutes: config.forwardAuth.apiRoutes.map(compileRegex),
    loggers,
    now,
  });
  const trust = createProxyTrust(config.proxy);
  // Back-channel logout ends sessions kept on the server: the Redis store (the configuration requires it).
  const backchannelKey = (key: string) => `${config.session.redis.keyPrefix}backchannel:${key}`;
  const backchannelLogout =
    config.provider.backchannelLogout && redisStore !== undefined && redisClient !== undefined
      ? createBackchannelLogout({
          issuer,
          clientId,
          jwksUri: () => oidc.jwksUri(),
          ready: (timeoutMs) => oidc.ready(timeoutMs),
          endSessions: (by) => redisStore.endProviderSession(by),
          firstSeen: (key, ttlSeconds) => unavailableOnError(redisClient.set(backchannelKey(key), '1', 'EX', ttlSeconds, 'NX')).then((answer) => answer === 'OK'),
          forget: (key) => unavailableOnError(redisClient.del(backchannelKey(key))).then(() => undefined),
          timeoutMs: config.provider.timeout,
          now,
          log: (fields, message) => loggers.auth.info(fields, message),
        })
      : undefined;

  const reasonHeader = config.forwardAuth.reasonHeader;
  // Every check fails while the store is down: one line every 10 seconds says so (each request's own line
  // in the request log still has the reason).
  const logStoreDown = rateLimited(loggers, 'session store unavailable');
  const uriHeader = config.proxy.headers === 'x-original' ? 'x-original-url' : 'x-forwarded-uri';
  const envoyPrefix = config.envoy.pathPrefix;
  const publishedKeys = config.bearer.publishKeys.length === 0 ? undefined : JSON.stringify(publishedJwks(config.bearer.publishKeys));
  const diagnoseToken = config.diagnostics.token === '' ? undefined : Buffer.from(config.diagnostics.token, 'utf8');
  const noStore: OutgoingHttpHeaders = { 'cache-control': 'no-store' };
  const write = (response: HttpResponse, verdict: Verdict, ownEndpoint: boolean) => {
    // The gateway always names its reason; whether the proxy sees it is decided here, once.
    send(response, verdict.status, verdict.headers, verdict.body, reasonHeader ? undefined : 'x-gatehouse-reason', ownEndpoint ? SECURITY_HEADERS : verdict.status >= 300 ? noStore : undefined);
  };

  const route = (request: GatewayRequest, incoming: HttpRequest): { run: () => Verdict | Promise<Verdict>; own: boolean } => {
    switch (request.endpointPath) {
      case '/oauth2/backchannel-logout':
        if (backchannelLogout === undefined) break;
        return { run: () => readForm(incoming, MAX_LOGOUT_BODY).then((form) => backchannelLogout(incoming.method ?? 'GET', incoming.headers['content-type'], form)), own: true };
      case '/oauth2/auth':
        // Never the original request itself: without the proxy's X-Forwarded-Uri (or X-Original-URL) the
        // check would judge gatehouse's own endpoint (POL-13). The other checks may be the original
        // request, passed on by a proxy, whose target is its path.
        if (incoming.headers[uriHeader] === undefined) return { run: () => text(400, 'Bad Request', 'deny', 'missing-forwarded-uri', { 'x-gatehouse-reason': 'missing-forwarded-uri' }), own: false };
        return { run: () => gateway.check(request, 'auth'), own: false };
      case '/oauth2/start':
        return { run: () => gateway.start(request), own: true };
      case '/oauth2/callback':
        return { run: () => gateway.callback(request), own: true };
      case '/oauth2/sign_in':
        return { run: () => gateway.signIn(request), own: true };
      case '/oauth2/sign_out':
        return { run: () => gateway.signOut(request), own: true };
      case '/oauth2/userinfo':
        return { run: () => gateway.userinfo(request), own: true };
      case '/oauth2/refresh':
        return { run: () => gateway.refresh(request), own: true };
      default:
        break;
    }
    if (request.endpointPath.startsWith('/oauth2/')) {
      return { run: () => text(404, 'Not Found', 'deny', 'not-found'), own: true };
    }
    return { run: () => gateway.check(request, 'proxy'), own: false };
  };

  let closing: Promise<void> | undefined;
  const app: App = {
    handle(request: HttpRequest, response: HttpResponse) {
      if (handleHealth(app, loaded, loggers, request, response)) return;
      // Timed only when something records the time.
      const started = metrics !== NO_METRICS || loggers.request.isLevelEnabled('info') ? process.hrtime.bigint() : 0n;
      const requestId = requestIdOf(request);
      const raw = request.url ?? '/';
      if (raw === '/robots.txt') {
        sendText(response, 200, ROBOTS);
        return;
      }
      if (publishedKeys !== undefined && raw === '/.well-known/jwks.json' && (request.method === 'GET' || request.method === 'HEAD')) {
        send(response, 200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' }, publishedKeys);
        return;
      }
      const repeated = repeatedSingleHeader(request.rawHeaders);
      if (repeated !== undefined) {
        // More than one Host (RFC 9112 §3.2) or Authorization: Node keeps the first silently, while the
        // proxy may pass both on to the application (DOS-08, JWT-30).
        const reason = repeated === 'host' ? 'bad-host' : 'bad-authorization';
        logRequest(loggers, request, response, started, { requestId, outcome: 'deny', reason });
        sendText(response, 400, 'Bad Request\n', { ...(reasonHeader ? { 'x-gatehouse-reason': reason } : {}), 'cache-control': 'no-store' });
        return;
      }
      const envoy = envoyPrefix !== '' && (raw === envoyPrefix || raw.startsWith(`${envoyPrefix}/`) || raw.startsWith(`${envoyPrefix}?`));
      const resolved = resolveRequest(
        envoy
          ? {
              // ext_authz: the original method, host and path (after the prefix) are the request's own. Only
              // the scheme and the client chain come from headers, and nothing else Envoy passes is read.
              method: request.method ?? 'GET',
              url: envoyTarget(raw, envoyPrefix),
              headers: { host: request.headers.host, 'x-forwarded-proto': request.headers['x-forwarded-proto'], 'x-forwarded-for': request.headers['x-forwarded-for'] },
              peerAddress: request.socket.remoteAddress ?? '',
              encrypted: false,
            }
          : { method: request.method ?? 'GET', url: raw, headers: request.headers, peerAddress: request.socket.remoteAddress ?? '', encrypted: false },
        trust,
      );
      if (!resolved.ok) {
        logRequest(loggers, request, response, started, { requestId, outcome: 'deny', reason: resolved.reason });
        sendText(response, 400, 'Bad Request\n', { ...(reasonHeader ? { 'x-gatehouse-reason': resolved.reason } : {}), 'cache-control': 'no-store' });
        return;
      }
      // The endpoint path is the one gatehouse received (absolute-form targets reduced to their path).
      const target = raw.startsWith('/') ? raw : raw.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '') || '/';
      const queryAt = target.indexOf('?');
      const endpointPath = queryAt === -1 ? target : target.slice(0, queryAt);
      const endpointSearch = queryAt === -1 ? '' : target.slice(queryAt);
      const gatewayRequest: GatewayRequest = {
        view: resolved.request,
        endpointPath: envoy ? envoyPrefix : endpointPath,
        // The query Envoy sends is the application's, not gatehouse's own parameters.
        endpointSearch: envoy ? '' : endpointSearch,
        query: envoy || endpointSearch === '' ? EMPTY_QUERY : new URLSearchParams(endpointSearch),
        headers: request.headers,
        jar: parseCookies(request.headers.cookie),
        requestId,
      };
      if (diagnoseToken !== undefined && isDiagnose(request.headers['x-gatehouse-diagnose'], diagnoseToken)) {
        logRequest(loggers, request, response, started, { requestId, outcome: 'deny', reason: 'diagnose' });
        sendJson(response, 403, diagnosis(request, resolved.request, trust.isTrusted(request.socket.remoteAddress ?? ''), gatewayRequest), { 'cache-control': 'no-store', 'x-gatehouse-reason': 'diagnose' });
        return;
      }
      const { run, own } = envoy ? { run: () => gateway.check(gatewayRequest, 'envoy'), own: false } : route(gatewayRequest, request);
      const checkTrace = tracing?.startCheck(request.method ?? 'GET', request.headers);
      const answer = (verdict: Verdict) => {
        const routeLabel = verdict.route ?? (own && verdict.reason !== 'not-found' ? `endpoint:${endpointPath}` : 'none');
        if (metrics !== NO_METRICS) metrics.check(verdict.outcome, verdict.reason, routeLabel, Number(process.hrtime.bigint() - started) / 1e9);
        if (loggers.request.isLevelEnabled('info')) logRequest(loggers, request, response, started, { requestId, host: resolved.request.host, uri: resolved.request.uri.split('?')[0], outcome: verdict.outcome, reason: verdict.reason, route: verdict.route, user: verdict.user });
        try {
          write(response, verdict, own);
        } catch (error) {
          // A header value Node refuses: fail closed, never crash the process.
          loggers.standard.error({ requestId, err: error instanceof Error ? error.message : String(error) }, 'could not write the answer');
          if (!response.headersSent) sendText(response, 500, 'Internal Server Error\n', { 'cache-control': 'no-store' });
        }
        checkTrace?.end({ outcome: verdict.outcome, reason: verdict.reason, route: routeLabel, status: response.statusCode });
      };
      const fail = (error: unknown) => {
        const storeDown = isGatewayError(error, 'ERR_SESSION_STORE_UNAVAILABLE');
        // Counted and timed like every other answer (outcome error), so an outage shows in the check metrics.
        if (metrics !== NO_METRICS) metrics.check('error', storeDown ? 'session-store-unavailable' : 'internal-error', own ? `endpoint:${endpointPath}` : 'none', Number(process.hrtime.bigint() - started) / 1e9);
        checkTrace?.end({ outcome: 'error', reason: storeDown ? 'session-store-unavailable' : 'internal-error', route: undefined, status: storeDown ? 503 : 500 });
        if (storeDown) {
          // The store is down: fail closed with 503, never an allow and never a silent logout (SESS-11).
          logStoreDown(error, { requestId });
          logRequest(loggers, request, response, started, { requestId, outcome: 'error', reason: 'session-store-unavailable' });
          if (!response.headersSent) sendText(response, 503, 'Service Unavailable\n', { 'cache-control': 'no-store', 'retry-after': '2', ...(reasonHeader ? { 'x-gatehouse-reason': 'session-store-unavailable' } : {}) });
          return;
        }
        // Fail closed: any unexpected error is a 500, never an allow (DOS-11).
        loggers.standard.error({ requestId, err: error instanceof Error ? { message: error.message, errorCode: (error as { code?: string }).code } : String(error) }, 'request failed');
        logRequest(loggers, request, response, started, { requestId, outcome: 'error', reason: 'internal-error' });
        if (!response.headersSent) sendText(response, 500, 'Internal Server Error\n', { 'cache-control': 'no-store' });
      };
      let outcome: Verdict | Promise<Verdict>;
      try {
        outcome = checkTrace === undefined ? run() : checkTrace.within(run);
      } catch (error) {
        fail(error);
        return;
      }
      // A verdict that needed no waiting is written at once, without a trip through the microtask queue,
      // unless the request declares a body. A forward-auth proxy sends none, so the whole body is read
      // first (a check reads nothing from it): a body whose framing is broken (a smuggling attempt) is then
      // refused by the parser as a whole (400) before anything is answered, even when it arrives in a later
      // packet (DOS-07). Envoy may stream the application's body after the check starts, and its check must
      // not wait for it: there the parser reads only what has arrived, one microtask later.
      const declaresBody = request.headers['transfer-encoding'] !== undefined || (request.headers['content-length'] ?? '0') !== '0';
      if (declaresBody && !envoy && !request.complete) {
        const pending = outcome;
        request.once('end', () => void Promise.resolve(pending).then(answer, fail));
        request.resume();
      } else if (outcome instanceof Promise) outcome.then(answer, fail);
      else if (declaresBody) void Promise.resolve(outcome).then(answer, fail);
      else answer(outcome);
    },
    ready: () => {
      const checks = [
        { name: 'identity provider', ...oidc.status() },
        ...profiles.all().map((profile) => ({ name: `bearer profile ${profile.name}`, ...profile.status() })),
        ...(sharedDenyList === undefined ? [] : [{ name: 'bearer deny-list (Redis)', ...sharedDenyList.status() }]),
      ];
      return store.ready().then((storeStatus) => {
        const all = [...checks, { name: 'session store', ...storeStatus }];
        return { ok: all.every((check) => check.ok), checks: all };
      });
    },
    ...(sharedDenyList === undefined ? {} : { denyListCopy: () => sharedDenyList.copy() }),
    close: () => (closing ??= runTeardown(teardown)),
  };
  // Checks of the profiles' tokens wait for the shared deny-list (503 until read): read it before serving,
  // for a moment at most, so a start or a reload with Redis up shows no such answer at all. A reload that
  // changed the provider settings waits a moment for the new discovery too, the previous configuration
  // serving meanwhile; a provider still unreachable after it is retried in the background, as at start.
  await Promise.all([
    sharedDenyList?.firstRead(2000),
    environment.previous === undefined || provider.reused ? undefined : oidc.ready(Math.min(config.provider.timeout, 5000)).catch(() => undefined),
  ]);
  // Only now, the build having succeeded, do the metrics read this configuration's state.
  metrics.jwksAges(() => profiles.all().map((profile) => ({ profile: profile.name, seconds: profile.jwksAgeSeconds() })));
  metrics.denyListState(sharedDenyList === undefined ? () => undefined : () => sharedDenyList.state());
  handovers.set(app, { provider: provider.provider });
  return app;
}
