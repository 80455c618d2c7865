/**
 * docs/proxies/traefik.md against Traefik's forwardAuth wire protocol: every ```yaml block of the recipe is
 * parsed and checked as what it is (a Traefik CRD object, the Traefik Helm values, or gatehouse's own
 * configuration in either form), so the recipe cannot drift from what Traefik and gatehouse do.
 *
 * Traefik facts relied on: `forwardAuth.address` is used verbatim (the original path is not appended);
 * with `trustForwardHeader: true` the `X-Forwarded-*` headers set by the entry point are kept; on a 2xx
 * answer each `authResponseHeaders` name is deleted from the request and copied from the answer; only the
 * cookies named in `addAuthCookiesToResponse` survive a 2xx answer; a higher router `priority` wins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ConfigError, formatProblems, isLoopbackHost, loadConfig, parseListenAddress, type Config, type LoadOptions } from '../../src/config/index.js';
import { identityHeaders } from '../../src/gateway/headers.js';
import type { Identity } from '../../src/identity/index.js';
import { chooseCookieDomain } from '../../src/session/index.js';
import { isObject as isMapping, list, object as mapping, text, type Json as Mapping } from '../deploy/support.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RECIPE = join(ROOT, 'docs/proxies/traefik.md');
/** Hosts the recipe protects; the /oauth2/ route and the cookie domain must cover them. */
const APP_HOSTS = ['grafana.homelab.example.com', 'traefik.homelab.example.com'];
/** Hosts the /oauth2/ route must not claim. */
const FOREIGN_HOSTS = ['homelab.example.com', 'example.com', 'grafana.homelab.example.com.evil.com'];
/** A 32-byte cookie secret, base64url. */
const COOKIE_SECRET = Buffer.alloc(32, 7).toString('base64url');

/** One ```yaml block of the recipe: its source text and its documents. */
interface Block {
  readonly line: number;
  readonly source: string;
  readonly documents: unknown[];
}

function yamlBlocks(): Block[] {
  const markdown = readFileSync(RECIPE, 'utf8');
  const blocks: Block[] = [];
  for (const match of markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)) {
    const source = match[1] ?? '';
    const line = markdown.slice(0, match.index).split('\n').length;
    const documents = parseAllDocuments(source).map((document) => {
      assert.deepEqual(document.errors.map((error) => error.message), [], `the yaml block at line ${line} does not parse`);
      return document.toJS() as unknown;
    });
    blocks.push({ line, source, documents });
  }
  return blocks;
}

/** What the recipe holds, sorted by kind. */
interface Recipe {
  readonly middlewares: Mapping[];
  readonly ingressRoutes: Mapping[];
  readonly helmValues: Mapping[];
  readonly gatehouseConfigs: { readonly line: number; readonly form: string; readonly config: Config }[];
}

/** Loads a configuration; an invalid one fails with every problem spelled out. */
function load(options: LoadOptions, where: string): Config {
  try {
    return loadConfig(options).config;
  } catch (error) {
    if (error instanceof ConfigError) assert.fail(`${where} is not a valid gatehouse configuration:\n${formatProblems(error.problems)}`);
    throw error;
  }
}

