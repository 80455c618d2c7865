/**
 * The proxy recipes of docs/proxies/ at the edges of the sign-in, run for real: Caddy and nginx in front of
 * a built gatehouse, headless Chromium and the development OpenID Provider, all on loopback (the stacks of
 * support/stack.ts).
 *
 * - `/oauth2/auth` is the proxy's alone: its allowed answer carries `Authorization: Bearer <ID token>` and
 *   the identity, so no page script may fetch it.
 * - nginx's second ask (`@gatehouse`) is about the original request: a fixed path without the browser's
 *   query, so an application's `/ready` or `?policy=` never reaches gatehouse as its own.
 * - ingress-nginx sends the browser to `auth-signin` on every 401 of the check; the recipe points it at
 *   `/oauth2/refresh`, which renews a session that is only due a refresh and signs in anyone else.
 *   ingress-nginx is not run: the nginx stack, and the check asked of gatehouse directly as ingress-nginx
 *   asks it, stand in for it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { parseAllDocuments } from 'yaml';
import { launchBrowser, newContext, rawRequest, readEcho, recordRequests, signInAtIdp } from './support/browser.js';
import { ROOT } from './support/build.js';
import { GRAFANA_HOST, REFRESH_SECONDS } from './support/gatehouse.js';
import { startStack, type ProxyKind, type Stack } from './support/stack.js';
import { hasOpenssl } from './support/tls.js';

const NAVIGATION = { accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate' };
/** Someone in many groups: the session is split over several cookies. */
const MANY_GROUPS = Array.from({ length: 120 }, (_, index) => `homelab-group-${String(index).padStart(3, '0')}`);
/** gatehouse's endpoints for browsers, which the recipes route to it on every protected host. */
const BROWSER_ENDPOINTS = ['/oauth2/start', '/oauth2/callback', '/oauth2/refresh', '/oauth2/sign_out'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything a describe block needs: the stack, a browser, and log helpers. */
function scene(proxy: ProxyKind) {
  const state = {} as { stack: Stack; browser: Browser | undefined };
  before(async () => {
    state.stack = await startStack(proxy);
    state.browser = await launchBrowser();
  });
  after(async () => {
    const closed = await Promise.allSettled([state.browser?.close()]);
    await (state.stack as Stack | undefined)?.stop();
    for (const result of closed) if (result.status === 'rejected') throw result.reason;
  });
  const authLog = (message: string, user: string) => state.stack.gatehouse.logs().filter((line) => line.log === 'auth' && line.msg === message && line.user === user);
  /** How many of `user`'s lines carry `message`, once there are `count` or after 2 s (lines come through a pipe). */
  const authLogCount = async (message: string, user: string, count: number) => {
    for (let waited = 0; authLog(message, user).length < count && waited < 2000; waited += 25) await sleep(25);
    return authLog(message, user).length;
  };
  /** Sleeps until a refresh of `user`'s session is due (after the sign-in's log line has come through). */
  const waitForRefreshDue = async (user: string) => {
    assert.ok((await authLogCount('login succeeded', user, 1)) >= 1, `${user} never signed in`);
    const times = [...authLog('login succeeded', user), ...authLog('session refreshed', user)].map((line) => Date.parse(String(line.time)));
    const wait = Math.max(...times) + REFRESH_SECONDS * 1000 + 500 - Date.now();
    if (wait > 0) await sleep(wait);
  };
  /** A fresh browser profile signed in as `email` on `path` of Grafana. */
  const signedIn = async (email: string, groups: string, path: string): Promise<{ context: BrowserContext; page: Page; visited: ReturnType<typeof recordRequests> }> => {
    const context = await newContext(state.browser!);
    const visited = recordRequests(context);
    const page = await context.newPage();
    const wanted = state.stack.url(GRAFANA_HOST, path);
    await page.goto(wanted);
    await signInAtIdp(page, email, groups);
    await page.waitForURL(wanted);
    return { context, page, visited };
  };
  const idpVisits = (urls: readonly string[]) => urls.filter((url) => url.startsWith(state.stack.idp.issuer));
  const cookieHeader = async (context: BrowserContext) =>
    (await context.cookies(state.stack.url(GRAFANA_HOST, '/')))
      .filter((cookie) => !cookie.name.includes('_tx_'))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  const raw = (path: string, headers: Record<string, string> = {}) => rawRequest({ port: state.stack.port, host: GRAFANA_HOST, path, caPem: state.stack.caPem, headers });
  return { state, authLog, authLogCount, waitForRefreshDue, signedIn, idpVisits, cookieHeader, raw };
}

/** A plain HTTP request straight to gatehouse, as a proxy on loopback (a trusted peer) would send it. */
function askGatehouse(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    });
    request.setTimeout(15_000, () => request.destroy(new Error(`no answer to GET ${path} within 15 s`)));
    request.on('error', reject);
    request.end();
  });
}

