/**
 * security-cases.md §B (OIDC-*) against a real gatehouse: the authorization request, the callback's
 * defences (state, transaction cookie, single use, expiry, iss, code injection), ID token validation
 * against a scripted hostile provider, and refresh. Each test is named with its catalogue ID.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { DevProvider } from '../../src/devidp/index.js';
import { createKeyring } from '../../src/crypto/keyring.js';
import { createLoginTransactions, MAX_TRANSACTIONS } from '../../src/session/index.js';
import { Browser, NAVIGATION_HEADERS, isDeletion, parseSetCookie, send, type BrowserResponse, type RawResponse } from '../support/http-client.js';
import {
  API_HEADERS,
  APP_ORIGIN,
  CALLBACK_URL,
  COOKIE_NAME,
  COOKIE_SECRET,
  OTHER_SECRET,
  cookieHeader,
  identityHeadersOf,
  isCallback,
  login,
  loginUntilCallback,
  openSession,
  startGatehouse,
  startTestProvider,
  type Gatehouse,
  TX_PREFIX,
} from '../support/gatehouse-fixture.js';
import { startHostileIdp, type HostileIdp, type TokenRequest } from '../support/hostile-idp.js';

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

/** Starts a login in `browser` and stops at the redirect to the provider; returns that URL and the answer. */
async function startLogin(browser: Browser, issuer: string, start = `${APP_ORIGIN}/dashboard`): Promise<{ authorize: URL; response: BrowserResponse }> {
  const issuerOrigin = new URL(issuer).origin;
  const { response, stoppedAt } = await browser.navigate(start, { stopBefore: (next) => next.origin === issuerOrigin });
  assert.ok(stoppedAt !== undefined, `no redirect to the provider: ${response.status} ${response.url.href}`);
  return { authorize: stoppedAt, response };
}

/** Session cookies (whole or chunk) an answer sets with a value. */
function sessionCookiesSet(response: RawResponse) {
  return response.setCookies.map(parseSetCookie).filter((cookie) => (cookie.name === COOKIE_NAME || /^_gatehouse_\d+$/.test(cookie.name)) && !isDeletion(cookie));
}

/** CB-FAIL: refused with the reason, no session cookie, no redirect (and so no redirect to rd). */
function assertCallbackFailed(response: RawResponse, status: number, reason: string): void {
  assert.equal(response.status, status, `${response.status} ${String(response.headers['x-gatehouse-reason'])} ${response.body.slice(0, 200)}`);
  assert.equal(response.headers['x-gatehouse-reason'], reason);
  assert.equal(response.headers.location, undefined);
  assert.deepEqual(sessionCookiesSet(response), []);
  assert.equal(response.headers['cache-control'], 'no-store');
  assert.match(String(response.headers['content-type']), /^text\/html/);
}

/** True when the answer deletes the transaction cookie of `state`. */
function deletesTransaction(response: RawResponse, state: string): boolean {
  const name = createLoginTransactions({ cookieName: COOKIE_NAME, secrets: [COOKIE_SECRET], hostOnly: true }).cookieName(state);
  return response.setCookies.map(parseSetCookie).some((cookie) => cookie.name === name && isDeletion(cookie) && cookie.attributes.get('path') === (name.startsWith('__Host-') ? '/' : '/oauth2/'));
}

function withParams(url: URL, change: (params: URLSearchParams) => void): URL {
  const copy = new URL(url);
  change(copy.searchParams);
  return copy;
}