/** Loads a documented native configuration file, with `${VAR}` supplied and secret files written. */
function loadNativeConfig(source: string, where: string): Config {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-traefik-recipe-'));
  try {
    const env: NodeJS.ProcessEnv = {};
    for (const [, name = ''] of source.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) {
      if (name.endsWith('_FILE')) {
        const file = join(dir, name.toLowerCase());
        writeFileSync(file, name.includes('COOKIE') ? `${COOKIE_SECRET}\n` : 'example-client-secret\n');
        env[name] = file;
      } else env[name] = `example-${name.toLowerCase()}`;
    }
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, source);
    return load({ file, env }, where);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Loads a documented container environment; values from Secrets get stand-ins. */
function loadEnvConfig(entries: unknown[], where: string): Config {
  const env: NodeJS.ProcessEnv = {};
  entries.forEach((entry, index) => {
    const variable = mapping(entry, `env[${index}]`);
    const name = text(variable.name, `env[${index}].name`);
    if (variable.valueFrom !== undefined) env[name] = name.includes('COOKIE_SECRET') ? COOKIE_SECRET : `example-${name.toLowerCase()}`;
    else env[name] = text(variable.value, `env[${index}].value (${name})`);
  });
  return load({ env }, where);
}

function readRecipe(): Recipe {
  const recipe: Recipe = { middlewares: [], ingressRoutes: [], helmValues: [], gatehouseConfigs: [] };
  for (const block of yamlBlocks()) {
    for (const document of block.documents) {
      const where = `the yaml block at line ${block.line}`;
      const doc = mapping(document, where);
      if ('apiVersion' in doc) {
        assert.equal(doc.apiVersion, 'traefik.io/v1alpha1', `${where}: Traefik CRDs are traefik.io/v1alpha1`);
        if (doc.kind === 'Middleware') recipe.middlewares.push(doc);
        else if (doc.kind === 'IngressRoute') recipe.ingressRoutes.push(doc);
        else assert.fail(`${where}: kind '${String(doc.kind)}' is neither Middleware nor IngressRoute`);
      } else if ('ingressRoute' in doc) {
        recipe.helmValues.push(doc);
      } else if ('env' in doc) {
        recipe.gatehouseConfigs.push({ line: block.line, form: 'environment', config: loadEnvConfig(list(doc.env, `${where}: env`), where) });
      } else if ('listen' in doc || 'provider' in doc) {
        recipe.gatehouseConfigs.push({ line: block.line, form: 'native file', config: loadNativeConfig(block.source, where) });
      } else {
        assert.fail(`${where} is not a Traefik object, Traefik Helm values or a gatehouse configuration; teach this test what it is`);
      }
    }
  }
  return recipe;
}

let cached: Recipe | undefined;

/** The recipe, read once (inside a test, so a broken block fails that test with its message). */
function recipe(): Recipe {
  cached ??= readRecipe();
  return cached;
}

/** The one forwardAuth middleware and what its address says. */
function forwardAuth() {
  assert.equal(recipe().middlewares.length, 1, 'the recipe has exactly one Middleware');
  const middleware = recipe().middlewares[0]!;
  const metadata = mapping(middleware.metadata, 'Middleware metadata');
  const spec = mapping(mapping(middleware.spec, 'Middleware spec').forwardAuth, 'spec.forwardAuth');
  const address = new URL(text(spec.address, 'forwardAuth.address'));
  return {
    name: text(metadata.name, 'Middleware metadata.name'),
    namespace: text(metadata.namespace, 'Middleware metadata.namespace'),
    spec,
    address,
    port: address.port === '' ? 80 : Number(address.port),
  };
}

/** A middleware reference (`{ name, namespace }`) points at the forwardAuth middleware. */
function refersToForwardAuth(reference: unknown, defaultNamespace: string | undefined): boolean {
  if (!isMapping(reference)) return false;
  const { name, namespace } = forwardAuth();
  return reference.name === name && (reference.namespace ?? defaultNamespace) === namespace;
}

/** Header names gatehouse sends on an allowed check with these options, lower-case. */
function emittedHeaders(options: { authorization: boolean; xAuthRequest: boolean; accessToken: boolean }): Set<string> {
  const identity: Identity = {
    sub: 'auth0|1234',
    email: 'alice@farcaller.net',
    emailVerified: true,
    groups: ['admins'],
    username: 'alice',
    issuer: 'https://example.eu.auth0.com/',
    authMethod: 'session',
  };
  return new Set(Object.keys(identityHeaders(identity, { idToken: 'header.payload.signature', accessToken: 'access-token' }, options)).map((name) => name.toLowerCase()));
}

function authResponseHeaders(): string[] {
  return list(forwardAuth().spec.authResponseHeaders, 'forwardAuth.authResponseHeaders').map((name, index) => text(name, `authResponseHeaders[${index}]`));
}

/** A request as a Traefik router rule sees it: the host (without port) and the path (without query). */
type RuleMatcher = (host: string, path: string) => boolean;

/**
 * A Traefik v3 router rule as a predicate: `Host`, `HostRegexp`, `Path`, `PathPrefix` and `PathRegexp`,
 * combined with `&&`, `||`, `!` and parentheses (`!` binds tightest, then `&&`, then `||`). Any other
 * matcher fails the test, so a recipe change that this reading does not understand is noticed.
 */
function parseRule(rule: string): RuleMatcher {
  const tokens = [...rule.matchAll(/\s*(&&|\|\||!|\(|\)|[A-Za-z]+\((?:\s*`[^`]*`\s*,?)*\s*\))/gy)].map((match) => match[1] ?? '');
  assert.equal(tokens.join('').replace(/\s/g, ''), rule.replace(/\s/g, ''), `rule '${rule}': only matchers with backquoted arguments, &&, ||, ! and parentheses are understood`);
  let at = 0;
  const matcher = (token: string): RuleMatcher => {
    const name = /^[A-Za-z]+/.exec(token)?.[0] ?? '';
    const args = [...token.matchAll(/`([^`]*)`/g)].map((match) => match[1] ?? '');
    switch (name) {
      case 'Host':
        return (host) => args.some((wanted) => wanted.toLowerCase() === host.toLowerCase());
      case 'HostRegexp':
        return (host) => args.some((pattern) => new RegExp(pattern).test(host));
      case 'Path':
        return (_host, path) => args.includes(path);
      case 'PathPrefix':
        return (_host, path) => args.some((prefix) => path.startsWith(prefix));
      case 'PathRegexp':
        return (_host, path) => args.some((pattern) => new RegExp(pattern).test(path));
      default:
        return assert.fail(`rule '${rule}': the matcher ${name} is not understood here; teach this test what it does`);
    }
  };
  const primary = (): RuleMatcher => {
    const token = tokens[at++];
    if (token === '!') {
      const inner = primary();
      return (host, path) => !inner(host, path);
    }
    if (token === '(') {
      const inner = either();
      assert.equal(tokens[at++], ')', `rule '${rule}': unbalanced parentheses`);
      return inner;
    }
    assert.ok(token !== undefined && /^[A-Za-z]/.test(token), `rule '${rule}': a matcher expected at token ${at}`);
    return matcher(token);
  };
  const both = (): RuleMatcher => {
    let left = primary();
    while (tokens[at] === '&&') {
      at++;
      const [first, second] = [left, primary()];
      left = (host, path) => first(host, path) && second(host, path);
    }
    return left;
  };
  const either = (): RuleMatcher => {
    let left = both();
    while (tokens[at] === '||') {
      at++;
      const [first, second] = [left, both()];
      left = (host, path) => first(host, path) || second(host, path);
    }
    return left;
  };
  const whole = either();
  assert.equal(at, tokens.length, `rule '${rule}': unexpected '${tokens[at] ?? ''}'`);
  return whole;
}

/** The match rule of the one route for `PathPrefix(`/oauth2/`)`. */
function oauth2Rule(): string {
  const rules = recipe()
    .ingressRoutes.flatMap((ingressRoute) => list(mapping(ingressRoute.spec, 'IngressRoute spec').routes, 'IngressRoute spec.routes'))
    .map((entry) => text(mapping(entry, 'route').match, 'route match'))
    .filter((match) => match.includes('PathPrefix(`/oauth2/`)'));
  assert.equal(rules.length, 1, 'exactly one route for PathPrefix(`/oauth2/`)');
  return rules[0]!;
}

test('the Middleware calls gatehouse at its Service address, in proxy mode or on /oauth2/auth', () => {
  const { address } = forwardAuth();
  assert.equal(address.protocol, 'http:', 'inside the cluster gatehouse is reached over plain http');
  assert.ok(['/', '/oauth2/auth'].includes(address.pathname), `address path '${address.pathname}': Traefik does not append the original path, so use / (proxy mode) or /oauth2/auth`);
  assert.equal(address.username + address.password, '', 'no credentials in the address');
  assert.match(
    address.hostname,
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?\.[a-z0-9]([a-z0-9-]*[a-z0-9])?\.svc(\.cluster\.local)?$/,
    'the address must be a Service DNS name (<service>.<namespace>.svc.cluster.local): through an ingress host Traefik strips X-Forwarded-* from its own call',
  );
});

test('the Middleware keeps the forwarded headers and copies every identity header gatehouse sends', () => {
  const { spec } = forwardAuth();
  assert.equal(spec.trustForwardHeader, true, 'trustForwardHeader: true, or gatehouse never learns the original host and path');
  const listed = new Set(authResponseHeaders().map((name) => name.toLowerCase()));
  const required = [...emittedHeaders({ authorization: true, xAuthRequest: true, accessToken: false })].filter(
    (name) => name === 'authorization' || name.startsWith('x-auth-request-'),
  );
  assert.ok(required.length >= 5, `gatehouse's identity headers were not found: ${required.join(', ')}`);
  for (const name of required) assert.ok(listed.has(name), `authResponseHeaders lacks ${name}, which gatehouse sends`);
  const everything = emittedHeaders({ authorization: true, xAuthRequest: true, accessToken: true });
  for (const name of listed) assert.ok(everything.has(name), `authResponseHeaders lists ${name}, which gatehouse never sends (Traefik would only delete it)`);
});

test('exactly one IngressRoute sends /oauth2/ on every app host to the same Service and port, unprotected', () => {
  const middleware = forwardAuth();
  const [service, namespace] = middleware.address.hostname.split('.');
  const oauth2Routes: { route: Mapping; routeNamespace: string }[] = [];
  for (const ingressRoute of recipe().ingressRoutes) {
    const metadata = mapping(ingressRoute.metadata, 'IngressRoute metadata');
    const spec = mapping(ingressRoute.spec, 'IngressRoute spec');
    for (const route of list(spec.routes, 'IngressRoute spec.routes').map((entry) => mapping(entry, 'route'))) {
      if (text(route.match, 'route match').includes('PathPrefix(`/oauth2/`)')) {
        assert.deepEqual(spec.entryPoints, ['websecure'], 'the /oauth2/ route is served on websecure only: login and cookies never over plain http');
        oauth2Routes.push({ route, routeNamespace: text(metadata.namespace, 'IngressRoute metadata.namespace') });
      }
    }
  }
  assert.equal(oauth2Routes.length, 1, 'exactly one route for PathPrefix(`/oauth2/`)');
  const { route, routeNamespace } = oauth2Routes[0]!;
  const match = text(route.match, 'route match');
  assert.equal(route.kind, 'Rule');
  const hostRegexp = /HostRegexp\(`([^`]+)`\)/.exec(match)?.[1];
  assert.ok(hostRegexp !== undefined, 'the /oauth2/ route matches every app host with HostRegexp');
  const hosts = new RegExp(hostRegexp);
  for (const host of APP_HOSTS) assert.ok(hosts.test(host), `${hostRegexp} must match ${host}`);
  for (const host of FOREIGN_HOSTS) assert.ok(!hosts.test(host), `${hostRegexp} must not match ${host}`);
  assert.equal(typeof route.priority, 'number', 'an explicit priority: the default (the rule length) can lose to an app route');
  assert.ok((route.priority as number) >= 1000, 'a higher priority wins in Traefik; keep the /oauth2/ route above every app route on its host');
  const middlewares = route.middlewares === undefined ? [] : list(route.middlewares, 'route middlewares');
  for (const reference of middlewares) {
    assert.notEqual(mapping(reference, 'middleware reference').name, 'auth-headers', 'gatehouse sends the security headers on /oauth2/ itself');
    assert.ok(!refersToForwardAuth(reference, routeNamespace), 'the login endpoints must not sit behind the forwardAuth middleware');
  }
  const services = list(route.services, 'route services').map((entry) => mapping(entry, 'route service'));
  assert.equal(services.length, 1, 'one backend: gatehouse');
  const backend = services[0]!;
  assert.ok(backend.kind === undefined || backend.kind === 'Service', 'a Kubernetes Service backend');
  assert.equal(backend.name, service, 'the same Service as the Middleware address');
  assert.equal(backend.namespace ?? routeNamespace, namespace, 'the same namespace as the Middleware address');
  assert.equal(backend.port, middleware.port, 'the same port as the Middleware address');
});

test("the /oauth2/ route takes gatehouse's browser endpoints but never /oauth2/auth, whose answer carries the ID token", () => {
  // Open to browsers, /oauth2/auth would hand a page script the identity headers and Authorization: Bearer
  // <ID token>, which the HttpOnly session cookie keeps out of its reach. The middleware itself calls the
  // Service address, never through this route.
  const rule = oauth2Rule();
  const matches = parseRule(rule);
  for (const host of APP_HOSTS) {
    for (const path of ['/oauth2/start', '/oauth2/callback', '/oauth2/sign_in', '/oauth2/sign_out', '/oauth2/refresh']) assert.ok(matches(host, path), `${rule} must take ${host}${path}`);
    assert.ok(!matches(host, '/oauth2/auth'), `${rule} must not take ${host}/oauth2/auth`);
    for (const path of ['/', '/d/home', '/oauth2']) assert.ok(!matches(host, path), `${rule} must not take ${host}${path}`);
  }
  for (const host of FOREIGN_HOSTS) assert.ok(!matches(host, '/oauth2/start'), `${rule} must not take ${host}/oauth2/start`);
});

test('the rule reading understands what it is given', () => {
  const rule = parseRule('HostRegexp(`^a\\.example$`) && PathPrefix(`/x/`) && !(Path(`/x/y`) || Host(`b.example`))');
  assert.equal(rule('a.example', '/x/z'), true);
  assert.equal(rule('a.example', '/x/y'), false);
  assert.equal(rule('b.example', '/x/z'), false);
  assert.equal(rule('a.example', '/z'), false);
  assert.throws(() => parseRule('Header(`x`, `y`)'), /not understood/);
  assert.throws(() => parseRule('Path(`/x`) &&'), /matcher expected/);
});

test('application routes and the dashboard use the forwardAuth middleware on websecure', () => {
  for (const ingressRoute of recipe().ingressRoutes) {
    const metadata = mapping(ingressRoute.metadata, 'IngressRoute metadata');
    const spec = mapping(ingressRoute.spec, 'IngressRoute spec');
    for (const route of list(spec.routes, 'routes').map((entry) => mapping(entry, 'route'))) {
      if (text(route.match, 'route match').includes('PathPrefix(`/oauth2/`)')) continue;
      assert.deepEqual(spec.entryPoints, ['websecure'], `${String(metadata.name)}: websecure only`);
      const middlewares = list(route.middlewares, `${String(metadata.name)}: route middlewares`);
      assert.ok(middlewares.some((reference) => refersToForwardAuth(reference, metadata.namespace as string | undefined)), `${String(metadata.name)} must use the forwardAuth middleware`);
    }
  }
  assert.equal(recipe().helmValues.length, 1, 'the Traefik Helm values for the dashboard');
  const values = recipe().helmValues[0]!;
  const dashboard = mapping(mapping(values.ingressRoute, 'ingressRoute').dashboard, 'ingressRoute.dashboard');
  const middlewares = list(dashboard.middlewares, 'ingressRoute.dashboard.middlewares');
  for (const reference of middlewares) mapping(reference, 'a dashboard middleware (the chart wants name and namespace objects)');
  assert.ok(middlewares.some((reference) => refersToForwardAuth(reference, undefined)), 'the dashboard uses the forwardAuth middleware, by name and namespace');
  if (dashboard.entryPoints !== undefined) assert.deepEqual(dashboard.entryPoints, ['websecure']);
  const crd = mapping(mapping(values.providers, 'providers').kubernetesCRD, 'providers.kubernetesCRD');
  assert.equal(crd.allowCrossNamespace, true, 'the dashboard route refers to a middleware in another namespace');
});

test('the documented gatehouse configuration matches the Middleware', () => {
  const middleware = forwardAuth();
  const { gatehouseConfigs } = recipe();
  assert.ok(gatehouseConfigs.length > 0, 'the recipe shows gatehouse configuration');
  const defaultListen = parseListenAddress(loadConfig({ env: {} }).config.listen);
  assert.equal(defaultListen?.port, 4180, "gatehouse's default port changed; update the recipe");
  const cookies = middleware.spec.addAuthCookiesToResponse === undefined ? undefined : list(middleware.spec.addAuthCookiesToResponse, 'addAuthCookiesToResponse');
  for (const { line, form, config } of gatehouseConfigs) {
    const where = `the ${form} at line ${line}`;
    const listen = parseListenAddress(config.listen);
    assert.ok(listen !== undefined, `${where}: listen`);
    assert.equal(listen.port, middleware.port, `${where}: gatehouse listens on the port the Middleware calls`);
    assert.ok(!isLoopbackHost(listen.host), `${where}: Traefik runs in another pod, so gatehouse must not listen on loopback`);
    assert.equal(config.proxy.reverseProxy, true, `${where}: without reverseProxy gatehouse ignores X-Forwarded-*`);
    assert.ok(config.proxy.trusted.length > 0, `${where}: name Traefik's network in proxy.trusted`);
    assert.ok(config.proxy.redirectUrl === '' || config.proxy.redirectUrl.startsWith('/'), `${where}: a relative callback, so it lands on each app host's /oauth2/ route`);
    for (const host of APP_HOSTS) assert.notEqual(chooseCookieDomain(host, config.cookie.domains), undefined, `${where}: one session cookie for ${host}`);
    const sent = emittedHeaders(config.identityHeaders);
    for (const name of authResponseHeaders()) assert.ok(sent.has(name.toLowerCase()), `${where}: the Middleware copies ${name}, which this configuration does not send`);
    if (cookies !== undefined) assert.ok(cookies.includes(config.cookie.name), `${where}: addAuthCookiesToResponse must name the session cookie '${config.cookie.name}'`);
  }
});