/** A script on the page asks for /oauth2/auth and reports what it could read of the answer. */
function fetchCheckFromPage(page: Page, forwardedUri: string) {
  return page.evaluate(async (uri) => {
    const response = await fetch('/oauth2/auth', { headers: { 'x-forwarded-uri': uri, 'x-original-url': uri } });
    return { status: response.status, authorization: response.headers.get('authorization'), email: response.headers.get('x-auth-request-email') };
  }, forwardedUri);
}

type Mapping = Record<string, unknown>;
const isMapping = (value: unknown): value is Mapping => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What docs/proxies/ingress-nginx.md configures: the protected Ingress's annotations and the /oauth2 Ingress's paths. */
function ingressNginxRecipe(): { authUrl: string; authSignin: string; oauth2Paths: { path: string; pathType: string; service: string }[] } {
  const markdown = readFileSync(join(ROOT, 'docs/proxies/ingress-nginx.md'), 'utf8');
  const ingresses = [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)]
    .flatMap((match) => parseAllDocuments(match[1] ?? '').map((document) => document.toJS() as unknown))
    .filter((document): document is Mapping => isMapping(document) && document.kind === 'Ingress');
  const annotated = ingresses.filter((ingress) => isMapping(ingress.metadata) && isMapping(ingress.metadata.annotations));
  assert.equal(annotated.length, 1, 'one protected Ingress, with the auth annotations');
  const annotations = (annotated[0]!.metadata as Mapping).annotations as Mapping;
  const oauth2 = ingresses.filter((ingress) => !annotated.includes(ingress));
  assert.equal(oauth2.length, 1, 'one Ingress for gatehouse\'s browser endpoints');
  const rules = (oauth2[0]!.spec as { rules: { http: { paths: { path: string; pathType: string; backend: { service: { name: string } } }[] } }[] }).rules;
  return {
    authUrl: String(annotations['nginx.ingress.kubernetes.io/auth-url']),
    authSignin: String(annotations['nginx.ingress.kubernetes.io/auth-signin']),
    oauth2Paths: rules.flatMap((rule) => rule.http.paths.map((entry) => ({ path: entry.path, pathType: entry.pathType, service: entry.backend.service.name }))),
  };
}

/** The documented `auth-signin` URL as ingress-nginx fills it in for a request to `uri` on `host`. */
function authSigninFor(host: string, uri: string): string {
  return ingressNginxRecipe().authSignin.replace('$host', host).replace('$escaped_request_uri', encodeURIComponent(uri));
}

test('docs/proxies/ingress-nginx.md routes only the browser endpoints to gatehouse, never /oauth2/auth, and auth-signin is /oauth2/refresh', () => {
  const { authUrl, authSignin, oauth2Paths } = ingressNginxRecipe();
  assert.equal(new URL(authUrl).pathname, '/oauth2/auth', 'the check itself goes to the Service, outside any Ingress');
  for (const { path, pathType, service } of oauth2Paths) {
    // Exact: a Prefix path such as /oauth2 would also take /oauth2/auth.
    assert.equal(pathType, 'Exact', `${path}: ${pathType}`);
    assert.notEqual(path, '/oauth2/auth', 'the check must not be open to browsers: its answer carries the ID token');
    assert.equal(service, 'gatehouse');
  }
  assert.deepEqual(oauth2Paths.map((entry) => entry.path).sort(), [...BROWSER_ENDPOINTS].sort());
  const signin = new URL(authSignin.replace('$host', GRAFANA_HOST).replace('$escaped_request_uri', '%2Fx'));
  assert.equal(signin.pathname, '/oauth2/refresh', 'a 401 for a session due a refresh must renew it, not end it (/oauth2/start ends it)');
  assert.equal(signin.searchParams.get('rd'), '/x');
  assert.ok(oauth2Paths.some((entry) => entry.path === signin.pathname), 'auth-signin is routed to gatehouse');
});

