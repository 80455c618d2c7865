/**
 * Edges of browser sign-on: a public route and an expired ID token, cookies tossed from a sibling
 * subdomain (a whole session cookie beside chunks, a login-transaction cookie: SESS-08), the sign-in
 * endpoint ending the session it replaces (SESS-09) and refusing foreign hosts (FWD-03).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { DevProvider } from '../../src/devidp/index.js';
import { NAVIGATION_HEADERS, isDeletion, parseSetCookie } from '../support/http-client.js';
import { API_HEADERS, APP_ORIGIN, COOKIE_NAME, cookieHeader, login, loginUntilCallback, openSession, startGatehouse, startTestProvider, type Gatehouse, TX_PREFIX } from '../support/gatehouse-fixture.js';

let idp: DevProvider;
before(async () => {
  idp = await startTestProvider();
});
after(() => idp.close());

describe('a public route with a session whose ID token has expired', () => {
  let gh: Gatehouse;
  before(async () => {
    gh = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_IDENTITY_HEADERS_AUTHORIZATION: 'true', GATEHOUSE_FORWARD_AUTH_SKIP_AUTH_ROUTES: 'GET=^/public/' } });
  });
  after(() => gh.close());

  test('passes as anonymous: the upstream never receives an ID token past its exp', async () => {
    const browser = gh.browser();
    await login(browser, { email: 'pub@homelab.example.com' });
    const session = openSession(browser)!;
    const cookie = cookieHeader(browser);
    try {
      gh.clockOffsetMs = 2 * 3600_000; // the ID token (1h) has expired
      const response = await gh.request('/oauth2/auth', { headers: { ...API_HEADERS, cookie, 'x-forwarded-uri': '/public/x' } });
      assert.equal(response.status, 202);
      const forwarded = response.headers.authorization ?? '';
      assert.ok(session.idTokenExpiresAt! < Math.floor((Date.now() + gh.clockOffsetMs) / 1000));
      assert.notEqual(forwarded, `Bearer ${session.idToken}`, 'the expired ID token went upstream');
      assert.equal(forwarded, '', 'the header is still sent, empty, so a client-sent one is overwritten');
      assert.equal(response.headers['x-auth-request-email'], '');
    } finally {
      gh.clockOffsetMs = 0;
    }
  });
});

describe('cookies tossed from a sibling subdomain, and the sign-in endpoint', () => {
  let gh: Gatehouse;
  before(async () => {
    gh = await startGatehouse({ devProvider: idp });
  });
  after(() => gh.close());

  test('SESS-08: a whole session cookie tossed next to a chunked session is ambiguous, not silently preferred', async () => {
    const victim = gh.browser();
    const groups = Array.from({ length: 220 }, (_, index) => `g-${index}-${randomBytes(10).toString('hex')}`).join(',');
    await login(victim, { email: 'victim@homelab.example.com', groups });
    assert.ok(victim.cookie(`${COOKIE_NAME}_0`, `${APP_ORIGIN}/`) !== undefined, 'victim session is chunked');
    const attacker = gh.browser();
    await login(attacker, { email: 'mallory@homelab.example.com' });
    const theirs = attacker.cookie(COOKIE_NAME, `${APP_ORIGIN}/`)!;
    // evil.homelab.example.com (a sibling) tosses its own whole cookie onto the parent domain.
    victim.storeCookie('https://evil.homelab.example.com/', `${COOKIE_NAME}=${theirs}; Domain=.homelab.example.com; Path=/; Secure; HttpOnly`);
    const response = await gh.request('/oauth2/auth', { headers: { cookie: cookieHeader(victim), 'x-forwarded-uri': '/' } });
    assert.notEqual(response.headers['x-auth-request-email'], 'mallory@homelab.example.com', 'the victim is silently switched to the attacker session');
    assert.equal(response.status, 401);
    assert.equal(response.headers['x-gatehouse-reason'], 'session-cookie-ambiguous');
  });

  test("SESS-08 login CSRF: a sibling cannot plant its login's transaction cookie, so the attacker's callback signs nobody in", async () => {
    const attacker = gh.browser();
    const callback = await loginUntilCallback(attacker, { email: 'mallory@homelab.example.com' });
    const tx = attacker.cookiesFor(`${APP_ORIGIN}/oauth2/callback`).find((cookie) => cookie.name.startsWith(TX_PREFIX));
    assert.ok(tx !== undefined, 'the transaction cookie carries the __Host- prefix');
    assert.ok(tx.hostOnly && tx.path === '/' && tx.secure, `host-only, Path=/, Secure: ${tx.raw}`);
    const victim = gh.browser();
    victim.storeCookie('https://evil.homelab.example.com/', `${tx.name}=${tx.value}; Domain=.homelab.example.com; Path=/oauth2/; Secure; HttpOnly`);
    const { chain } = await victim.navigate(callback);
    assert.equal(victim.cookiesFor(`${APP_ORIGIN}/oauth2/callback`).length, 0, 'the browser refused the planted __Host- cookie (it had a Domain)');
    assert.equal(chain[0]?.status, 403, 'the callback found no transaction');
    const check = await gh.request('/oauth2/auth', { headers: { cookie: cookieHeader(victim), 'x-forwarded-uri': '/' } });
    assert.notEqual(check.headers['x-auth-request-email'], 'mallory@homelab.example.com', `login CSRF: victim now ${String(check.headers['x-auth-request-email'])}`);
  });

  test('SESS-09: /oauth2/sign_in with skipProviderButton ends the existing session, as /oauth2/start does', async () => {
    const browser = gh.browser();
    await login(browser, { email: 'shared@homelab.example.com' });
    const cookie = cookieHeader(browser);
    const start = await gh.request('/oauth2/start?rd=%2F', { headers: { ...NAVIGATION_HEADERS, cookie } });
    assert.ok(start.setCookies.map(parseSetCookie).some((c) => c.name === COOKIE_NAME && isDeletion(c)), 'control: start clears');
    const signIn = await gh.request('/oauth2/sign_in?rd=%2F', { headers: { ...NAVIGATION_HEADERS, cookie } });
    assert.equal(signIn.status, 302);
    assert.ok(signIn.setCookies.map(parseSetCookie).some((c) => c.name === COOKIE_NAME && isDeletion(c)), 'sign_in kept the session');
  });
});

describe('FWD-03: /oauth2/sign_in on a host that is not the deployment\'s own', () => {
  let gh: Gatehouse;
  before(async () => {
    gh = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_FORWARD_AUTH_SKIP_PROVIDER_BUTTON: 'false' } });
  });
  after(() => gh.close());

  test('the sign-in page is refused on evil.example.net (403 host-not-allowed, no cookie), and shown on the own hosts', async () => {
    const response = await gh.request('/oauth2/sign_in?rd=%2F', { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-host': 'evil.example.net', cookie: `${COOKIE_NAME}=x` } });
    assert.equal(response.status, 403, `got ${response.status}, set-cookie ${JSON.stringify(response.setCookies)}`);
    assert.equal(response.headers['x-gatehouse-reason'], 'host-not-allowed');
    assert.deepEqual(response.setCookies, []);
    const own = await gh.request('/oauth2/sign_in?rd=%2F', { headers: { ...NAVIGATION_HEADERS } });
    assert.equal(own.status, 200);
  });
});