describe('the authorization request', () => {
  test('OIDC-01: code flow with openid, the exact redirect_uri, fresh 256-bit state and nonce, S256 PKCE, no-store', async () => {
    const browser = gatehouse.browser();
    const { authorize, response } = await startLogin(browser, idp.issuer);
    const discovery = JSON.parse((await send({ port: Number(new URL(idp.issuer).port), path: '/.well-known/openid-configuration' })).body) as { authorization_endpoint: string };
    assert.equal(`${authorize.origin}${authorize.pathname}`, discovery.authorization_endpoint);
    const params = authorize.searchParams;
    for (const name of new Set(params.keys())) assert.equal(params.getAll(name).length, 1, `${name} appears once`);
    assert.equal(params.get('response_type'), 'code');
    assert.ok(params.get('scope')!.split(' ').includes('openid'));
    assert.equal(params.get('client_id'), idp.clientId);
    assert.equal(params.get('redirect_uri'), CALLBACK_URL);
    for (const name of ['state', 'nonce']) {
      const value = params.get(name) ?? '';
      assert.match(value, /^[A-Za-z0-9_-]+$/, name);
      assert.ok(Buffer.from(value, 'base64url').length >= 16, `${name} has at least 128 bits`);
    }
    assert.notEqual(params.get('state'), params.get('nonce'));
    assert.match(params.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(params.get('code_challenge_method'), 'S256');
    for (const forbidden of ['client_secret', 'code_verifier', 'response_mode', 'id_token', 'prompt']) assert.equal(params.get(forbidden), null, forbidden);
    assert.ok(!authorize.href.includes(idp.clientSecret), 'no client secret in the URL');
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(response.headers['referrer-policy'], 'no-referrer');

    // The challenge is S256 of the verifier the transaction cookie keeps, for this state and nonce.
    const txCookie = browser.allCookies().find((cookie) => cookie.name.startsWith(TX_PREFIX));
    assert.ok(txCookie !== undefined);
    const opened = createKeyring([COOKIE_SECRET], 'login-transaction').open(txCookie.value, txCookie.name);
    const transaction = JSON.parse(opened!.toString('utf8')) as { state: string; nonce: string; codeVerifier: string; redirectUri: string };
    assert.equal(transaction.state, params.get('state'));
    assert.equal(transaction.nonce, params.get('nonce'));
    assert.equal(transaction.redirectUri, CALLBACK_URL);
    assert.equal(createHash('sha256').update(transaction.codeVerifier).digest('base64url'), params.get('code_challenge'));
    assert.ok(transaction.codeVerifier.length >= 43);
  });

  test('OIDC-02: script and API requests get 401 and mint no transaction cookie', async () => {
    const variants: [string, string, Record<string, string>][] = [
      ['XMLHttpRequest', '/dashboard', { 'x-requested-with': 'XMLHttpRequest', accept: 'text/html' }],
      ['Accept: application/json', '/dashboard', { accept: 'application/json' }],
      ['Sec-Fetch-Mode: cors', '/dashboard', { 'sec-fetch-mode': 'cors', accept: 'text/html' }],
      ['Sec-Fetch-Mode: no-cors', '/dashboard', { 'sec-fetch-mode': 'no-cors', accept: 'text/html' }],
      ['no Accept at all', '/dashboard', {}],
      ['nginx auth_request mode', '/oauth2/auth', { ...NAVIGATION_HEADERS, 'x-forwarded-uri': '/dashboard' }],
    ];
    for (const [what, path, headers] of variants) {
      const response = await gatehouse.request(path, { headers });
      assert.equal(response.status, 401, what);
      assert.equal(response.headers['x-gatehouse-reason'], 'user-unauthenticated', what);
      assert.equal(response.headers.location, undefined, what);
      assert.deepEqual(response.setCookies, [], what);
    }
  });

  test('OIDC-03: 50 login starts give 50 distinct states, nonces, challenges and transaction cookies', async () => {
    const values = new Set<string>();
    const cookieNames = new Set<string>();
    for (let index = 0; index < 50; index += 1) {
      const response = await gatehouse.request('/oauth2/start?rd=%2F', { headers: NAVIGATION_HEADERS });
      assert.equal(response.status, 302);
      const params = new URL(response.headers.location!).searchParams;
      for (const name of ['state', 'nonce', 'code_challenge']) values.add(`${name}:${params.get(name) ?? ''}`);
      values.add(`state-as-nonce:${params.get('state') ?? ''}`);
      cookieNames.add(parseSetCookie(response.setCookies[0]!).name);
    }
    assert.equal(values.size, 200);
    assert.equal(cookieNames.size, 50);
  });

  test('OIDC-03: two browsers logging in at once, callbacks interleaved, each get their own identity', async () => {
    const alice = gatehouse.browser();
    const bob = gatehouse.browser();
    const aliceStart = await startLogin(alice, idp.issuer, `${APP_ORIGIN}/alice`);
    const bobStart = await startLogin(bob, idp.issuer, `${APP_ORIGIN}/bob`);
    const aliceCallback = await loginUntilCallback(alice, { email: 'alice@homelab.example.com', groups: 'a' }, aliceStart.authorize.href);
    const bobCallback = await loginUntilCallback(bob, { email: 'bob@homelab.example.com', groups: 'b' }, bobStart.authorize.href);
    const bobDone = await bob.navigate(bobCallback);
    const aliceDone = await alice.navigate(aliceCallback);
    assert.equal(bobDone.response.status, 202);
    assert.equal(bobDone.response.url.pathname, '/bob');
    assert.equal(bobDone.response.headers['x-auth-request-email'], 'bob@homelab.example.com');
    assert.equal(aliceDone.response.status, 202);
    assert.equal(aliceDone.response.url.pathname, '/alice');
    assert.equal(aliceDone.response.headers['x-auth-request-email'], 'alice@homelab.example.com');
    assert.equal(aliceDone.response.headers['x-auth-request-groups'], 'a');
  });

  test('OIDC-03/SESS-06: several tabs of one browser can log in at once, up to the transaction cap', async () => {
    const browser = gatehouse.browser();
    const starts: URL[] = [];
    for (let index = 0; index < MAX_TRANSACTIONS; index += 1) starts.push((await startLogin(browser, idp.issuer, `${APP_ORIGIN}/tab${index}`)).authorize);
    // Each provider round trip is finished before the next starts: the development provider replaces its grant
    // on every authorization, which invalidates codes it issued earlier to the same provider session.
    for (const [index, start] of starts.entries()) {
      const callback = await loginUntilCallback(browser, { email: 'tabs@homelab.example.com' }, start.href);
      const done = await browser.request(callback, { headers: NAVIGATION_HEADERS });
      assert.equal(done.status, 302, `tab ${index}: ${String(done.headers['x-gatehouse-reason'])}`);
      assert.equal(done.headers.location, `${APP_ORIGIN}/tab${index}`);
    }
  });
});

describe('the callback', () => {
  test('OIDC-04: no state, or an empty state, is 400 callback-state-missing', async () => {
    const browser = gatehouse.browser();
    const callback = await loginUntilCallback(browser, { email: 'state@homelab.example.com' });
    const noState = withParams(callback, (params) => params.delete('state'));
    const emptyState = withParams(callback, (params) => params.set('state', ''));
    for (const url of [noState, emptyState, new URL(`${APP_ORIGIN}/oauth2/callback`), new URL(`${APP_ORIGIN}/oauth2/callback?code=abc`)]) {
      assertCallbackFailed(await browser.request(url, { headers: NAVIGATION_HEADERS }), 400, 'callback-state-missing');
    }
  });

  test("OIDC-05: a state that is not this browser's transaction (login CSRF) is 403, and the victim's own login still completes", async () => {
    const attacker = gatehouse.browser();
    const attackerCallback = await loginUntilCallback(attacker, { email: 'mallory@homelab.example.com' });
    const victim = gatehouse.browser();
    const victimStart = await startLogin(victim, idp.issuer, `${APP_ORIGIN}/mine`);
    const forged = await victim.request(attackerCallback, { headers: NAVIGATION_HEADERS });
    assertCallbackFailed(forged, 403, 'callback-transaction-invalid');
    const own = await loginUntilCallback(victim, { email: 'victim@homelab.example.com' }, victimStart.authorize.href);
    const done = await victim.navigate(own);
    assert.equal(done.response.status, 202);
    assert.equal(done.response.headers['x-auth-request-email'], 'victim@homelab.example.com');
  });

  test('OIDC-06: a valid code and state opened in a browser without the transaction cookie is 403; the rightful browser still completes', async () => {
    const owner = gatehouse.browser();
    const callback = await loginUntilCallback(owner, { email: 'owner@homelab.example.com' });
    const stranger = gatehouse.browser();
    const stolen = await stranger.request(callback, { headers: NAVIGATION_HEADERS });
    assertCallbackFailed(stolen, 403, 'callback-transaction-invalid');
    assert.equal(stranger.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), undefined);
    const done = await owner.navigate(callback);
    assert.equal(done.response.status, 202);
    assert.equal(done.response.headers['x-auth-request-email'], 'owner@homelab.example.com');
  });

  test('OIDC-07: a completed callback replayed, with or without the old transaction cookie, or after a newer login started, is 403', async () => {
    const browser = gatehouse.browser();
    const callback = await loginUntilCallback(browser, { email: 'replay@homelab.example.com' });
    const txCookie = browser.allCookies().find((cookie) => cookie.name.startsWith(TX_PREFIX))!;
    const first = await browser.request(callback, { headers: NAVIGATION_HEADERS });
    assert.equal(first.status, 302);
    const session = browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`);
    assert.ok(session !== undefined);

    assertCallbackFailed(await browser.request(callback, { headers: NAVIGATION_HEADERS }), 403, 'callback-transaction-invalid');
    // An attacker who captured both the URL and the transaction cookie cannot complete it again either.
    const thief = gatehouse.browser();
    thief.storeCookie(`${APP_ORIGIN}/oauth2/`, txCookie.raw);
    assertCallbackFailed(await thief.request(callback, { headers: NAVIGATION_HEADERS }), 403, 'callback-transaction-invalid');
    assert.equal(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), session, 'the failed replays left the session alone');
    browser.storeCookie(`${APP_ORIGIN}/oauth2/`, txCookie.raw);
    await startLogin(browser, idp.issuer, `${APP_ORIGIN}/oauth2/start?rd=%2F`);
    assertCallbackFailed(await browser.request(callback, { headers: NAVIGATION_HEADERS }), 403, 'callback-transaction-invalid');
    // Starting a new login ended the old session (SESS-09), and the replay did not bring one back.
    assert.equal(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), undefined);
  });

  test('OIDC-08: a callback after the transaction expired (15 min by default) is 403; just before, it completes', async () => {
    const late = gatehouse.browser();
    const lateCallback = await loginUntilCallback(late, { email: 'late@homelab.example.com' });
    const onTime = gatehouse.browser();
    const onTimeCallback = await loginUntilCallback(onTime, { email: 'ontime@homelab.example.com' });
    try {
      gatehouse.clockOffsetMs = 14 * 60_000;
      const done = await onTime.request(onTimeCallback, { headers: NAVIGATION_HEADERS });
      assert.equal(done.status, 302, String(done.headers['x-gatehouse-reason']));
      gatehouse.clockOffsetMs = 15 * 60_000 + 1000;
      const expired = await late.request(lateCallback, { headers: NAVIGATION_HEADERS });
      assertCallbackFailed(expired, 403, 'callback-transaction-invalid');
      assert.ok(deletesTransaction(expired, lateCallback.searchParams.get('state')!));
    } finally {
      gatehouse.clockOffsetMs = 0;
    }
  });

  test('OIDC-08: the transaction cookie itself lives no longer than cookie.csrfExpire', async () => {
    const short = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_COOKIE_CSRF_EXPIRE: '1m' } });
    try {
      const browser = short.browser();
      const { response } = await startLogin(browser, idp.issuer);
      const tx = response.setCookies.map(parseSetCookie).find((cookie) => cookie.name.startsWith(TX_PREFIX));
      assert.equal(tx?.attributes.get('max-age'), '60');
      const callback = await loginUntilCallback(browser, { email: 'short@homelab.example.com' }, response.location!.href);
      short.clockOffsetMs = 61_000;
      assertCallbackFailed(await browser.request(callback, { headers: NAVIGATION_HEADERS }), 403, 'callback-transaction-invalid');
    } finally {
      await short.close();
    }
  });

  test('OIDC-09: a tampered, foreign or swapped transaction cookie is 403', async () => {
    const browser = gatehouse.browser();
    const callback = await loginUntilCallback(browser, { email: 'tamper@homelab.example.com' });
    const state = callback.searchParams.get('state')!;
    const tx = browser.allCookies().find((cookie) => cookie.name.startsWith(TX_PREFIX))!;
    const other = gatehouse.browser();
    await startLogin(other, idp.issuer);
    const otherTx = other.allCookies().find((cookie) => cookie.name.startsWith(TX_PREFIX))!;
    const foreign = createLoginTransactions({ cookieName: COOKIE_NAME, secrets: [OTHER_SECRET], hostOnly: true });
    const forgedSetCookie = foreign.begin(
      { state, nonce: 'attacker-nonce', codeVerifier: 'attacker-known-verifier-attacker-known-verifier', returnTo: 'https://evil.example.net/', redirectUri: CALLBACK_URL, expiresAt: Math.floor(Date.now() / 1000) + 900 },
      new Map(),
      { domain: '.homelab.example.com', path: '/oauth2/', maxAge: 900, secure: true, httpOnly: true, sameSite: 'lax' },
      Math.floor(Date.now() / 1000),
    )[0]!;
    const flipped = tx.value.slice(0, 40) + (tx.value[40] === 'A' ? 'B' : 'A') + tx.value.slice(41);
    const variants: [string, string][] = [
      ['bit flip', `${tx.name}=${flipped}`],
      ['truncated', `${tx.name}=${tx.value.slice(0, -2)}`],
      ['another deployment with a chosen verifier', forgedSetCookie.split(';')[0]!],
      ["another login's cookie under this name", `${tx.name}=${otherTx.value}`],
      ['empty', `${tx.name}=`],
      ['sent twice', `${tx.name}=${tx.value}; ${tx.name}=${tx.value}`],
    ];
    for (const [what, cookie] of variants) {
      const response = await send({ port: gatehouse.port, path: callback.pathname + callback.search, headers: { host: 'gatehouse', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.homelab.example.com', cookie, ...NAVIGATION_HEADERS } });
      assertCallbackFailed(response, 403, 'callback-transaction-invalid');
      assert.ok(deletesTransaction(response, state), what);
    }
  });

  test("OIDC-10: the attacker's code with the victim's state fails at the provider (PKCE) and makes no session", async () => {
    const attacker = gatehouse.browser();
    const attackerCallback = await loginUntilCallback(attacker, { email: 'mallory@homelab.example.com' });
    const victim = gatehouse.browser();
    const { authorize } = await startLogin(victim, idp.issuer);
    const injected = withParams(attackerCallback, (params) => params.set('state', authorize.searchParams.get('state')!));
    const response = await victim.request(injected, { headers: NAVIGATION_HEADERS });
    assertCallbackFailed(response, 403, 'callback-rejected');
    assert.ok(deletesTransaction(response, authorize.searchParams.get('state')!));
    assert.equal(victim.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), undefined);
    const check = await victim.request(`${APP_ORIGIN}/dashboard`, { headers: API_HEADERS });
    assert.equal(check.status, 401);
  });

  test('OIDC-11: a repeated code, state or iss is 400 callback-duplicate-parameter, and does not burn the login', async () => {
    const browser = gatehouse.browser();
    const callback = await loginUntilCallback(browser, { email: 'dupes@homelab.example.com' });
    for (const name of ['code', 'state', 'iss']) {
      const doubled = withParams(callback, (params) => params.append(name, params.get(name)!));
      assertCallbackFailed(await browser.request(doubled, { headers: NAVIGATION_HEADERS }), 400, 'callback-duplicate-parameter');
      const different = withParams(callback, (params) => params.append(name, 'other'));
      assertCallbackFailed(await browser.request(different, { headers: NAVIGATION_HEADERS }), 400, 'callback-duplicate-parameter');
    }
    const errors = withParams(callback, (params) => {
      params.append('error', 'access_denied');
      params.append('error', 'access_denied');
    });
    assertCallbackFailed(await browser.request(errors, { headers: NAVIGATION_HEADERS }), 400, 'callback-duplicate-parameter');
    const done = await browser.request(callback, { headers: NAVIGATION_HEADERS });
    assert.equal(done.status, 302);
  });

  test('OIDC-12: a provider error is a 403 page with the text escaped, the transaction cleared and no session', async () => {
    const browser = gatehouse.browser();
    const { authorize } = await startLogin(browser, idp.issuer);
    const state = authorize.searchParams.get('state')!;
    const url = new URL(`${APP_ORIGIN}/oauth2/callback`);
    url.searchParams.set('error', 'access_denied');
    url.searchParams.set('error_description', '<script>alert(1)</script>"\'`');
    url.searchParams.set('state', state);
    const response = await browser.request(url, { headers: NAVIGATION_HEADERS });
    assertCallbackFailed(response, 403, 'provider-error');
    assert.ok(!response.body.includes('<script>alert'), 'the description is escaped');
    assert.ok(response.body.includes('&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#96;'));
    assert.ok(deletesTransaction(response, state));
    assert.equal(browser.allCookies().filter((cookie) => cookie.name.startsWith(TX_PREFIX)).length, 0);

    const noState = await browser.request(`${APP_ORIGIN}/oauth2/callback?error=login_required`, { headers: NAVIGATION_HEADERS });
    assertCallbackFailed(noState, 403, 'provider-error');
    const longDescription = await browser.request(`${APP_ORIGIN}/oauth2/callback?error=x&error_description=${'A'.repeat(5000)}`, { headers: NAVIGATION_HEADERS });
    assertCallbackFailed(longDescription, 403, 'provider-error');
    assert.ok(!longDescription.body.includes('A'.repeat(201)), 'the description is cut short');
  });

  test('OIDC-12: a form_post callback (POST) is refused with 405', async () => {
    const browser = gatehouse.browser();
    const response = await browser.request(`${APP_ORIGIN}/oauth2/callback`, { form: { error: 'access_denied', state: 'x' } });
    assert.equal(response.status, 405);
    assert.equal(response.headers['x-gatehouse-reason'], undefined);
    assert.equal(response.headers.allow, 'GET');
    assert.deepEqual(sessionCookiesSet(response), []);
  });

  test('OIDC-13: an iss that is not the issuer, or a missing iss the provider advertises, fails the callback', async () => {
    const browser = gatehouse.browser();
    const callback = await loginUntilCallback(browser, { email: 'mixup@homelab.example.com' });
    assert.equal(callback.searchParams.get('iss'), idp.issuer);
    const evil = withParams(callback, (params) => params.set('iss', 'https://evil-idp.test'));
    assertCallbackFailed(await browser.request(evil, { headers: NAVIGATION_HEADERS }), 403, 'callback-rejected');

    const second = gatehouse.browser();
    const callback2 = await loginUntilCallback(second, { email: 'mixup@homelab.example.com' });
    const missing = withParams(callback2, (params) => params.delete('iss'));
    assertCallbackFailed(await second.request(missing, { headers: NAVIGATION_HEADERS }), 403, 'callback-rejected');
  });

  test('OIDC-14: an id_token injected into the callback never becomes the session', async () => {
    const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: idp.issuer, aud: idp.clientId, sub: 'admin', email: 'admin@homelab.example.com', email_verified: true })).toString('base64url')}.`;
    const browser = gatehouse.browser();
    const callback = await loginUntilCallback(browser, { email: 'honest@homelab.example.com' });
    const injected = withParams(callback, (params) => {
      params.set('id_token', forged);
      params.set('token_type', 'bearer');
    });
    const response = await browser.request(injected, { headers: NAVIGATION_HEADERS });
    if (response.status === 302) {
      const check = await browser.request(`${APP_ORIGIN}/x`, { headers: API_HEADERS });
      assert.equal(check.headers['x-auth-request-email'], 'honest@homelab.example.com');
    } else {
      assertCallbackFailed(response, 403, 'callback-rejected');
    }
    assert.ok(!JSON.stringify(openSession(browser) ?? {}).includes('admin@homelab.example.com'));
  });

  test('OIDC-14: an access_token injected into the callback is ignored; only the code is exchanged', async () => {
    const browser = gatehouse.browser();
    const callback = await loginUntilCallback(browser, { email: 'honest2@homelab.example.com' });
    const injected = withParams(callback, (params) => {
      params.set('access_token', 'attacker-access-token');
      params.set('token_type', 'bearer');
      params.set('expires_in', '99999');
    });
    const response = await browser.request(injected, { headers: NAVIGATION_HEADERS });
    assert.equal(response.status, 302);
    const check = await browser.request(`${APP_ORIGIN}/x`, { headers: API_HEADERS });
    assert.equal(check.status, 202);
    assert.equal(check.headers['x-auth-request-email'], 'honest2@homelab.example.com');
    assert.ok(!JSON.stringify(openSession(browser)).includes('attacker-access-token'));
  });

  test('OIDC-26: the success answer carries no code or token, no-referrer, deletes the transaction and mints a fresh session cookie', async () => {
    const browser = gatehouse.browser();
    // A session cookie planted beforehand (fixation) must not survive the login.
    browser.storeCookie(`${APP_ORIGIN}/`, `${COOKIE_NAME}=v1.planted-by-attacker; Path=/; Domain=.homelab.example.com; Secure`);
    const callback = await loginUntilCallback(browser, { email: 'clean@homelab.example.com' }, `${APP_ORIGIN}/landing?x=1`);
    const state = callback.searchParams.get('state')!;
    const response = await browser.request(callback, { headers: NAVIGATION_HEADERS });
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, `${APP_ORIGIN}/landing?x=1`);
    for (const secret of [callback.searchParams.get('code')!, state, 'token', 'code=']) assert.ok(!response.headers.location.includes(secret), secret);
    assert.equal(response.headers['referrer-policy'], 'no-referrer');
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(response.headers['x-frame-options'], 'DENY');
    assert.ok(deletesTransaction(response, state));
    const minted = sessionCookiesSet(response);
    assert.equal(minted.length, 1);
    assert.notEqual(minted[0]!.value, 'v1.planted-by-attacker');
    assert.ok(!response.body.includes(callback.searchParams.get('code')!));
    assert.equal(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), minted[0]!.value);
  });

  test('OIDC-22: a provider whose discovery names another issuer is never used: sign-in is unavailable (503)', async () => {
    const liar = await startHostileIdp({ discoveryIssuer: 'https://idp.test/realms/home' });
    const misconfigured = await startGatehouse({ provider: liar, waitForDiscovery: false });
    try {
      const response = await misconfigured.request('/oauth2/start?rd=%2F', { headers: NAVIGATION_HEADERS });
      assert.equal(response.status, 503);
      assert.equal(response.headers.location, undefined);
      assert.deepEqual(response.setCookies, []);
      const ready = await send({ port: misconfigured.port, path: '/ready' });
      assert.equal(ready.status, 503);
    } finally {
      await misconfigured.close();
      await liar.close();
    }
  });
});

describe('ID tokens from a hostile provider (CB-FAIL expected)', () => {
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

  /** Runs a login against the hostile provider with `script` answering the code exchange. */
  async function loginWith(script: ((request: TokenRequest) => Promise<{ body: Record<string, unknown> | string; status?: number }>) | undefined, gate: Gatehouse = front): Promise<{ browser: Browser; response: BrowserResponse; state: string }> {
    hostile.tokenScript = script === undefined ? undefined : (request) => script(request);
    try {
      const browser = gate.browser();
      const { stoppedAt } = await browser.navigate(`${APP_ORIGIN}/dashboard`, { stopBefore: isCallback });
      assert.ok(stoppedAt !== undefined);
      const response = await browser.request(stoppedAt, { headers: NAVIGATION_HEADERS });
      return { browser, response, state: stoppedAt.searchParams.get('state')! };
    } finally {
      hostile.tokenScript = undefined;
    }
  }

  async function assertRejected(what: string, script: (request: TokenRequest) => Promise<{ body: Record<string, unknown> | string; status?: number }>, gate: Gatehouse = front): Promise<void> {
    const { response, state, browser } = await loginWith(script, gate);
    assert.equal(response.status, 403, `${what}: ${response.status} ${String(response.headers['x-gatehouse-reason'])}`);
    assertCallbackFailed(response, 403, 'callback-rejected');
    assert.ok(deletesTransaction(response, state), what);
    const check = await browser.request(`${APP_ORIGIN}/dashboard`, { headers: API_HEADERS });
    assert.equal(check.status, 401, what);
    assert.deepEqual(identityHeadersOf(check), {}, what);
  }

  const claimsWith = (request: TokenRequest, change: Record<string, unknown>, remove: string[] = []) => {
    const claims: Record<string, unknown> = { ...hostile.honestClaims(request.record), ...change };
    for (const name of remove) Reflect.deleteProperty(claims, name);
    return claims;
  };

  test('the honest provider signs in (control)', async () => {
    const { response, browser } = await loginWith(undefined);
    assert.equal(response.status, 302, String(response.headers['x-gatehouse-reason']));
    const check = await browser.request(`${APP_ORIGIN}/dashboard`, { headers: API_HEADERS });
    assert.equal(check.status, 202);
    assert.equal(check.headers['x-auth-request-email'], hostile.account.email);
    assert.equal(check.headers['x-auth-request-user'], hostile.account.sub);
  });

  type Script = (request: TokenRequest) => Promise<{ body: Record<string, unknown> | string; status?: number }>;
  const now = () => Math.floor(Date.now() / 1000);
  const reshape = (change: (idToken: string, request: TokenRequest) => string): Script => async (request) => {
    const reply = await hostile.honestReply(request);
    const body = reply.body as Record<string, string>;
    return { body: { ...body, id_token: change(body.id_token!, request) } };
  };
  const refused: [string, string, Script][] = [
    ['OIDC-15', 'an ES256 ID token signed by a key not in the JWKS (same kid)', async (request) => hostile.honestReply(request, undefined, { alg: 'ES256', key: 'foreign' })],
    ['OIDC-15', 'an RS256 ID token signed by a key not in the JWKS (same kid)', async (request) => hostile.honestReply(request, undefined, { alg: 'RS256', key: 'foreign' })],
    ['OIDC-15', 'an ID token signed by an unknown kid', async (request) => hostile.honestReply(request, undefined, { alg: 'ES256', key: 'foreign', kid: 'not-in-jwks' })],
    ['OIDC-15', 'an ID token with its signature stripped', reshape((idToken) => `${idToken.split('.').slice(0, 2).join('.')}.`)],
    [
      'OIDC-15',
      'an ID token with an altered signature',
      reshape((idToken) => {
        const [header, payload, signature] = idToken.split('.');
        return `${header!}.${payload!}.${signature![0] === 'A' ? 'B' : 'A'}${signature!.slice(1)}`;
      }),
    ],
    [
      'OIDC-15',
      'an ID token whose claims were changed after signing',
      reshape((idToken, request) => {
        const [header, , signature] = idToken.split('.');
        const payload = Buffer.from(JSON.stringify({ ...hostile.honestClaims(request.record), email: 'admin@homelab.example.com' })).toString('base64url');
        return `${header!}.${payload}.${signature!}`;
      }),
    ],
    ['OIDC-15', 'an unsigned ID token (alg none)', async (request) => hostile.honestReply(request, undefined, { alg: 'none' })],
    ['OIDC-15', 'an HS256 ID token signed with the client secret', async (request) => hostile.honestReply(request, undefined, { alg: 'HS256' })],
    ['OIDC-16', 'an ID token whose iss is another issuer', async (request) => hostile.honestReply(request, claimsWith(request, { iss: 'https://evil-idp.test' }))],
    ['OIDC-16', 'an ID token whose iss has a trailing slash', async (request) => hostile.honestReply(request, claimsWith(request, { iss: `${hostile.issuer}/` }))],
    ['OIDC-16', 'an ID token without iss', async (request) => hostile.honestReply(request, claimsWith(request, {}, ['iss']))],
    ['OIDC-17', 'an ID token for another client (aud)', async (request) => hostile.honestReply(request, claimsWith(request, { aud: 'another-client' }))],
    ['OIDC-17', 'an ID token without aud', async (request) => hostile.honestReply(request, claimsWith(request, {}, ['aud']))],
    ['OIDC-17', 'an ID token with an extra audience and no azp', async (request) => hostile.honestReply(request, claimsWith(request, { aud: [hostile.clientId, 'untrusted'] }))],
    ['OIDC-17', 'an ID token with an extra audience and a foreign azp', async (request) => hostile.honestReply(request, claimsWith(request, { aud: [hostile.clientId, 'untrusted'], azp: 'untrusted' }))],
    ['OIDC-17', 'an ID token whose azp is another client', async (request) => hostile.honestReply(request, claimsWith(request, { azp: 'another-client' }))],
    ['OIDC-18', 'an ID token without sub', async (request) => hostile.honestReply(request, claimsWith(request, {}, ['sub']))],
    ['OIDC-18', 'an ID token without iat', async (request) => hostile.honestReply(request, claimsWith(request, {}, ['iat']))],
    ['OIDC-18', 'an ID token without exp', async (request) => hostile.honestReply(request, claimsWith(request, {}, ['exp']))],
    ['OIDC-18', 'an ID token that expired an hour ago', async (request) => hostile.honestReply(request, claimsWith(request, { iat: now() - 7200, exp: now() - 3600 }))],
    ['OIDC-18', 'an ID token whose exp is text', async (request) => hostile.honestReply(request, claimsWith(request, { exp: String(now() + 600) }))],
    ['OIDC-19', 'an ID token with another nonce', async (request) => hostile.honestReply(request, claimsWith(request, { nonce: 'not-the-nonce' }))],
    ['OIDC-19', 'an ID token without nonce', async (request) => hostile.honestReply(request, claimsWith(request, {}, ['nonce']))],
    [
      'OIDC-20',
      'an ID token whose at_hash is for another access token',
      async (request) => {
        const idToken = await hostile.sign({ ...hostile.honestClaims(request.record), at_hash: hostile.atHash('some-other-token') });
        return { body: { access_token: 'access-token-real', token_type: 'Bearer', expires_in: 600, id_token: idToken } };
      },
    ],
  ];
  for (const [id, what, script] of refused) {
    test(`${id}: ${what} is refused`, async () => {
      await assertRejected(what, script);
    });
  }

  test('OIDC-19: the ID token of an earlier login (its nonce) is refused', async () => {
    let earlier: string | undefined;
    const first = await loginWith(async (request) => {
      const reply = await hostile.honestReply(request);
      earlier = (reply.body as Record<string, string>).id_token;
      return reply;
    });
    assert.equal(first.response.status, 302);
    await assertRejected('ID token of an earlier login', async (request) => {
      const reply = await hostile.honestReply(request);
      return { body: { ...(reply.body as Record<string, unknown>), id_token: earlier } };
    });
  });

  /** A gatehouse that fetches the provider's key set afresh (openid-client keeps one per discovery), as it is now. */
  async function withFreshKeySet(extra: Record<string, unknown>[], run: (gate: Gatehouse) => Promise<void>): Promise<void> {
    hostile.jwksExtra = extra;
    const gate = await startGatehouse({ provider: hostile });
    try {
      await run(gate);
    } finally {
      hostile.jwksExtra = [];
      await gate.close();
    }
  }

  test('OIDC-21: key selection at login: no kid with one key of the type signs in; unparseable keys are ignored; no kid and no verifying key never signs in', async () => {
    const honestWithoutKid: Script = async (request) => hostile.honestReply(request, undefined, { kid: null });
    const single = await loginWith(honestWithoutKid);
    assert.equal(single.response.status, 302, `no kid, one EC key: ${String(single.response.headers['x-gatehouse-reason'])}`);
    const junk = [
      { kty: 'XYZ', kid: 'strange' },
      { kty: 'RSA', kid: 'broken-rsa', alg: 'RS256', n: '!!not base64url!!', e: 'AQAB' },
      { kty: 'AKP', kid: 'bogus-akp', alg: 'ML-DSA-44', pub: 'AAAA' },
      { kty: 'EC', kid: 'off-curve', alg: 'ES256', crv: 'P-256', x: 'AAAA', y: 'AAAA' },
    ];
    await withFreshKeySet(junk, async (gate) => {
      const withJunk = await loginWith(undefined, gate);
      assert.equal(withJunk.response.status, 302, `unparseable keys next to the real ones: ${String(withJunk.response.headers['x-gatehouse-reason'])}`);
    });
    await withFreshKeySet([await hostile.foreignJwk('ES256', 'es-spare')], async (gate) => {
      // Two EC keys and no kid: openid-client asks for a kid rather than try each.
      await assertRejected('no kid, two EC keys', honestWithoutKid, gate);
      const withKid = await loginWith(undefined, gate);
      assert.equal(withKid.response.status, 302, 'with its kid the same token signs in');
    });
    await assertRejected('no kid, signed by a key the JWKS does not hold', async (request) => hostile.honestReply(request, undefined, { kid: null, key: 'foreign' }));
  });

  test('OIDC-21: a rotated key signs in once the key set is fetched with it; a key withdrawn from the set does not', async () => {
    await withFreshKeySet([await hostile.foreignJwk('ES256', 'es-2')], async (gate) => {
      const rotated = await loginWith(async (request) => hostile.honestReply(request, undefined, { key: 'foreign', kid: 'es-2' }), gate);
      assert.equal(rotated.response.status, 302, `signed with the new key: ${String(rotated.response.headers['x-gatehouse-reason'])}`);
    });
    await assertRejected('an ID token signed by a key the set no longer holds', async (request) => hostile.honestReply(request, undefined, { key: 'foreign', kid: 'es-2' }));
  });

  test('OIDC-23: the identity is the ID token’s alone; the userinfo endpoint, whatever it says, is never asked', async () => {
    const before = hostile.userinfoRequests;
    const { response, browser } = await loginWith(undefined);
    assert.equal(response.status, 302);
    const check = await browser.request(`${APP_ORIGIN}/dashboard`, { headers: API_HEADERS });
    assert.equal(check.status, 202);
    assert.equal(check.headers['x-auth-request-user'], hostile.account.sub);
    assert.equal(check.headers['x-auth-request-email'], hostile.account.email);
    assert.equal(check.headers['x-auth-request-groups'] ?? '', '', 'no groups from userinfo');
    assert.equal(hostile.userinfoRequests, before, 'no request reached userinfo');
  });

  test('OIDC-28: third-party-initiated login parameters are ignored: no iss, target_link_uri or scope from the link reaches the provider or the return target', async () => {
    const browser = front.browser();
    const start = await browser.request(`${APP_ORIGIN}/oauth2/start?iss=${encodeURIComponent('https://evil-idp.test')}&target_link_uri=${encodeURIComponent('https://evil.com\\.homelab.example.com/')}&scope=admin&login_hint=x`, { headers: NAVIGATION_HEADERS });
    assert.equal(start.status, 302);
    const authorize = start.location!;
    assert.equal(authorize.origin, new URL(hostile.issuer).origin, 'the configured provider, not the link’s iss');
    assert.equal(authorize.searchParams.get('scope'), 'openid email profile');
    assert.ok(!authorize.href.includes('evil'), authorize.href);
    const { response } = await browser.navigate(authorize);
    assert.equal(response.url.origin, APP_ORIGIN, 'the login returns to the deployment, not to target_link_uri');
    assert.equal(response.url.pathname, '/');
  });

  test('OIDC-17: aud as a one-element array with our client id is accepted', async () => {
    const { response } = await loginWith(async (request) => hostile.honestReply(request, claimsWith(request, { aud: [hostile.clientId] })));
    assert.equal(response.status, 302, String(response.headers['x-gatehouse-reason']));
  });

  test('OIDC-20: an at_hash that matches the access token is accepted', async () => {
    const { response } = await loginWith(async (request) => {
      const accessToken = 'access-token-good';
      const idToken = await hostile.sign({ ...hostile.honestClaims(request.record), at_hash: hostile.atHash(accessToken) });
      return { body: { access_token: accessToken, token_type: 'Bearer', expires_in: 600, id_token: idToken } };
    });
    assert.equal(response.status, 302, String(response.headers['x-gatehouse-reason']));
  });

  test('OIDC-24: token endpoint quirks: bearer in any case is accepted; no ID token, HTML, bad JSON or an error fail closed', async () => {
    for (const tokenType of ['bearer', 'BEARER']) {
      const { response } = await loginWith(async (request) => {
        const reply = await hostile.honestReply(request);
        return { body: { ...(reply.body as Record<string, unknown>), token_type: tokenType } };
      });
      assert.equal(response.status, 302, `token_type ${tokenType}: ${String(response.headers['x-gatehouse-reason'])}`);
    }
    await assertRejected('no id_token', async () => Promise.resolve({ body: { access_token: 'x', token_type: 'Bearer', expires_in: 60 } }));
    await assertRejected('HTML with 200', async () => Promise.resolve({ body: '<html><body>login</body></html>' }));
    await assertRejected('invalid JSON', async () => Promise.resolve({ body: '{"access_token": ' }));
    await assertRejected('invalid_grant', async () => Promise.resolve({ status: 400, body: { error: 'invalid_grant' } }));
    await assertRejected('a 500', async () => Promise.resolve({ status: 500, body: { error: 'server_error' } }));
    for (const line of front.logs) assert.ok(!line.includes(hostile.clientSecret), 'the client secret is never logged');
  });

  test('OIDC-24: a token endpoint that redirects elsewhere is not followed and fails closed', async () => {
    await assertRejected('302 to another host', async () => Promise.resolve({ status: 302, body: { location: 'http://169.254.169.254/latest/meta-data/' } }));
  });

  test('OIDC-24: a token endpoint that never answers fails closed within provider.timeout', async () => {
    const impatient = await startGatehouse({ provider: hostile, env: { GATEHOUSE_PROVIDER_TIMEOUT: '1s' } });
    hostile.tokenScript = () => new Promise(() => undefined);
    try {
      const browser = impatient.browser();
      const { stoppedAt } = await browser.navigate(`${APP_ORIGIN}/dashboard`, { stopBefore: isCallback });
      const started = Date.now();
      const response = await browser.request(stoppedAt!, { headers: NAVIGATION_HEADERS });
      assert.ok(Date.now() - started < 4000, `${Date.now() - started} ms`);
      assert.ok(response.status === 403 || response.status === 503, String(response.status));
      assert.deepEqual(sessionCookiesSet(response), []);
      assert.equal(response.headers.location, undefined);
    } finally {
      hostile.tokenScript = undefined;
      await impatient.close();
    }
  });

  test('FWD-17: hostile claim values reach the upstream only as safe header values', async () => {
    const saved = hostile.account;
    hostile.account = {
      sub: 'bob\r\nX-Auth-Request-Groups: admin',
      email: 'bob@homelab.example.com',
      claims: { preferred_username: 'alice\nadmin\u0000', groups: ['dev,admin', 'ops\r\nSet-Cookie: a=b', 'Zoë 🦊'] },
    };
    try {
      const { response, browser } = await loginWith(undefined);
      assert.equal(response.status, 302, String(response.headers['x-gatehouse-reason']));
      const check = await browser.request(`${APP_ORIGIN}/dashboard`, { headers: API_HEADERS });
      assert.equal(check.status, 202);
      assert.equal(check.headers['x-auth-request-user'], 'bobX-Auth-Request-Groups: admin');
      assert.equal(check.headers['x-auth-request-preferred-username'], 'aliceadmin');
      assert.equal(check.headers['x-auth-request-groups'], 'dev%2Cadmin,opsSet-Cookie: a=b,Zo%C3%AB %F0%9F%A6%8A');
      assert.equal(check.headers['set-cookie'], undefined);
    } finally {
      hostile.account = saved;
    }
  });

  test('OIDC-25: a refresh whose ID token names another subject or issuer, or that the provider refuses, ends the session', async () => {
    const cases: [string, (request: TokenRequest) => Promise<{ body: Record<string, unknown> | string; status?: number }>][] = [
      ['another sub', async (request) => hostile.honestReply(request, claimsWith(request, { sub: 'someone-else', email: 'admin@homelab.example.com' }))],
      ['another iss', async (request) => hostile.honestReply(request, claimsWith(request, { iss: 'https://evil-idp.test' }))],
      ['invalid_grant', async () => Promise.resolve({ status: 400, body: { error: 'invalid_grant' } })],
    ];
    for (const [what, script] of cases) {
      const { response, browser } = await loginWith(undefined);
      assert.equal(response.status, 302);
      assert.ok(openSession(browser)?.refreshToken !== undefined, 'the session keeps the refresh token');
      hostile.tokenScript = (request) => (request.grantType === 'refresh_token' ? script(request) : hostile.honestReply(request));
      front.clockOffsetMs = 2 * 60_000;
      try {
        const check = await front.request('/oauth2/auth', { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/dashboard' } });
        assert.equal(check.status, 401, `${what}: ${check.status}`);
        assert.equal(check.headers['x-gatehouse-reason'], 'session-refresh-failed', what);
        assert.deepEqual(identityHeadersOf(check), {}, what);
        const cleared = check.setCookies.map(parseSetCookie).find((cookie) => cookie.name === COOKIE_NAME);
        assert.ok(cleared !== undefined && isDeletion(cleared), `${what}: the session cookie is cleared`);
      } finally {
        front.clockOffsetMs = 0;
        hostile.tokenScript = undefined;
      }
    }
  });
});

describe('refresh with the development provider', () => {
  let refreshing: Gatehouse;
  before(async () => {
    refreshing = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_COOKIE_REFRESH: '1m' } });
  });
  after(() => refreshing.close());

  test('OIDC-25 (control): a due refresh succeeds inline for API checks and through /oauth2/refresh for navigations', async () => {
    const browser = refreshing.browser();
    await login(browser, { email: 'fresh@homelab.example.com' });
    const before = openSession(browser)!;
    try {
      refreshing.clockOffsetMs = 2 * 60_000;
      const api = await refreshing.request('/oauth2/auth', { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/x' } });
      assert.equal(api.status, 202);
      const renewed = api.setCookies.map(parseSetCookie).find((cookie) => cookie.name === COOKIE_NAME);
      assert.ok(renewed !== undefined && !isDeletion(renewed));

      const navigation = await browser.navigate(`${APP_ORIGIN}/page`);
      assert.equal(navigation.chain[0]!.status, 302);
      assert.equal(navigation.chain[0]!.location?.pathname, '/oauth2/refresh');
      assert.equal(navigation.response.status, 202);
      const after = openSession(browser)!;
      assert.ok(after.refreshedAt >= before.refreshedAt + 120);
      assert.equal(after.createdAt, before.createdAt);
      assert.equal(after.expiresAt, before.expiresAt, 'a refresh never extends the session');
    } finally {
      refreshing.clockOffsetMs = 0;
    }
  });

  test('OIDC-25: a refresh token the provider no longer knows (invalid_grant) ends the session', async () => {
    const browser = refreshing.browser();
    await login(browser, { email: 'revoked@homelab.example.com' });
    const refreshToken = openSession(browser)!.refreshToken!;
    const stored = await idp.provider.RefreshToken.find(refreshToken);
    assert.ok(stored !== undefined);
    await stored.destroy();
    try {
      refreshing.clockOffsetMs = 2 * 60_000;
      const api = await refreshing.request('/oauth2/auth', { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/x' } });
      assert.equal(api.status, 401);
      assert.equal(api.headers['x-gatehouse-reason'], 'session-refresh-failed');
      assert.ok(api.setCookies.map(parseSetCookie).some((cookie) => cookie.name === COOKIE_NAME && isDeletion(cookie)));

      const navigation = await browser.navigate(`${APP_ORIGIN}/page`, { stopBefore: (next) => next.origin === new URL(idp.issuer).origin });
      assert.ok(navigation.stoppedAt !== undefined, 'the browser is sent to log in again');
      assert.equal(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), undefined, 'the old session cookie is gone');
    } finally {
      refreshing.clockOffsetMs = 0;
    }
  });
});