const haveNginx = existsSync('/usr/sbin/nginx') && existsSync('/usr/bin/chromium') && hasOpenssl();
const haveCaddy = existsSync('/usr/bin/caddy') && existsSync('/usr/bin/chromium');

if (haveNginx) {
  describe('the nginx recipe at the edges of the sign-in (real nginx)', () => {
    const { state, authLog, authLogCount, waitForRefreshDue, signedIn, idpVisits, cookieHeader, raw } = scene('nginx');

    test('location = /oauth2/auth is internal: a browser asking for the check gets 404, never the identity', async () => {
      const answer = await raw('/oauth2/auth', { 'x-forwarded-uri': '/', accept: 'application/json' });
      assert.equal(answer.status, 404);
      assert.equal(answer.headers.authorization, undefined);
      assert.equal(answer.headers['x-gatehouse-login'], undefined);
      const { context, page } = await signedIn('grace.nginx@farcaller.net', 'admins', '/grace');
      try {
        const seen = await fetchCheckFromPage(page, '/grace');
        assert.deepEqual(seen, { status: 404, authorization: null, email: null });
      } finally {
        await context.close();
      }
    });

    test('a visitor without a session asking an application for /ready, /ping or /robots.txt is sent to sign in', async () => {
      // @gatehouse asks gatehouse at /, so these are the application's paths, never gatehouse's endpoints.
      const hitsBefore = state.stack.grafana.received.length;
      const answers: Record<string, string> = {};
      for (const path of ['/ready', '/ping', '/robots.txt']) {
        const answer = await raw(path, NAVIGATION);
        answers[path] = `${answer.status} ${String(answer.headers.location ?? answer.body.trim().slice(0, 40))}`;
      }
      for (const path of Object.keys(answers)) {
        assert.match(answers[path] ?? '', new RegExp(`^302 https://${GRAFANA_HOST.replace(/\./g, '\\.')}:${state.stack.port}/oauth2/start\\?rd=${encodeURIComponent(path)}$`), `${path}: ${JSON.stringify(answers)}`);
      }
      assert.equal(state.stack.grafana.received.length, hitsBefore);
    });

    test('a visitor without a session on a page whose own query says policy= is sent to sign in, with that query kept', async () => {
      // @gatehouse sends none of the browser's query to gatehouse; the page's URL travels in X-Forwarded-Uri.
      const answer = await raw('/search?policy=recent&q=cpu', NAVIGATION);
      assert.equal(answer.status, 302, `${answer.status} ${String(answer.headers['x-gatehouse-reason'])}`);
      assert.match(String(answer.headers.location), new RegExp(`/oauth2/start\\?rd=${encodeURIComponent('/search?policy=recent&q=cpu')}$`));
    });

    test('a script without a session gets 401 JSON, and a host the deployment does not serve gets the 403 page', async () => {
      const script = await raw('/api/dashboards/home', { accept: 'application/json' });
      assert.equal(script.status, 401);
      assert.match(String(script.headers['content-type']), /^application\/json/);
      assert.equal((JSON.parse(script.body) as { error?: string }).error, 'unauthenticated');
      const foreign = await raw('/', { ...NAVIGATION, host: `grafana.example.org:${state.stack.port}` });
      assert.equal(foreign.status, 403);
      assert.equal(foreign.headers['x-gatehouse-reason'], 'host-not-allowed');
      assert.match(String(foreign.headers['content-type']), /^text\/html/);
      assert.match(foreign.body, /not one of this gateway/);
    });

    test('a page load due a refresh is sent through /oauth2/refresh (X-Gatehouse-Login) and comes back without the provider', async () => {
      const heidi = 'heidi@farcaller.net';
      const { context, page, visited } = await signedIn(heidi, 'family', '/heidi');
      try {
        await waitForRefreshDue(heidi);
        const refreshes = authLog('session refreshed', heidi).length;
        const path = '/heidi/next?x=1';
        const answer = await raw(path, { ...NAVIGATION, cookie: await cookieHeader(context) });
        assert.equal(answer.status, 302, `${answer.status} ${String(answer.headers['x-gatehouse-reason'])}`);
        assert.equal(answer.headers.location, `https://${GRAFANA_HOST}:${state.stack.port}/oauth2/refresh?rd=${encodeURIComponent(path)}`);
        const mark = visited.urls.length;
        const wanted = state.stack.url(GRAFANA_HOST, path);
        await page.goto(wanted);
        assert.equal(page.url(), wanted);
        assert.ok(visited.since(mark).some((url) => url.includes('/oauth2/refresh?')), visited.since(mark).join(' '));
        assert.deepEqual(idpVisits(visited.since(mark)), []);
        assert.equal(await authLogCount('session refreshed', heidi, refreshes + 1), refreshes + 1);
        assert.equal(authLog('login succeeded', heidi).length, 1);
        assert.equal((await readEcho(page)).headers['x-auth-request-email'], heidi);
      } finally {
        await context.close();
      }
    });

    test('ingress-nginx: a page load due a refresh follows auth-signin (/oauth2/refresh) and keeps the session, without the provider', async () => {
      // ingress-nginx sends the browser to auth-signin on every 401 of /oauth2/auth and does not read
      // X-Gatehouse-Login; gatehouse answers a page load due a refresh with exactly such a 401.
      const erin = 'erin@farcaller.net';
      const { context, page, visited } = await signedIn(erin, 'family', '/erin');
      try {
        await waitForRefreshDue(erin);
        const check = await askGatehouse(state.stack.gatehouse.port, '/oauth2/auth', {
          host: 'gatehouse.gatehouse.svc.cluster.local:4180',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': `${GRAFANA_HOST}:${state.stack.port}`,
          'x-forwarded-uri': '/erin/next',
          'x-forwarded-method': 'GET',
          cookie: await cookieHeader(context),
          ...NAVIGATION,
        });
        assert.equal(check.status, 401);
        assert.match(String(check.headers['x-gatehouse-login']), /\/oauth2\/refresh\?rd=/);
        const mark = visited.urls.length;
        const logins = authLog('login succeeded', erin).length;
        const refreshes = authLog('session refreshed', erin).length;
        await page.goto(authSigninFor(`${GRAFANA_HOST}:${state.stack.port}`, '/erin/next'));
        await page.waitForURL(state.stack.url(GRAFANA_HOST, '/erin/next'));
        assert.deepEqual(idpVisits(visited.since(mark)), [], 'the provider was visited for what was only a refresh');
        assert.equal(authLog('login succeeded', erin).length, logins, 'a new sign-in replaced a session that only needed a refresh');
        assert.equal(await authLogCount('session refreshed', erin, refreshes + 1), refreshes + 1);
        assert.equal((await readEcho(page)).headers['x-auth-request-email'], erin);
      } finally {
        await context.close();
      }
    });

    test('ingress-nginx: without a session, auth-signin (/oauth2/refresh) signs in and comes back to the page', async () => {
      const ivan = 'ivan@farcaller.net';
      const context = await newContext(state.browser!);
      try {
        const visited = recordRequests(context);
        const page = await context.newPage();
        await page.goto(authSigninFor(`${GRAFANA_HOST}:${state.stack.port}`, '/ivan/page?x=1'));
        assert.ok(page.url().startsWith(state.stack.idp.issuer), `not at the provider: ${page.url()}`);
        await signInAtIdp(page, ivan, 'family');
        await page.waitForURL(state.stack.url(GRAFANA_HOST, '/ivan/page?x=1'));
        assert.ok(visited.urls.some((url) => url.includes('/oauth2/refresh?')));
        assert.equal(await authLogCount('login succeeded', ivan, 1), 1);
        assert.equal((await readEcho(page)).headers['x-auth-request-email'], ivan);
      } finally {
        await context.close();
      }
    });
  });
} else {
  test('the nginx recipe at the edges of the sign-in (real nginx)', () => {
    assert.fail('needs /usr/sbin/nginx, /usr/bin/chromium and openssl');
  });
}

