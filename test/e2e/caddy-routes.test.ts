/**
 * Routes and policies through real Caddy (`forward_auth`, the recipe of docs/proxies/caddy.md plus a test-only
 * site for the device host): a public health check, an admins-only Traefik dashboard under every spelling of
 * its path, address rules, a rule in audit mode, and the seed's HomeKit device token posting to vminsert.
 * People sign in with headless Chromium at the development provider; scripts and devices are raw HTTPS
 * requests through Caddy. Through Caddy on one machine the client address gatehouse sees is loopback, so
 * each address rule either admits or excludes loopback on purpose.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser, newContext, rawRequest, readEcho, recordRequests, screenshot, signInAtIdp, type RawResponse } from './support/browser.js';
import { GRAFANA_HOST, TRAEFIK_HOST } from './support/gatehouse.js';
import { VMINSERT_HOST, startRoutesStack, type RoutesHost, type RoutesStack } from './support/routes.js';
import type { EchoedRequest } from './support/upstream.js';

const ALICE = 'alice@farcaller.net';
const BOB = 'bob@farcaller.net';
/** Bob's groups: none of them opens the dashboard; none may appear on the page that refuses him. */
const BOB_GROUPS = ['family', 'grafana-viewers'];
const HTML = 'text/html,application/xhtml+xml';
/** Words of the configuration that a refusal page must never show. */
const POLICY_WORDS = /admins|grafana-editors|traefik-admin|grafana-admin|group-not-allowed|allow-expression|192\.168|cidr|require/i;
/** The seed's import path (VictoriaMetrics cluster, tenant 0). */
const IMPORT_PATH = '/insert/0/prometheus/api/v1/import/prometheus';


/**
 * The dashboard path as someone might spell it to slip past a rule on `/dashboard/**`. Each is sent to
 * gatehouse by Caddy as it is; gatehouse normalizes it to a path under `/dashboard`.
 */
const DASHBOARD_SPELLINGS = ['/dashboard/../dashboard/x', '/%64ashboard/', '/dashboard/%2e%2e/dashboard/x', '/DashBoard/', '//dashboard/', '/./dashboard/', '/dashboard;x=1/', '/other/../dashboard/'];

