/**
 * The browser-facing login endpoints under the conditions people and attackers create: many tabs at once,
 * long and nested return targets, a central auth host, refresh against a provider that rotates refresh
 * tokens or has an incident, sign-out with and without the provider's end-session endpoint, userinfo,
 * and the pages that repeat what a link says. Each test states the behaviour the gateway must have.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevProvider } from '../../src/devidp/index.js';
import { createKeyring } from '../../src/crypto/keyring.js';
import { encodeSession, sessionBinding } from '../../src/session/index.js';
import { NAVIGATION_HEADERS, isDeletion, parseSetCookie, type Browser, type RawResponse } from '../support/http-client.js';
import {
  API_HEADERS,
  APP_ORIGIN,
  COOKIE_NAME,
  COOKIE_SECRET,
  cookieHeader,
  isCallback,
  login,
  openSession,
  startGatehouse,
  startTestProvider,
  type Gatehouse,
  TX_PREFIX,
} from '../support/gatehouse-fixture.js';
import { startHostileIdp, type HostileIdp, type TokenRequest, type TokenReply } from '../support/hostile-idp.js';

/** Browsers keep a cookie only when its name and value together fit in 4096 bytes (RFC 6265 §6.1). */
const BROWSER_COOKIE_LIMIT = 4096;

function sessionCookieSet(response: RawResponse): boolean {
  return response.setCookies.map(parseSetCookie).some((cookie) => (cookie.name === COOKIE_NAME || /^_gatehouse_\d+$/.test(cookie.name)) && !isDeletion(cookie));
}

function sessionCookieCleared(response: RawResponse): boolean {
  return response.setCookies.map(parseSetCookie).some((cookie) => cookie.name === COOKIE_NAME && isDeletion(cookie));
}

/** The `expiresAt` sealed in each of the browser's transaction cookies. */
function transactionExpiries(browser: Browser): number[] {
  const keyring = createKeyring([COOKIE_SECRET], 'login-transaction');
  return browser
    .allCookies()
    .filter((cookie) => cookie.name.startsWith(TX_PREFIX))
    .map((cookie) => (JSON.parse(keyring.open(cookie.value, cookie.name)!.toString('utf8')) as { expiresAt: number }).expiresAt);
}