if (haveCaddy) {
  describe('the Caddy recipe at the edges of the sign-in (real Caddy)', () => {
    const { state, signedIn, cookieHeader, raw } = scene('caddy');

    test('identity headers and X-Forwarded-* a client sends never change what the check judges', async () => {
      const mark = state.stack.gatehouse.logs().length;
      const answer = await raw('/admin/secret', {
        ...NAVIGATION,
        'x-forwarded-uri': '/oauth2/callback',
        'x-forwarded-method': 'OPTIONS',
        'x-forwarded-host': 'evil.example.com',
        'x-forwarded-proto': 'http',
      });
      assert.equal(answer.status, 302);
      // The test's non-default port is outside the redirect allow-list, so rd is the path alone here.
      assert.equal(answer.headers.location, `https://${GRAFANA_HOST}:${state.stack.port}/oauth2/start?rd=${encodeURIComponent('/admin/secret')}`);
      await sleep(200);
      const checks = state.stack.gatehouse.logs().slice(mark).filter((line) => line.log === 'request');
      assert.ok(checks.some((line) => line.uri === '/admin/secret' && line.host === GRAFANA_HOST), JSON.stringify(checks));
      assert.ok(!checks.some((line) => line.uri === '/oauth2/callback' || line.host === 'evil.example.com'), JSON.stringify(checks));
    });

    test('signing out clears every cookie of a session split over several', async () => {
      const { context } = await signedIn('frank@farcaller.net', MANY_GROUPS.join(', '), '/frank');
      try {
        const chunks = (await context.cookies()).filter((cookie) => /^_gatehouse_\d$/.test(cookie.name)).map((cookie) => cookie.name);
        assert.ok(chunks.length >= 2, chunks.join(', '));
        const answer = await raw('/oauth2/sign_out?rd=/', { cookie: await cookieHeader(context) });
        assert.equal(answer.status, 302);
        assert.equal(answer.headers.location, '/');
        const setCookie = answer.headers['set-cookie'];
        const lines = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
        const cleared = lines.filter((line) => /Max-Age=0/.test(line)).map((line) => line.split('=')[0] ?? '');
        for (const name of chunks) assert.ok(cleared.includes(name), `${name} not cleared: ${cleared.join(', ')}`);
      } finally {
        await context.close();
      }
    });

    test("/oauth2/auth answers 404 to browsers: a page script cannot read the session's ID token or identity", async () => {
      const { context, page } = await signedIn('grace@farcaller.net', 'admins', '/grace');
      try {
        const seen = await fetchCheckFromPage(page, '/grace');
        assert.deepEqual(seen, { status: 404, authorization: null, email: null });
        // Other spellings of the path are not the check either.
        for (const path of ['/OAUTH2/AUTH', '/oauth2/%61uth', '/oauth2//auth', '/oauth2/auth/', '/oauth2/auth?x=1']) {
          const answer = await raw(path, { cookie: await cookieHeader(context), 'x-forwarded-uri': '/grace', accept: 'application/json' });
          assert.equal(answer.headers.authorization, undefined, `${path}: ${answer.status}`);
          assert.equal(answer.headers['x-auth-request-email'], undefined, `${path}: ${answer.status}`);
        }
        // The forward_auth check itself still passes the identity on to the application.
        await page.goto(state.stack.url(GRAFANA_HOST, '/grace/again'));
        assert.equal((await readEcho(page)).headers['x-auth-request-email'], 'grace@farcaller.net');
      } finally {
        await context.close();
      }
    });
  });
} else {
  test('the Caddy recipe at the edges of the sign-in (real Caddy)', () => {
    assert.fail('needs /usr/bin/caddy and /usr/bin/chromium');
  });
}