if (existsSync('/usr/bin/caddy') && existsSync('/usr/bin/chromium')) {
  describe('routes and policies through caddy', () => {
    let stack: RoutesStack;
    let browser: Browser | undefined;
    /** Alice is in admins. Her browser profile is shared by the tests in order. */
    let alice: BrowserContext;
    let alicePage: Page;
    /** Bob is not. */
    let bob: BrowserContext;
    let bobPage: Page;

    const shot = (page: Page, name: string) => screenshot(page, `caddy-routes-${name}`);
    const raw = (host: RoutesHost, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> =>
      rawRequest({ port: stack.port, host, path, caPem: stack.caPem, ...options });
    /**
     * What reached `upstream` since the index `since`, but the favicon: Chromium asks for /favicon.ico after
     * every page, and on Grafana a signed-in person may fetch it.
     */
    const reachedSince = (upstream: { received: EchoedRequest[] }, since: number) =>
      upstream.received
        .slice(since)
        .filter((request) => request.url !== '/favicon.ico')
        .map((request) => `${request.method} ${request.url}`);
    const hits = () => stack.grafana.received.length + stack.traefik.received.length + stack.vminsert.received.length;
    const lastReceived = (upstream: { received: EchoedRequest[] }): EchoedRequest => {
      const last = upstream.received.at(-1);
      assert.ok(last !== undefined, 'the application was not reached');
      return last;
    };
    /** How many log lines gatehouse has written: a mark to look for a request's line after. */
    const mark = () => stack.gatehouse.logs().length;
    /**
     * gatehouse's decision on the first check of `uri` on `host` logged after `since`. The line may land a
     * moment after the answer (gatehouse logs once its answer is sent), so this waits for it.
     */
    const decision = async (since: number, host: string, uri: string) => {
      const deadline = Date.now() + 3000;
      for (;;) {
        const line = stack.gatehouse
          .logs()
          .slice(since)
          .find((entry) => entry.log === 'request' && entry.host === host && entry.uri === uri.split('?')[0]);
        if (line !== undefined) return { route: line.route, reason: line.reason, status: line.status };
        if (Date.now() > deadline) assert.fail(`gatehouse logged no check of ${host}${uri}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    /** The session cookies of a browser profile, as a Cookie header for raw requests. */
    const cookieHeader = async (context: BrowserContext) =>
      (await context.cookies(stack.url(TRAEFIK_HOST, '/')))
        .filter((cookie) => !cookie.name.includes('_tx_'))
        .map((cookie) => `${cookie.name}=${cookie.value}`)
        .join('; ');
    const assertForbiddenPageSaysNoMore = async (page: Page, who: string) => {
      assert.equal(await page.title(), 'Access denied');
      const text = await page.locator('main').innerText();
      assert.match(text, new RegExp(`Signed in as ${who.replace(/[.]/g, '\\.')}\\.`));
      assert.doesNotMatch(text, POLICY_WORDS, 'the page shows policy internals');
      for (const group of BOB_GROUPS) assert.ok(!text.includes(group), `the page names the group ${group}`);
      // Nor anywhere in the HTML (a hidden element, a comment, a link).
      const html = await page.content();
      assert.doesNotMatch(html, POLICY_WORDS);
      for (const group of BOB_GROUPS) assert.ok(!html.includes(group), `the HTML names the group ${group}`);
    };

    before(async () => {
      stack = await startRoutesStack();
      browser = await launchBrowser();
      alice = await newContext(browser);
      alicePage = await alice.newPage();
      bob = await newContext(browser);
      bobPage = await bob.newPage();
    });

    after(async () => {
      // The stack stops even when the browser fails to close; startRoutesStack already cleaned up if it failed.
      const closed = await Promise.allSettled([browser?.close()]);
      await (stack as RoutesStack | undefined)?.stop();
      for (const result of closed) if (result.status === 'rejected') throw result.reason;
    });

    test('grafana /api/health is public for GET: no session, no redirect; a POST to it is not', async () => {
      // A person (or a monitor with a browser) without a session.
      const anonymous = await newContext(browser!);
      try {
        const requests = recordRequests(anonymous);
        const page = await anonymous.newPage();
        const wanted = stack.url(GRAFANA_HOST, '/api/health');
        const answer = await page.goto(wanted);
        assert.equal(answer?.status(), 200);
        assert.equal(page.url(), wanted);
        assert.deepEqual(requests.urls.filter((url) => url.includes('/oauth2/') || url.startsWith(stack.idp.issuer)), [], 'the browser was sent to sign in');
        await shot(page, 'grafana-health-public');
        const echo = await readEcho(page);
        assert.equal(echo.app, 'grafana');
        assert.equal(echo.url, '/api/health');
        assert.equal(echo.headers['x-auth-request-email'], '');
      } finally {
        await anonymous.close();
      }

      // A script, with identity headers of its own: they are replaced by gatehouse's empty ones.
      const before = stack.grafana.received.length;
      const getMark = mark();
      const get = await raw(GRAFANA_HOST, '/api/health', { headers: { accept: 'application/json', 'x-auth-request-email': 'attacker@evil.com', 'x-auth-request-groups': 'admins' } });
      assert.equal(get.status, 200);
      assert.equal(get.headers.location, undefined);
      assert.equal(stack.grafana.received.length, before + 1);
      const seen = lastReceived(stack.grafana);
      assert.equal(seen.method, 'GET');
      assert.equal(seen.headers['x-auth-request-email'], '');
      assert.equal(seen.headers['x-auth-request-groups'], '');
      assert.deepEqual(await decision(getMark, GRAFANA_HOST, '/api/health'), { route: 'route:grafana-health', reason: 'route-public', status: 202 });

      // The same path with another method is the protected Grafana: no session, 401, not reached.
      const hitsBefore = hits();
      const postMark = mark();
      const post = await raw(GRAFANA_HOST, '/api/health', { method: 'POST', body: '{}', headers: { accept: 'application/json', 'content-type': 'application/json' } });
      assert.equal(post.status, 401);
      assert.equal(post.headers.location, undefined);
      assert.equal(post.headers['x-gatehouse-reason'], 'user-unauthenticated');
      assert.deepEqual(await decision(postMark, GRAFANA_HOST, '/api/health'), { route: 'route:grafana', reason: 'user-unauthenticated', status: 401 });
      // A person's form post is not public either: it is sent to sign in.
      const formPost = await raw(GRAFANA_HOST, '/api/health', { method: 'POST', body: 'a=1', headers: { accept: HTML, 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(formPost.status, 302);
      assert.match(String(formPost.headers.location), /\/oauth2\/start\?rd=%2Fapi%2Fhealth$/);
      // Paths that only look like it are not public.
      for (const path of ['/api/health/../admin', '/api/health/x', '/api/healthz', '/api/health/%2e%2e/%2e%2e/d/home']) {
        const answer = await raw(GRAFANA_HOST, path, { headers: { accept: 'application/json' } });
        assert.equal(answer.status, 401, path);
      }
      assert.equal(hits(), hitsBefore, 'the application was reached');
    });

    test('a member of admins signs in and reaches the traefik dashboard', async () => {
      const wanted = stack.url(TRAEFIK_HOST, '/dashboard/');
      const since = mark();
      await alicePage.goto(wanted);
      assert.ok(alicePage.url().startsWith(`${stack.idp.issuer}/interaction/`), `expected the provider's sign-in page, got ${alicePage.url()}`);
      await alicePage.locator('#email').waitFor();
      await alicePage.locator('#email').fill(ALICE);
      await alicePage.locator('#groups').fill('admins, family');
      await shot(alicePage, 'idp-sign-in-alice');
      const signedIn = mark();
      await alicePage.locator('button[type=submit]').click();
      await alicePage.waitForURL(wanted);
      await shot(alicePage, 'traefik-dashboard-alice');
      const echo = await readEcho(alicePage);
      assert.equal(echo.app, 'traefik');
      assert.equal(echo.url, '/dashboard/');
      assert.equal(echo.headers['x-auth-request-email'], ALICE);
      assert.equal(echo.headers['x-auth-request-groups'], 'admins,family');
      assert.deepEqual(await decision(since, TRAEFIK_HOST, '/dashboard/'), { route: 'route:traefik-admin', reason: 'user-unauthenticated', status: 302 });
      assert.deepEqual(await decision(signedIn, TRAEFIK_HOST, '/dashboard/'), { route: 'route:traefik-admin', reason: 'session-valid', status: 202 });
    });

    test('someone not in admins gets the 403 page, which names no group and no rule', async () => {
      const hitsBefore = stack.traefik.received.length;
      const wanted = stack.url(TRAEFIK_HOST, '/dashboard/');
      await bobPage.goto(wanted);
      await bobPage.locator('#email').waitFor();
      const refused = bobPage.waitForResponse((response) => response.url() === wanted);
      const since = mark();
      await signInAtIdp(bobPage, BOB, BOB_GROUPS.join(', '));
      const answer = await refused;
      assert.equal(answer.status(), 403);
      assert.equal(await answer.headerValue('x-gatehouse-reason'), 'group-not-allowed');
      await bobPage.locator('h1').waitFor();
      await shot(bobPage, 'traefik-dashboard-bob-refused');
      assert.equal(bobPage.url(), wanted);
      assert.equal(await bobPage.getByRole('heading', { level: 1 }).innerText(), 'You do not have access to this page');
      assert.match(await bobPage.locator('main').innerText(), /This page is open to members of certain groups, and your account is not in one of them\./);
      await assertForbiddenPageSaysNoMore(bobPage, BOB);
      assert.deepEqual(reachedSince(stack.traefik, hitsBefore), [], 'the dashboard was reached');
      assert.deepEqual(await decision(since, TRAEFIK_HOST, '/dashboard/'), { route: 'route:traefik-admin', reason: 'group-not-allowed', status: 403 });
    });

    test('other spellings of the dashboard path are the dashboard path, in the browser and raw', async (t) => {
      // The browser normalizes some spellings itself before sending them.
      for (const path of ['/dashboard/../dashboard/x', '/%64ashboard/']) {
        const answer = await bobPage.goto(stack.url(TRAEFIK_HOST, path));
        t.diagnostic(`chromium sent ${path} as ${new URL(bobPage.url()).pathname}`);
        assert.equal(answer?.status(), 403, path);
        assert.equal(await answer.headerValue('x-gatehouse-reason'), 'group-not-allowed', path);
        await assertForbiddenPageSaysNoMore(bobPage, BOB);
        const aliceAnswer = await alicePage.goto(stack.url(TRAEFIK_HOST, path));
        assert.equal(aliceAnswer?.status(), 200, path);
        assert.equal((await readEcho(alicePage)).app, 'traefik');
      }
      await bobPage.goto(stack.url(TRAEFIK_HOST, '/%64ashboard/'));
      await shot(bobPage, 'traefik-dashboard-bob-refused-encoded');

      // Raw requests reach gatehouse exactly as written.
      const bobCookies = await cookieHeader(bob);
      const aliceCookies = await cookieHeader(alice);
      for (const path of DASHBOARD_SPELLINGS) {
        const traefikHits = stack.traefik.received.length;
        const since = mark();
        const anonymous = await raw(TRAEFIK_HOST, path, { headers: { accept: 'application/json' } });
        assert.equal(anonymous.status, 401, `${path} without a session`);
        assert.deepEqual(await decision(since, TRAEFIK_HOST, path), { route: 'route:traefik-admin', reason: 'user-unauthenticated', status: 401 }, path);

        const refused = await raw(TRAEFIK_HOST, path, { headers: { accept: HTML, cookie: bobCookies } });
        assert.equal(refused.status, 403, `${path} as bob`);
        assert.equal(refused.headers['x-gatehouse-reason'], 'group-not-allowed', path);
        assert.match(refused.body, /You do not have access to this page/);
        assert.doesNotMatch(refused.body, POLICY_WORDS);
        assert.equal(stack.traefik.received.length, traefikHits, `${path}: the dashboard was reached by bob`);

        const allowed = await raw(TRAEFIK_HOST, path, { headers: { accept: 'application/json', cookie: aliceCookies } });
        assert.equal(allowed.status, 200, `${path} as alice`);
        assert.equal(lastReceived(stack.traefik).headers['x-auth-request-email'], ALICE);
        t.diagnostic(`${path}: traefik received ${lastReceived(stack.traefik).url}`);
      }

      // Controls: a path that only starts like it is not the dashboard (nothing matches, so denied), and a
      // path with no single safe reading is refused outright.
      const near = await raw(TRAEFIK_HOST, '/dashboardx', { headers: { accept: 'application/json', cookie: aliceCookies } });
      assert.equal(near.status, 403);
      assert.equal(near.headers['x-gatehouse-reason'], 'no-route-matched');
      const ambiguous = await raw(TRAEFIK_HOST, '/dashboard%2F..%2Fapi/', { headers: { accept: 'application/json', cookie: aliceCookies } });
      assert.equal(ambiguous.status, 400);
      assert.equal(ambiguous.headers['x-gatehouse-reason'], 'bad-path');
    });

    test('address rules: sources and allow admit loopback where listed and refuse it where not', async () => {
      // sources: [127.0.0.1/32, ::1/128] on traefik /ping, public.
      const pingMark = mark();
      const ping = await raw(TRAEFIK_HOST, '/ping', { headers: { accept: 'application/json' } });
      assert.equal(ping.status, 200);
      assert.deepEqual(await decision(pingMark, TRAEFIK_HOST, '/ping'), { route: 'route:traefik-ping-local', reason: 'route-public', status: 202 });
      assert.equal(lastReceived(stack.traefik).headers['x-forwarded-for'], '127.0.0.1');

      // sources: [192.168.1.0/24] on traefik /api/**: from loopback the route does not match, nothing else
      // does, so the default denies. A client's own X-Forwarded-For changes nothing: Caddy replaces it, and
      // gatehouse believes only what its trusted proxy wrote.
      const traefikHits = stack.traefik.received.length;
      for (const headers of [{}, { 'x-forwarded-for': '192.168.1.7' }, { 'x-forwarded-for': '192.168.1.7, 127.0.0.1', 'x-real-ip': '192.168.1.7', forwarded: 'for=192.168.1.7' }]) {
        const since = mark();
        const api = await raw(TRAEFIK_HOST, '/api/overview', { headers: { accept: 'application/json', ...headers } });
        assert.equal(api.status, 403, JSON.stringify(headers));
        assert.equal(api.headers['x-gatehouse-reason'], 'no-route-matched');
        assert.deepEqual(await decision(since, TRAEFIK_HOST, '/api/overview'), { route: 'default:deny', reason: 'no-route-matched', status: 403 });
      }
      assert.equal(stack.traefik.received.length, traefikHits);
      const spoofedPing = await raw(TRAEFIK_HOST, '/ping', { headers: { accept: 'application/json', 'x-forwarded-for': '192.168.1.7' } });
      assert.equal(spoofedPing.status, 200);
      assert.equal(lastReceived(stack.traefik).headers['x-forwarded-for'], '127.0.0.1', 'Caddy passed the client X-Forwarded-For on');

      // allow: request.ip in cidr("127.0.0.0/8") || ... on vminsert: the device's token is accepted from here.
      const token = { authorization: `Bearer ${stack.tokens.homekit}`, 'content-type': 'text/plain' };
      const importMark = mark();
      const imported = await raw(VMINSERT_HOST, IMPORT_PATH, { method: 'POST', body: 'temperature{room="hall"} 21.5', headers: token });
      assert.equal(imported.status, 200);
      assert.deepEqual(await decision(importMark, VMINSERT_HOST, IMPORT_PATH), { route: 'route:vminsert', reason: 'bearer-valid', status: 202 });
      // allow: request.ip in cidr("192.168.1.0/24") on /api/v1/write: the same valid token is refused here.
      const vminsertHits = stack.vminsert.received.length;
      const write = await raw(VMINSERT_HOST, '/api/v1/write', { method: 'POST', body: 'x', headers: { ...token, 'x-forwarded-for': '192.168.1.7' } });
      assert.equal(write.status, 403);
      assert.equal(write.headers['x-gatehouse-reason'], 'allow-expression-false');
      assert.deepEqual(JSON.parse(write.body), { error: 'forbidden', reason: 'allow-expression-false' });
      assert.equal(stack.vminsert.received.length, vminsertHits);

      // allow: request.ip in cidr("192.168.1.0/24") on grafana /admin/**: Alice, signed in, is refused with
      // the page, which does not give the rule away.
      const grafanaHits = stack.grafana.received.length;
      const adminMark = mark();
      const admin = await alicePage.goto(stack.url(GRAFANA_HOST, '/admin/users'));
      assert.equal(admin?.status(), 403);
      assert.equal(await admin.headerValue('x-gatehouse-reason'), 'allow-expression-false');
      await shot(alicePage, 'grafana-admin-refused-by-address');
      assert.equal(await alicePage.getByRole('heading', { level: 1 }).innerText(), 'This request is not allowed');
      assert.match(await alicePage.locator('main').innerText(), /Signed in as alice@farcaller\.net\./);
      assert.doesNotMatch(await alicePage.content(), POLICY_WORDS);
      assert.deepEqual(reachedSince(stack.grafana, grafanaHits), [], 'grafana was reached');
      assert.deepEqual(await decision(adminMark, GRAFANA_HOST, '/admin/users'), { route: 'route:grafana-admin', reason: 'allow-expression-false', status: 403 });
    });

    test('an audit-mode rule lets the request through and logs that it would deny it, and why', async () => {
      const audits = () => stack.gatehouse.logs().filter((line) => line.msg === 'audit: this request would be denied');
      const before = audits().length;
      const wanted = stack.url(GRAFANA_HOST, '/explore?orgId=1');
      const since = mark();
      const answer = await alicePage.goto(wanted);
      assert.equal(answer?.status(), 200);
      assert.equal(alicePage.url(), wanted);
      await shot(alicePage, 'grafana-explore-audit');
      const echo = await readEcho(alicePage);
      assert.equal(echo.app, 'grafana');
      assert.equal(echo.url, '/explore?orgId=1');
      assert.equal(echo.headers['x-auth-request-email'], ALICE);
      assert.deepEqual(await decision(since, GRAFANA_HOST, '/explore'), { route: 'route:grafana-explore', reason: 'session-valid', status: 202 });

      const logged = audits().slice(before);
      // The audit line is written before the request line awaited above.
      assert.equal(logged.length, 1, JSON.stringify(logged));
      const line = logged[0]!;
      assert.equal(line.log, 'auth');
      assert.equal(line.level, 'warn');
      assert.equal(line.policy, 'route:grafana-explore');
      assert.equal(line.reason, 'group-not-allowed');
      assert.equal(line.user, ALICE);
      assert.equal(line.requirement, 'require.groups');
    });

    test("HomeKit's device token reaches vminsert with X-Device from the token; other tokens and none are refused", async () => {
      // The token, and a client-sent X-Device (and identity headers) that must not survive.
      const before = stack.vminsert.received.length;
      const since = mark();
      const posted = await raw(VMINSERT_HOST, IMPORT_PATH, {
        method: 'POST',
        body: 'temperature{room="hall"} 21.5',
        headers: { authorization: `Bearer ${stack.tokens.homekit}`, 'content-type': 'text/plain', 'x-device': 'admin', 'x-auth-request-user': 'admin' },
      });
      assert.equal(posted.status, 200);
      assert.equal(stack.vminsert.received.length, before + 1);
      const seen = lastReceived(stack.vminsert);
      assert.equal(seen.method, 'POST');
      assert.equal(seen.url, IMPORT_PATH);
      assert.equal(seen.headers['x-device'], 'homekit');
      assert.equal(seen.headers['x-auth-request-user'], 'homekit');
      assert.equal(seen.headers['x-auth-request-email'], '');
      assert.deepEqual(await decision(since, VMINSERT_HOST, IMPORT_PATH), { route: 'route:vminsert', reason: 'bearer-valid', status: 202 });

      const hitsBefore = hits();
      // Signed by the right key for another audience: 403 insufficient_scope.
      const wrongAudience = await raw(VMINSERT_HOST, IMPORT_PATH, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${stack.tokens.wrongAudience}` } });
      assert.equal(wrongAudience.status, 403);
      assert.match(String(wrongAudience.headers['www-authenticate']), /^Bearer error="insufficient_scope"/);
      assert.equal(wrongAudience.headers['x-gatehouse-reason'], 'bearer-claim-not-allowed');
      assert.equal(wrongAudience.headers.location, undefined);
      // The seed's claims and kid, signed by a key gatehouse does not know: 401 invalid_token.
      const forged = await raw(VMINSERT_HOST, IMPORT_PATH, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${stack.tokens.otherKey}` } });
      assert.equal(forged.status, 401);
      assert.match(String(forged.headers['www-authenticate']), /^Bearer error="invalid_token"/);
      // No token at all, even from something that looks like a browser: 401, never a redirect.
      for (const headers of [{}, { accept: HTML, 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }, { 'x-device': 'homekit' }]) {
        const none = await raw(VMINSERT_HOST, IMPORT_PATH, { method: 'POST', body: 'x', headers });
        assert.equal(none.status, 401, JSON.stringify(headers));
        assert.equal(none.headers.location, undefined);
        assert.match(String(none.headers['www-authenticate']), /^Bearer/);
        assert.equal(none.headers['x-gatehouse-reason'], 'bearer-missing');
      }
      // A token in another scheme is not a bearer token.
      const basic = await raw(VMINSERT_HOST, IMPORT_PATH, { method: 'POST', body: 'x', headers: { authorization: `Basic ${Buffer.from(`homekit:${stack.tokens.homekit}`).toString('base64')}` } });
      assert.equal(basic.status, 401);
      assert.equal(hits(), hitsBefore, 'the application was reached');

      // What a person opening the address in a browser sees: the 401, not a sign-in.
      const visitor = await newContext(browser!);
      try {
        const requests = recordRequests(visitor);
        const page = await visitor.newPage();
        const answer = await page.goto(stack.url(VMINSERT_HOST, '/'));
        assert.equal(answer?.status(), 401);
        assert.equal(page.url(), stack.url(VMINSERT_HOST, '/'));
        assert.deepEqual(requests.urls.filter((url) => url.includes('/oauth2/') || url.startsWith(stack.idp.issuer)), []);
        await shot(page, 'vminsert-browser-without-token');
        assert.deepEqual(JSON.parse(await page.locator('body').innerText()), { error: 'unauthenticated', reason: 'bearer-missing' });
      } finally {
        await visitor.close();
      }
      assert.equal(hits(), hitsBefore, 'the application was reached');
    });

    test('the device token itself reaches vminsert, as forwardToken (default true) says', async () => {
      await raw(VMINSERT_HOST, IMPORT_PATH, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${stack.tokens.homekit}` } });
      assert.equal(lastReceived(stack.vminsert).headers.authorization, `Bearer ${stack.tokens.homekit}`);
    });
  });
} else {
  test('routes and policies through caddy', () => {
    // The end-to-end suite needs real parts; .ci/run installs them. A missing one fails, never skips.
    assert.fail('needs /usr/bin/caddy and /usr/bin/chromium');
  });
}