describe('with a provider that answers as each test scripts', () => {
  let hostile: HostileIdp;
  let front: Gatehouse;

  before(async () => {
    hostile = await startHostileIdp();
    front = await startGatehouse({ provider: hostile, env: { GATEHOUSE_COOKIE_REFRESH: '1m' } });
  });
  after(async () => {
    await front.close();
    await hostile.close();
  });

  /** A login through the provider (it sends the browser straight back) up to the unvisited callback. */
  async function callbackOf(browser: Browser, start: string): Promise<URL> {
    const { stoppedAt, response } = await browser.navigate(start, { stopBefore: isCallback });
    assert.ok(stoppedAt !== undefined, `no callback: ${response.status} ${response.url.href}`);
    return stoppedAt;
  }

  async function signedIn(): Promise<Browser> {
    const browser = front.browser();
    const callback = await callbackOf(browser, `${APP_ORIGIN}/dashboard`);
    const done = await browser.request(callback, { headers: NAVIGATION_HEADERS });
    assert.equal(done.status, 302, String(done.headers['x-gatehouse-reason']));
    return browser;
  }

  test('five tabs started within one second: the oldest login is the one dropped, the four newest complete', async () => {
    // The five starts must share one second for the case to arise; retried when they straddle two.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const browser = front.browser();
      const callbacks: URL[] = [];
      for (let tab = 0; tab < 5; tab += 1) callbacks.push(await callbackOf(browser, `${APP_ORIGIN}/oauth2/start?rd=%2Ftab${tab}`));
      const sealed = new Set(transactionExpiries(browser));
      if (sealed.size !== 1) continue;
      const outcomes: number[] = [];
      for (const callback of callbacks) outcomes.push((await browser.request(callback, { headers: NAVIGATION_HEADERS })).status);
      assert.deepEqual(outcomes, [403, 302, 302, 302, 302], 'docs/security.md: starting a fifth clears the oldest');
      return;
    }
    assert.fail('could not start five logins within one second');
  });

  test("the oldest tab's callback gets a clear page and no session, and the newer tabs still sign in", async () => {
    const browser = front.browser();
    const first = await callbackOf(browser, `${APP_ORIGIN}/oauth2/start?rd=%2Ffirst`);
    // A second apart, so the order of the sealed expiry times is the order of the starts.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const later: URL[] = [];
    for (let tab = 0; tab < 4; tab += 1) later.push(await callbackOf(browser, `${APP_ORIGIN}/oauth2/start?rd=%2Flater${tab}`));
    const dropped = await browser.request(first, { headers: NAVIGATION_HEADERS });
    assert.equal(dropped.status, 403);
    assert.equal(dropped.headers['x-gatehouse-reason'], 'callback-transaction-invalid');
    assert.match(dropped.body, /expired or was started elsewhere/);
    assert.ok(!sessionCookieSet(dropped));
    for (const [index, callback] of later.entries()) {
      const done = await browser.request(callback, { headers: NAVIGATION_HEADERS });
      assert.equal(done.status, 302, `tab ${index}`);
      assert.equal(done.headers.location, `/later${index}`);
    }
  });

  test('a long return target that the redirect rules accept still gives a transaction cookie a browser can keep', async () => {
    const rd = `/search?q=${'a'.repeat(3500)}`;
    const response = await front.request(`/oauth2/start?rd=${encodeURIComponent(rd)}`, { headers: NAVIGATION_HEADERS });
    assert.equal(response.status, 302);
    for (const setCookie of response.setCookies) {
      const pair = setCookie.split(';')[0]!;
      assert.ok(pair.length <= BROWSER_COOKIE_LIMIT, `a ${pair.length}-byte cookie is dropped by the browser, and the login can never complete`);
    }
    assert.ok(response.setCookies.some((value) => value.startsWith(TX_PREFIX)), 'a transaction cookie is set');
  });

  test('an rd with a fragment comes back unchanged after login', async () => {
    const browser = front.browser();
    const callback = await callbackOf(browser, `${APP_ORIGIN}/oauth2/start?rd=${encodeURIComponent('/docs/page?tab=2#section-3')}`);
    const done = await browser.request(callback, { headers: NAVIGATION_HEADERS });
    assert.equal(done.status, 302);
    assert.equal(done.headers.location, '/docs/page?tab=2#section-3');
  });

  test('a provider incident (503 temporarily_unavailable) during a refresh keeps the session, as an unreachable provider does', async () => {
    for (const [what, reply] of [
      ['503 temporarily_unavailable', { status: 503, body: { error: 'temporarily_unavailable', error_description: 'maintenance' } }],
      ['500 server_error', { status: 500, body: { error: 'server_error' } }],
    ] as [string, TokenReply][]) {
      const browser = await signedIn();
      hostile.tokenScript = (request) => (request.grantType === 'refresh_token' ? reply : hostile.honestReply(request));
      front.clockOffsetMs = 2 * 60_000;
      try {
        const asked = hostile.tokenRequests.filter((request) => request.grantType === 'refresh_token').length;
        const check = await front.request('/oauth2/auth', { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/dashboard', ...API_HEADERS } });
        assert.equal(check.status, 202, `${what}: ${check.status} ${String(check.headers['x-gatehouse-reason'])}`);
        assert.ok(!sessionCookieCleared(check), `${what}: the session is not ended by the provider's own outage`);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.ok(hostile.tokenRequests.filter((request) => request.grantType === 'refresh_token').length > asked, `${what}: the refresh was attempted`);
        const again = await front.request('/oauth2/auth', { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/dashboard', ...API_HEADERS } });
        assert.equal(again.status, 202, `${what}: still signed in after the failed attempt`);
      } finally {
        front.clockOffsetMs = 0;
        hostile.tokenScript = undefined;
      }
    }
  });

  test('a refresh answered with a fresh ID token for another client (aud) or another azp ends the session', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['aud', { aud: 'another-client' }],
      ['azp', { azp: 'another-client' }],
    ];
    for (const [what, change] of cases) {
      const browser = await signedIn();
      hostile.tokenScript = (request) => (request.grantType === 'refresh_token' ? hostile.honestReply(request, { ...hostile.honestClaims(undefined), ...change }) : hostile.honestReply(request));
      front.clockOffsetMs = 2 * 60_000;
      try {
        const check = await front.request('/oauth2/auth', { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/dashboard' } });
        assert.equal(check.status, 401, what);
        assert.equal(check.headers['x-gatehouse-reason'], 'session-refresh-failed', what);
      } finally {
        front.clockOffsetMs = 0;
        hostile.tokenScript = undefined;
      }
    }
  });

  test('a refresh that brings no ID token keeps the identity and the new refresh token', async () => {
    const browser = await signedIn();
    const before = openSession(browser)!;
    hostile.tokenScript = (request) =>
      request.grantType === 'refresh_token' ? { body: { access_token: 'fresh-access', token_type: 'Bearer', expires_in: 600, refresh_token: 'rotated-refresh-token' } } : hostile.honestReply(request);
    front.clockOffsetMs = 2 * 60_000;
    try {
      const navigation = await browser.navigate(`${APP_ORIGIN}/page`);
      assert.equal(navigation.chain[0]!.location?.pathname, '/oauth2/refresh');
      assert.equal(navigation.response.status, 202);
      assert.equal(navigation.response.headers['x-auth-request-email'], hostile.account.email);
      const after = openSession(browser)!;
      assert.equal(after.identity.sub, before.identity.sub);
      assert.equal(after.refreshToken, 'rotated-refresh-token');
    } finally {
      front.clockOffsetMs = 0;
      hostile.tokenScript = undefined;
    }
  });

  test('two page loads refreshing one session at once spend its rotating refresh token once, and both keep the session', async () => {
    const browser = await signedIn();
    const used = new Set<string>();
    let grants = 0;
    hostile.tokenScript = async (request: TokenRequest) => {
      if (request.grantType !== 'refresh_token') return hostile.honestReply(request);
      grants += 1;
      const token = request.form.get('refresh_token') ?? '';
      // Rotation with reuse detection: a second use of a refresh token is refused.
      if (used.has(token)) return { status: 400, body: { error: 'invalid_grant', error_description: 'refresh token reused' } };
      used.add(token);
      await new Promise((resolve) => setTimeout(resolve, 150));
      return hostile.honestReply(request);
    };
    front.clockOffsetMs = 2 * 60_000;
    try {
      const cookie = cookieHeader(browser);
      const [one, two] = await Promise.all(
        ['/one', '/two'].map((rd) => front.request(`/oauth2/refresh?rd=${encodeURIComponent(rd)}`, { headers: { cookie, ...NAVIGATION_HEADERS } })),
      );
      assert.equal(grants, 1);
      for (const [response, rd] of [[one!, '/one'], [two!, '/two']] as const) {
        assert.equal(response.status, 302);
        assert.equal(response.headers.location, rd);
        assert.ok(sessionCookieSet(response), 'each answer carries the refreshed session');
      }
    } finally {
      front.clockOffsetMs = 0;
      hostile.tokenScript = undefined;
    }
  });

  test('sign-out with endSessionRedirect and a provider without end_session_endpoint: cookie cleared, validated rd', async () => {
    const gate = await startGatehouse({ provider: hostile, env: { GATEHOUSE_PROVIDER_END_SESSION_REDIRECT: 'true' } });
    try {
      const browser = gate.browser();
      const callback = await callbackOf(browser, `${APP_ORIGIN}/dashboard`);
      assert.equal((await browser.request(callback, { headers: NAVIGATION_HEADERS })).status, 302);
      const out = await browser.request(`${APP_ORIGIN}/oauth2/sign_out?rd=${encodeURIComponent('//evil.example.net/x')}`, { headers: NAVIGATION_HEADERS });
      assert.equal(out.status, 302);
      assert.equal(out.headers.location, '/');
      assert.ok(sessionCookieCleared(out));
      const ok = await browser.request(`${APP_ORIGIN}/oauth2/sign_out?rd=%2Fbye`, { headers: NAVIGATION_HEADERS });
      assert.equal(ok.headers.location, '/bye');
    } finally {
      await gate.close();
    }
  });

  test('/oauth2/userinfo answers only for a session the gateway would let through (as oauth2-proxy refuses an invalid email)', async () => {
    // A session sealed by this deployment for an address its email rules do not allow (say, the domains
    // changed since the login).
    const now = Math.floor(Date.now() / 1000);
    const sealed = createKeyring([COOKIE_SECRET], 'session').seal(
      encodeSession({
        identity: { sub: 'eve-1', email: 'eve@elsewhere.example.org', emailVerified: true, groups: [], username: 'eve', issuer: hostile.issuer, authMethod: 'session' },
        createdAt: now,
        refreshedAt: now,
        expiresAt: now + 3600,
      }),
      `${COOKIE_NAME} ${sessionBinding(hostile.issuer, hostile.clientId)}`,
    );
    const cookie = `${COOKIE_NAME}=${sealed}`;
    const check = await front.request('/oauth2/auth', { headers: { cookie, 'x-forwarded-uri': '/dashboard' } });
    assert.equal(check.status, 403, 'the check refuses this session');
    const userinfo = await front.request('/oauth2/userinfo', { headers: { cookie, ...API_HEADERS } });
    assert.notEqual(userinfo.status, 200, `userinfo disclosed ${userinfo.body}`);
  });
});

describe('with the development provider', () => {
  let idp: DevProvider;
  let front: Gatehouse;
  let dir: string;

  before(async () => {
    idp = await startTestProvider();
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-login-'));
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, 'routes:\n  - name: admin\n    paths: [/admin]\n    require: { groups: [admins] }\n  - name: rest\n    paths: ["/*"]\n');
    front = await startGatehouse({ devProvider: idp, file, env: { GATEHOUSE_PROVIDER_END_SESSION_REDIRECT: 'true' } });
  });
  after(async () => {
    await front.close();
    await idp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('"Sign in as another user" on a 403 page leads to a fresh login with prompt=login, back to the page', async () => {
    const browser = front.browser();
    await login(browser, { email: 'member@homelab.example.com', groups: 'staff' });
    const denied = await browser.navigate(`${APP_ORIGIN}/admin`);
    assert.equal(denied.response.status, 403, denied.response.body.slice(0, 200));
    const href = /href="([^"]*sign_out[^"]*)"/.exec(denied.response.body)?.[1]?.replaceAll('&#38;', '&');
    assert.ok(href !== undefined, 'the page links to sign out and in again');
    // Without the provider's end-session round trip: the plain sign-out redirect is what carries rd on.
    const out = await browser.request(new URL(href, APP_ORIGIN), { headers: NAVIGATION_HEADERS });
    assert.equal(out.status, 302);
    const next = new URL(out.headers.location!, APP_ORIGIN);
    const target = next.pathname === '/oauth2/start' ? next : new URL(next.searchParams.get('post_logout_redirect_uri') ?? '/', APP_ORIGIN);
    assert.equal(target.pathname, '/oauth2/start', `sign-out sent the browser to ${next.href}`);
    assert.equal(target.searchParams.get('prompt'), 'login');
    assert.equal(new URL(target.searchParams.get('rd') ?? '', APP_ORIGIN).href, `${APP_ORIGIN}/admin`);
  });

  test('sign-out with endSessionRedirect goes to the provider with id_token_hint and a post-logout target on the own origin', async () => {
    const browser = front.browser();
    await login(browser, { email: 'leaver@homelab.example.com' });
    const idToken = openSession(browser)?.idToken;
    assert.ok(idToken !== undefined, 'the ID token is kept for the hint');
    for (const rd of ['//evil.example.net/', 'https://app.homelab.example.com@evil.example.net/', 'https://evil.example.net/', '/\\evil.example.net']) {
      const response = await front.request(`/oauth2/sign_out?rd=${encodeURIComponent(rd)}`, { headers: { cookie: cookieHeader(browser), ...NAVIGATION_HEADERS } });
      assert.equal(response.status, 302, rd);
      const location = new URL(response.headers.location!);
      assert.equal(location.origin, new URL(idp.issuer).origin, rd);
      assert.equal(location.searchParams.get('post_logout_redirect_uri'), `${APP_ORIGIN}/`, rd);
      assert.equal(location.searchParams.get('id_token_hint'), idToken, rd);
      assert.ok(sessionCookieCleared(response), rd);
    }
  });
});

describe('with a central auth host (absolute proxy.redirectUrl)', () => {
  let idp: DevProvider;
  let front: Gatehouse;

  before(async () => {
    idp = await startTestProvider();
    front = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_PROXY_REDIRECT_URL: 'https://other.homelab.example.com/oauth2/callback' } });
  });
  after(async () => {
    await front.close();
    await idp.close();
  });

  test('/oauth2/start?rd=/path on an app host hands the auth host a return target on the app host, not on itself', async () => {
    const response = await front.request('/oauth2/start?rd=%2Fdashboard%3Ftab%3D1', { headers: NAVIGATION_HEADERS });
    assert.equal(response.status, 302);
    const location = new URL(response.headers.location!);
    assert.equal(location.origin, 'https://other.homelab.example.com');
    assert.equal(location.pathname, '/oauth2/start');
    assert.equal(location.searchParams.get('rd'), `${APP_ORIGIN}/dashboard?tab=1`, 'a relative rd would be resolved against the auth host after login');
  });

  test('a protected navigation on the app host still returns to the app host (absolute rd, control)', async () => {
    const browser = front.browser();
    const { chain } = await browser.navigate(`${APP_ORIGIN}/photos?album=2`, { stopBefore: (next) => next.origin === new URL(idp.issuer).origin });
    const elsewhere = chain.find((response) => response.location?.origin === 'https://other.homelab.example.com');
    assert.ok(elsewhere !== undefined);
    assert.equal(elsewhere.location!.searchParams.get('rd'), `${APP_ORIGIN}/photos?album=2`);
  });
});

describe('pages that repeat what a link says', () => {
  let idp: DevProvider;
  let front: Gatehouse;

  before(async () => {
    idp = await startTestProvider();
    front = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_FORWARD_AUTH_SKIP_PROVIDER_BUTTON: 'false' } });
  });
  after(async () => {
    await front.close();
    await idp.close();
  });

  test('the sign-in page with a hostile rd: no markup from rd, and the button keeps only a validated target', async () => {
    const payloads = ['"><script>alert(1)</script>', "/x'onmouseover='alert(1)", 'javascript:alert(1)', '/ok?a="><img src=x>', `/${'<b>'.repeat(100)}`];
    for (const rd of payloads) {
      const response = await front.request(`/oauth2/sign_in?rd=${encodeURIComponent(rd)}`, { headers: NAVIGATION_HEADERS });
      assert.equal(response.status, 200, rd);
      assert.ok(!/<script|<img|onmouseover=|<b>/i.test(response.body), rd);
      const href = /href="(\/oauth2\/start\?rd=[^"]*)"/.exec(response.body)?.[1];
      assert.ok(href !== undefined, rd);
      assert.ok(!href.includes('"') && !href.includes("'") && !href.includes('<'), rd);
      assert.match(String(response.headers['content-security-policy']), /default-src 'none'/);
    }
  });

  test('a provider error on a link that belongs to no sign-in in this browser does not repeat the link’s text', async () => {
    const lure = 'Your account is locked. Call +1 555 0100 to unlock it';
    const response = await front.request(`/oauth2/callback?error=access_denied&error_description=${encodeURIComponent(lure)}&state=unknown-state`, { headers: NAVIGATION_HEADERS });
    assert.equal(response.status, 403);
    assert.equal(response.headers['x-gatehouse-reason'], 'provider-error');
    assert.ok(!response.body.includes('Call +1 555 0100'), 'text chosen by whoever wrote the link is shown on the deployment’s own origin');
  });

  test('HEAD and POST on the endpoints: no crash, callback only GET/HEAD, HEAD bodies empty', async () => {
    for (const path of ['/oauth2/start?rd=%2F', '/oauth2/sign_in?rd=%2F', '/oauth2/sign_out?rd=%2F', '/oauth2/userinfo', '/oauth2/refresh?rd=%2F']) {
      const head = await front.request(path, { method: 'HEAD', headers: NAVIGATION_HEADERS });
      assert.ok(head.status < 500, `HEAD ${path}: ${head.status}`);
      assert.equal(head.body, '', `HEAD ${path}`);
      const post = await front.request(path, { method: 'POST', headers: { ...NAVIGATION_HEADERS, 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' } });
      assert.ok(post.status < 500, `POST ${path}: ${post.status}`);
    }
    const post = await front.request('/oauth2/callback?code=x&state=y', { method: 'POST', headers: { ...NAVIGATION_HEADERS, 'content-length': '0' } });
    assert.equal(post.status, 405);
  });

  test('/oauth2/userinfo with only a bearer token is 401 JSON, never an identity', async () => {
    const response = await front.request('/oauth2/userinfo', { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.', ...API_HEADERS } });
    assert.equal(response.status, 401);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    assert.equal(response.headers['cache-control'], 'no-store');
  });

  test('an rd longer than the redirect limit falls back to / rather than being cut', async () => {
    const response = await front.request(`/oauth2/sign_out?rd=${encodeURIComponent(`/${'a'.repeat(9000)}`)}`, { headers: NAVIGATION_HEADERS });
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, '/');
  });
});
