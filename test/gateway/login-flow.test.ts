/**
 * The browser sign-on flow end to end: a real gatehouse behind an emulated reverse proxy, in front of the
 * real development OpenID Provider, driven like a browser (redirects followed by hand, cookies per
 * domain and path).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DevProvider } from '../../src/devidp/index.js';
import { NAVIGATION_HEADERS, parseSetCookie } from '../support/http-client.js';
import {
  API_HEADERS,
  APP_ORIGIN,
  CALLBACK_URL,
  COOKIE_NAME,
  cookieHeader,
  identityHeadersOf,
  login,
  loginUntilCallback,
  openSession,
  setCookiesNamed,
  startGatehouse,
  startTestProvider,
  type Gatehouse,
} from '../support/gatehouse-fixture.js';

let idp: DevProvider;
let gatehouse: Gatehouse;

before(async () => {
  idp = await startTestProvider();
  gatehouse = await startGatehouse({ devProvider: idp });
});

after(async () => {
  await gatehouse.close();
  await idp.close();
});

describe('a browser signs in', () => {
  test('protected page → /oauth2/start → provider → login form → callback → session → 202 with identity headers', async () => {
    const browser = gatehouse.browser();
    const first = await browser.request(`${APP_ORIGIN}/dashboard?tab=1`, { headers: NAVIGATION_HEADERS });
    assert.equal(first.status, 302);
    assert.equal(first.headers['x-gatehouse-reason'], undefined);
    assert.equal(first.location?.href, `${APP_ORIGIN}/oauth2/start?rd=${encodeURIComponent(`${APP_ORIGIN}/dashboard?tab=1`)}`);
    assert.equal(first.setCookies.length, 0);

    const { callback, final, callbackUrl } = await login(browser, { email: 'alice@homelab.example.com', groups: 'admins, family' }, `${APP_ORIGIN}/dashboard?tab=1`);
    assert.equal(`${callbackUrl.origin}${callbackUrl.pathname}`, CALLBACK_URL);
    assert.equal(callback.status, 302);
    assert.equal(callback.location?.href, `${APP_ORIGIN}/dashboard?tab=1`);
    assert.equal(setCookiesNamed(callback, COOKIE_NAME).length, 1);
    assert.equal(final.status, 202);
    assert.equal(final.url.href, `${APP_ORIGIN}/dashboard?tab=1`);
    assert.deepEqual(identityHeadersOf(final), {
      'gap-auth': 'alice@homelab.example.com',
      'x-auth-request-user': 'alice@homelab.example.com',
      'x-auth-request-email': 'alice@homelab.example.com',
      'x-auth-request-groups': 'admins,family',
      'x-auth-request-preferred-username': 'alice',
    });
    assert.equal(final.body, '');
    // Only the session cookie remains for the app; the transaction cookie is gone.
    assert.deepEqual(browser.cookiesFor(`${APP_ORIGIN}/oauth2/x`).map((cookie) => cookie.name), [COOKIE_NAME]);
  });

  test('the session works for the whole cookie domain, for navigations, API calls and the nginx /oauth2/auth mode', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'bob@homelab.example.com' });
    const other = await browser.request('https://other.homelab.example.com/x', { headers: NAVIGATION_HEADERS });
    assert.equal(other.status, 202);
    assert.equal(other.headers['x-auth-request-email'], 'bob@homelab.example.com');
    const api = await browser.request(`${APP_ORIGIN}/api/items`, { headers: API_HEADERS });
    assert.equal(api.status, 202);
    const auth = await gatehouse.request('/oauth2/auth', { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/anything' } });
    assert.equal(auth.status, 202);
    assert.equal(auth.headers['x-auth-request-email'], 'bob@homelab.example.com');
    assert.equal(auth.headers['x-auth-request-groups'], '');
  });

  test('/oauth2/userinfo returns the identity and nothing more', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'carol@homelab.example.com', groups: 'family' });
    const info = await browser.request(`${APP_ORIGIN}/oauth2/userinfo`, { headers: API_HEADERS });
    assert.equal(info.status, 200);
    assert.deepEqual(JSON.parse(info.body), { user: 'carol@homelab.example.com', email: 'carol@homelab.example.com', groups: ['family'], preferredUsername: 'carol' });
    const anonymous = await gatehouse.request('/oauth2/userinfo', { headers: API_HEADERS });
    assert.equal(anonymous.status, 401);
    assert.deepEqual(JSON.parse(anonymous.body), { error: 'unauthenticated' });
  });

  test('the session cookie opens to what the provider said, with the times of this login', async () => {
    const browser = gatehouse.browser();
    const before = Math.floor(Date.now() / 1000);
    await login(browser, { email: 'dave@homelab.example.com', groups: 'ops' });
    const session = openSession(browser);
    assert.ok(session !== undefined);
    assert.equal(session.identity.email, 'dave@homelab.example.com');
    assert.equal(session.identity.issuer, idp.issuer);
    assert.deepEqual(session.identity.groups, ['ops']);
    assert.ok(session.createdAt >= before && session.createdAt <= before + 5);
    assert.equal(session.expiresAt - session.createdAt, 168 * 3600);
    // No feature that needs a token is on, so none is kept (SESS-13).
    assert.equal(session.idToken, undefined);
    assert.equal(session.accessToken, undefined);
    assert.equal(session.refreshToken, undefined);
  });

  test('a second login in the same browser replaces the session (a fresh cookie, the new claims)', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'erin@homelab.example.com' });
    const firstValue = browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`);
    const again = await browser.navigate(`${APP_ORIGIN}/oauth2/start?prompt=login&rd=%2Fsecond`);
    assert.equal(again.response.status, 200, 'prompt=login shows the provider login form again');
    assert.match(again.chain[0]!.location?.search ?? '', /[?&]prompt=login(&|$)/);
    const form = again.response.url;
    // The same account with new groups (switching accounts makes the provider end its own session first).
    const posted = await browser.request(new URL(`${form.pathname}/login`, form), { form: { email: 'erin@homelab.example.com', groups: 'admins' } });
    const back = await browser.navigate(posted.location!);
    assert.equal(back.response.status, 202);
    assert.equal(back.response.url.href, `${APP_ORIGIN}/second`);
    assert.equal(back.response.headers['x-auth-request-email'], 'erin@homelab.example.com');
    assert.equal(back.response.headers['x-auth-request-groups'], 'admins');
    assert.notEqual(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), firstValue);
  });

  test('an rd outside the allow-list is replaced by / after login', async () => {
    const browser = gatehouse.browser();
    const callbackUrl = await loginUntilCallback(browser, { email: 'gina@homelab.example.com' }, `${APP_ORIGIN}/oauth2/start?rd=${encodeURIComponent('https://evil.example.net/steal')}`);
    const callback = await browser.request(callbackUrl, { headers: NAVIGATION_HEADERS });
    assert.equal(callback.status, 302);
    assert.equal(callback.headers.location, '/');
  });
});

describe('unauthenticated requests', () => {
  test('a navigation is redirected to /oauth2/start with the original URL, through the emulated proxy', async () => {
    const response = await gatehouse.request('/reports?x=1', { headers: NAVIGATION_HEADERS });
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, `${APP_ORIGIN}/oauth2/start?rd=${encodeURIComponent(`${APP_ORIGIN}/reports?x=1`)}`);
    assert.equal(response.headers['cache-control'], 'no-store');
  });

  test('an API call gets 401 JSON with the reason, not a redirect', async () => {
    const response = await gatehouse.request('/api/items', { headers: API_HEADERS });
    assert.equal(response.status, 401);
    assert.equal(response.headers['x-gatehouse-reason'], 'user-unauthenticated');
    assert.equal(response.headers['www-authenticate'], 'Bearer');
    assert.deepEqual(JSON.parse(response.body), { error: 'unauthenticated', reason: 'user-unauthenticated' });
  });

  test('/oauth2/auth answers 401 with the login URL for nginx', async () => {
    const response = await gatehouse.request('/oauth2/auth', { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-uri': '/reports' } });
    assert.equal(response.status, 401);
    assert.equal(response.headers['x-gatehouse-reason'], 'user-unauthenticated');
    assert.equal(response.headers['x-gatehouse-login'], `${APP_ORIGIN}/oauth2/start?rd=${encodeURIComponent(`${APP_ORIGIN}/reports`)}`);
  });

  test('unknown /oauth2/ paths are 404 with the security headers', async () => {
    const response = await gatehouse.request('/oauth2/nothing-here', { headers: NAVIGATION_HEADERS });
    assert.equal(response.status, 404);
    assert.equal(response.headers['referrer-policy'], 'no-referrer');
    assert.equal(response.headers['x-frame-options'], 'DENY');
  });
});

describe('with the sign-in page', () => {
  let withButton: Gatehouse;
  before(async () => {
    withButton = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_FORWARD_AUTH_SKIP_PROVIDER_BUTTON: 'false', GATEHOUSE_PROVIDER_DISPLAY_NAME: 'Home <IdP>' } });
  });
  after(() => withButton.close());

  test('a navigation lands on the sign-in page, whose button starts the login', async () => {
    const browser = withButton.browser();
    const { response } = await browser.navigate(`${APP_ORIGIN}/photos`);
    assert.equal(response.status, 200);
    assert.equal(response.url.pathname, '/oauth2/sign_in');
    assert.ok(response.body.includes('Sign in with Home &#60;IdP&#62;'), 'the display name is escaped');
    const href = /href="(\/oauth2\/start\?rd=[^"]+)"/.exec(response.body)?.[1];
    assert.ok(href !== undefined);
    const callbackUrl = await loginUntilCallback(browser, { email: 'hana@homelab.example.com' }, new URL(href.replaceAll('&#38;', '&'), APP_ORIGIN).href);
    const done = await browser.navigate(callbackUrl);
    assert.equal(done.response.status, 202);
    assert.equal(done.response.url.href, `${APP_ORIGIN}/photos`);
  });
});

describe('sign-out', () => {
  test('clears the session cookie on the cookie domain and sends the browser to rd', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'ivan@homelab.example.com' });
    const out = await browser.request(`${APP_ORIGIN}/oauth2/sign_out?rd=%2Fbye`, { headers: NAVIGATION_HEADERS });
    assert.equal(out.status, 302);
    assert.equal(out.headers.location, '/bye');
    const cleared = out.setCookies.map(parseSetCookie).find((cookie) => cookie.name === COOKIE_NAME);
    assert.ok(cleared !== undefined);
    assert.equal(cleared.value, '');
    assert.equal(cleared.attributes.get('max-age'), '0');
    assert.equal(cleared.attributes.get('domain'), '.homelab.example.com');
    assert.equal(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), undefined);
    const after = await browser.request(`${APP_ORIGIN}/dashboard`, { headers: API_HEADERS });
    assert.equal(after.status, 401);
  });
});
