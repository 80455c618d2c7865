/**
 * security-cases.md §E (SESS-*), FWD-16 and the DOS cases that concern gatehouse's own HTTP handling,
 * against a real gatehouse and the real development provider. Each test is named with its catalogue ID.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.js';
import type { DevProvider } from '../../src/devidp/index.js';
import { createGateway, type GatewayRequest, type Verdict } from '../../src/gateway/index.js';
import { SERVER_TIMEOUTS, startServer } from '../../src/http/index.js';
import { createRedirectPolicy, validateRedirect } from '../../src/http/redirect.js';
import { silentLoggers } from '../../src/log/index.js';
import { createOidcClient } from '../../src/oidc/index.js';
import { emailPolicyFromConfig } from '../../src/policy/email-policy.js';
import { compilePolicySet } from '../../src/policy/routes.js';
import { createCookieStore, sessionBinding, createLoginTransactions, MAX_COOKIES, MAX_TRANSACTIONS, parseCookies, type Session, type SessionStore } from '../../src/session/index.js';
import { NAVIGATION_HEADERS, isDeletion, parseSetCookie, sendRaw, statusOf, type RawResponse } from '../support/http-client.js';
import {
  API_HEADERS,
  APP_HOST,
  APP_ORIGIN,
  COOKIE_NAME,
  COOKIE_SECRET,
  OTHER_SECRET,
  baseEnv,
  cookieHeader,
  identityHeadersOf,
  login,
  loginUntilCallback,
  openSession,
  startGatehouse,
  startTestProvider,
  type Gatehouse,
  TX_PREFIX,
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

/** A session as gatehouse would seal it for `email`. */
function sessionFor(email: string, overrides: Partial<Session> = {}): Session {
  const now = Math.floor(Date.now() / 1000);
  return {
    identity: { sub: email, email, emailVerified: true, groups: ['admins'], username: email.split('@')[0]!, issuer: idp.issuer, authMethod: 'session' },
    createdAt: now,
    refreshedAt: now,
    expiresAt: now + 3600,
    ...overrides,
  };
}

/** The session cookie value(s) `secrets` would seal for `session` under `name`, as a Cookie header. */
async function sealedCookie(session: Session, secrets: readonly string[], name = COOKIE_NAME, binding = sessionBinding(idp.issuer, idp.clientId)): Promise<string> {
  const setCookies = await createCookieStore({ name, secrets, binding }).save(session, new Map(), { domain: undefined, path: '/', maxAge: 3600, secure: true, httpOnly: true, sameSite: 'lax' });
  return setCookies.map((setCookie) => setCookie.split(';')[0]!).join('; ');
}

/** A forward-auth check with this Cookie header, in the three ways a proxy asks. */
async function checkAllModes(target: Gatehouse, cookie: string): Promise<{ navigation: RawResponse; api: RawResponse; auth: RawResponse }> {
  const navigation = await target.request('/dashboard', { headers: { ...NAVIGATION_HEADERS, cookie } });
  const api = await target.request('/dashboard', { headers: { ...API_HEADERS, cookie } });
  const auth = await target.request('/oauth2/auth', { headers: { cookie, 'x-forwarded-uri': '/dashboard' } });
  return { navigation, api, auth };
}

/** Fail closed: never 2xx, never 5xx, no identity headers; the API answers carry `reason`. */
function assertDenied(answers: { navigation: RawResponse; api: RawResponse; auth: RawResponse }, reason: string, what: string): void {
  for (const [mode, response] of Object.entries(answers)) {
    assert.ok(response.status >= 300 && response.status < 500, `${what} (${mode}): ${response.status}`);
    assert.deepEqual(identityHeadersOf(response), {}, `${what} (${mode})`);
  }
  assert.equal(answers.navigation.status, 302, what);
  assert.match(answers.navigation.headers.location ?? '', /\/oauth2\/start\?rd=/, what);
  assert.equal(answers.api.status, 401, what);
  assert.equal(answers.api.headers['x-gatehouse-reason'], reason, `${what} (api)`);
  assert.equal(answers.auth.status, 401, what);
  assert.equal(answers.auth.headers['x-gatehouse-reason'], reason, `${what} (auth)`);
}

function setCookie(response: RawResponse, name: string) {
  return response.setCookies.map(parseSetCookie).find((cookie) => cookie.name === name);
}

describe('SESS-01: cookie attributes', () => {
  test('the session cookie is HttpOnly, Secure, SameSite=Lax, Path=/, Domain=.homelab.example.com, Max-Age of cookie.expire', async () => {
    const browser = gatehouse.browser();
    const { callback } = await login(browser, { email: 'attrs@homelab.example.com' });
    const session = setCookie(callback, COOKIE_NAME);
    assert.ok(session !== undefined);
    assert.deepEqual(Object.fromEntries(session.attributes), { path: '/', domain: '.homelab.example.com', 'max-age': String(168 * 3600), httponly: '', secure: '', samesite: 'Lax' });
  });

  test('the transaction cookie is __Host-: host-only on Path=/, HttpOnly, Secure, SameSite=Lax, and lives at most 15 minutes', async () => {
    const response = await gatehouse.request('/oauth2/start?rd=%2F', { headers: NAVIGATION_HEADERS });
    const tx = response.setCookies.map(parseSetCookie).find((cookie) => cookie.name.startsWith(TX_PREFIX));
    assert.ok(tx !== undefined);
    assert.equal(tx.attributes.get('path'), '/');
    assert.equal(tx.attributes.get('domain'), undefined, 'host-only: a sibling subdomain cannot set or read it');
    assert.ok(Number(tx.attributes.get('max-age')) > 0 && Number(tx.attributes.get('max-age')) <= 900);
    assert.ok(tx.attributes.has('httponly') && tx.attributes.has('secure'));
    assert.equal(tx.attributes.get('samesite'), 'Lax');
  });

  test('Secure is set even when the proxy says the request came over http', async () => {
    // A start over http is first sent to https (the callback URL is https because cookie.secure is on).
    const start = await gatehouse.request('/oauth2/start?rd=%2F', { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-proto': 'http' } });
    assert.equal(start.status, 302);
    assert.match(start.headers.location ?? '', /^https:\/\/app\.homelab\.example\.com\/oauth2\/start\?/);
    for (const cookie of start.setCookies.map(parseSetCookie)) assert.ok(cookie.attributes.has('secure'), cookie.name);
    // A callback that arrives over http still sets Secure cookies only.
    const browser = gatehouse.browser();
    const callback = await loginUntilCallback(browser, { email: 'plainhttp@homelab.example.com' });
    const response = await gatehouse.request(callback.pathname + callback.search, { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-proto': 'http', cookie: cookieHeader(browser, '/oauth2/callback') } });
    assert.equal(response.status, 302, String(response.headers['x-gatehouse-reason']));
    assert.ok(response.setCookies.length >= 2);
    for (const cookie of response.setCookies.map(parseSetCookie)) assert.ok(cookie.attributes.has('secure'), cookie.name);
  });

  test('a host outside the cookie domains starts no login and gets no cookie (FWD-03), least of all one with a Domain derived from it', async () => {
    const response = await gatehouse.request('/oauth2/start?rd=%2F', { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-host': 'evil.example.net' } });
    assert.equal(response.status, 403);
    assert.equal(response.headers['x-gatehouse-reason'], 'host-not-allowed');
    assert.deepEqual(response.setCookies, []);
  });
});

describe('SESS-02: a tampered session cookie fails closed', () => {
  let value: string;
  before(async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'victim@homelab.example.com', groups: 'admins' });
    value = browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`)!;
  });

  test('the untouched cookie is accepted (control)', async () => {
    const answers = await checkAllModes(gatehouse, `${COOKIE_NAME}=${value}`);
    for (const response of Object.values(answers)) assert.equal(response.status, 202);
  });

  test('bit flips in kid, IV, ciphertext and tag; truncation; appended data; garbage; plaintext: never 2xx, never 5xx', async () => {
    const bytes = Buffer.from(value.slice(3), 'base64url');
    const flip = (index: number) => {
      const copy = Buffer.from(bytes);
      copy[index] = (copy[index] ?? 0) ^ 0x01;
      return `v1.${copy.toString('base64url')}`;
    };
    const variants: [string, string][] = [
      ['kid bit flip', flip(1)],
      ['IV bit flip', flip(8)],
      ['ciphertext bit flip', flip(30)],
      ['tag bit flip', flip(bytes.length - 2)],
      ['truncated by one character', value.slice(0, -1)],
      ['truncated by one byte', `v1.${bytes.subarray(0, -1).toString('base64url')}`],
      ['appended data', `${value}AAAA`],
      ['appended byte', `v1.${Buffer.concat([bytes, Buffer.from([0])]).toString('base64url')}`],
      ['base64 garbage', `v1.${randomBytes(120).toString('base64url')}`],
      ['null', 'null'],
      ['plaintext JSON', '{"sub":"admin","email":"admin@homelab.example.com"}'],
      ['plaintext base64 JSON', Buffer.from('{"sub":"admin"}').toString('base64url')],
      ['the version prefix alone', 'v1.'],
      ['another version', `v2.${value.slice(3)}`],
      ['quoted', `"${value}x"`],
      ['15 000 dots', '.'.repeat(15_000)],
    ];
    for (const [what, variant] of variants) assertDenied(await checkAllModes(gatehouse, `${COOKIE_NAME}=${variant}`), 'session-cookie-invalid', what);
  });

  test('an empty cookie is no session at all', async () => {
    assertDenied(await checkAllModes(gatehouse, `${COOKIE_NAME}=`), 'user-unauthenticated', 'empty');
  });

  test('an unusable cookie is cleared on the answer', async () => {
    const { api } = await checkAllModes(gatehouse, `${COOKIE_NAME}=v1.${randomBytes(60).toString('base64url')}`);
    const cleared = setCookie(api, COOKIE_NAME);
    assert.ok(cleared !== undefined && isDeletion(cleared));
    assert.equal(cleared.attributes.get('domain'), '.homelab.example.com');
  });
});

describe('SESS-03: keys and contexts', () => {
  test("a cookie sealed with another deployment's secret, or for another cookie name, is refused", async () => {
    assertDenied(await checkAllModes(gatehouse, await sealedCookie(sessionFor('admin@homelab.example.com'), [OTHER_SECRET])), 'session-cookie-invalid', 'foreign secret');
    const otherName = (await sealedCookie(sessionFor('admin@homelab.example.com'), [COOKIE_SECRET], '_other')).replace(/^_other=/, `${COOKIE_NAME}=`);
    assertDenied(await checkAllModes(gatehouse, otherName), 'session-cookie-invalid', 'sealed for another cookie name');
  });

  test('a session minted with the same secret and cookie name by a deployment for another issuer is refused', async () => {
    const foreignIssuer = sessionFor('admin@homelab.example.com');
    const cookie = await sealedCookie({ ...foreignIssuer, identity: { ...foreignIssuer.identity, issuer: 'https://staging-idp.example.com' } }, [COOKIE_SECRET], COOKIE_NAME, sessionBinding('https://staging-idp.example.com', idp.clientId));
    const answers = await checkAllModes(gatehouse, cookie);
    for (const [mode, response] of Object.entries(answers)) {
      assert.ok(response.status >= 300 && response.status < 500, `${mode}: ${response.status}`);
      assert.deepEqual(identityHeadersOf(response), {}, mode);
    }
    assert.match(String(answers.api.headers['x-gatehouse-reason']), /^session-/);
  });

  test('SESS-08: two session cookies (a tossed one next to the real one) are ambiguous, never the more specific one', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'tossed@homelab.example.com' });
    const mine = browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`)!;
    const theirs = (await sealedCookie(sessionFor('mallory@homelab.example.com'), [COOKIE_SECRET])).split('=').slice(1).join('=');
    // A browser sends the cookie with the longer Path first: the attacker's Path=/admin one.
    for (const cookie of [`${COOKIE_NAME}=${theirs}; ${COOKIE_NAME}=${mine}`, `${COOKIE_NAME}=${mine}; ${COOKIE_NAME}=${theirs}`]) {
      assertDenied(await checkAllModes(gatehouse, cookie), 'session-cookie-ambiguous', 'two session cookies');
    }
  });

  test('a session sealed by this deployment for the right name is accepted (control for the above)', async () => {
    const { auth } = await checkAllModes(gatehouse, await sealedCookie(sessionFor('admin@homelab.example.com'), [COOKIE_SECRET]));
    assert.equal(auth.status, 202);
  });

  test('rotation: a cookie of the old first secret is accepted when that secret is listed second, and re-sealed on the answer', async () => {
    const newSecret = randomBytes(32).toString('base64url');
    const browser = gatehouse.browser();
    await login(browser, { email: 'rotate@homelab.example.com' });
    const old = cookieHeader(browser);
    const rotated = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_COOKIE_SECRETS: `${newSecret},${COOKIE_SECRET}` } });
    const retired = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_COOKIE_SECRETS: newSecret } });
    try {
      const answer = await rotated.request('/oauth2/auth', { headers: { cookie: old, 'x-forwarded-uri': '/' } });
      assert.equal(answer.status, 202);
      assert.equal(answer.headers['x-auth-request-email'], 'rotate@homelab.example.com');
      const resealed = setCookie(answer, COOKIE_NAME);
      assert.ok(resealed !== undefined && !isDeletion(resealed), 'the answer re-seals the session');
      assert.equal(resealed.attributes.get('domain'), '.homelab.example.com');
      const fresh = `${COOKIE_NAME}=${resealed.value}`;
      assert.equal((await retired.request('/oauth2/auth', { headers: { cookie: fresh, 'x-forwarded-uri': '/' } })).status, 202, 'the re-sealed cookie needs only the new secret');
      const again = await rotated.request('/oauth2/auth', { headers: { cookie: fresh, 'x-forwarded-uri': '/' } });
      assert.equal(again.status, 202);
      assert.equal(setCookie(again, COOKIE_NAME), undefined, 'a current cookie is not re-sealed');
      const removed = await retired.request('/oauth2/auth', { headers: { cookie: old, 'x-forwarded-uri': '/' } });
      assert.equal(removed.status, 401);
      assert.equal(removed.headers['x-gatehouse-reason'], 'session-cookie-invalid');
    } finally {
      await rotated.close();
      await retired.close();
    }
  });
});

describe('SESS-04: server-side expiry', () => {
  test('a session past cookie.expire is refused whatever the browser kept, and cleared', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'expiry@homelab.example.com' });
    const cookie = cookieHeader(browser);
    try {
      gatehouse.clockOffsetMs = 168 * 3600_000 - 60_000;
      assert.equal((await gatehouse.request('/oauth2/auth', { headers: { cookie, 'x-forwarded-uri': '/' } })).status, 202, 'one minute before the end');
      gatehouse.clockOffsetMs = 168 * 3600_000 + 1000;
      const answers = await checkAllModes(gatehouse, cookie);
      assertDenied(answers, 'session-expired', 'expired');
      const cleared = setCookie(answers.api, COOKIE_NAME);
      assert.ok(cleared !== undefined && isDeletion(cleared));
    } finally {
      gatehouse.clockOffsetMs = 0;
    }
  });

  test('a sealed session whose expiresAt has passed is refused even if its cookie is brand new', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cookie = await sealedCookie(sessionFor('old@homelab.example.com', { createdAt: now - 7200, refreshedAt: now - 7200, expiresAt: now - 1 }), [COOKIE_SECRET]);
    assertDenied(await checkAllModes(gatehouse, cookie), 'session-expired', 'expired at sealing');
  });
});

describe('SESS-05: chunked session cookies', () => {
  let chunks: { name: string; value: string }[];
  before(async () => {
    const browser = gatehouse.browser();
    const groups = Array.from({ length: 220 }, (_, index) => `group-${String(index).padStart(3, '0')}-${randomBytes(10).toString('hex')}`).join(',');
    await login(browser, { email: 'chunky@homelab.example.com', groups });
    chunks = browser
      .cookiesFor(`${APP_ORIGIN}/`)
      .filter((cookie) => cookie.name.startsWith(`${COOKIE_NAME}_`))
      .map((cookie) => ({ name: cookie.name, value: cookie.value }))
      .sort((a, b) => a.name.localeCompare(b.name));
  });
  const header = (parts: readonly { name: string; value: string }[]) => parts.map((part) => `${part.name}=${part.value}`).join('; ');

  test('a large session is split into chunks that together are accepted (control)', async () => {
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    assert.deepEqual(chunks.map((chunk) => chunk.name), chunks.map((_, index) => `${COOKIE_NAME}_${index}`));
    const { auth } = await checkAllModes(gatehouse, header(chunks));
    assert.equal(auth.status, 202);
    assert.equal(auth.headers['x-auth-request-email'], 'chunky@homelab.example.com');
  });

  test('a missing, reordered, duplicated or extra chunk never authenticates', async () => {
    const [first, second, ...rest] = chunks;
    const tricks: [string, string, string][] = [
      ['middle chunk missing', header([first!, ...rest]), 'session-cookie-invalid'],
      ['last chunk missing', header(chunks.slice(0, -1)), 'session-cookie-invalid'],
      ['first chunk missing', header([second!, ...rest]), 'user-unauthenticated'],
      ['chunks reordered', header([{ name: first!.name, value: second!.value }, { name: second!.name, value: first!.value }, ...rest]), 'session-cookie-invalid'],
      ['a chunk duplicated', `${header(chunks)}; ${second!.name}=${second!.value}`, 'session-cookie-ambiguous'],
      ['an extra chunk appended', `${header(chunks)}; ${COOKIE_NAME}_${chunks.length}=AAAAAAAA`, 'session-cookie-invalid'],
      ['a whole cookie of garbage next to the chunks', `${header(chunks)}; ${COOKIE_NAME}=v1.AAAA`, 'session-cookie-ambiguous'],
    ];
    for (const [what, cookie, reason] of tricks) assertDenied(await checkAllModes(gatehouse, cookie), reason, what);
  });

  test('a far-away chunk name (_99999999) costs nothing and authorizes nothing by itself', async () => {
    const started = Date.now();
    const alone = await checkAllModes(gatehouse, `${COOKIE_NAME}_99999999=x`);
    assertDenied(alone, 'user-unauthenticated', 'only a far chunk');
    const withSession = await gatehouse.request('/oauth2/auth', { headers: { cookie: `${header(chunks)}; ${COOKIE_NAME}_99999999=x`, 'x-forwarded-uri': '/' } });
    assert.ok(withSession.status === 202 || withSession.status === 401);
    if (withSession.status === 202) assert.equal(withSession.headers['x-auth-request-email'], 'chunky@homelab.example.com');
    assert.ok(Date.now() - started < 1000);
  });

  test('SESS-09: sign-out clears every chunk with the same name, domain and path, and Max-Age=0', async () => {
    const out = await gatehouse.request('/oauth2/sign_out?rd=%2F', { headers: { ...NAVIGATION_HEADERS, cookie: header(chunks) } });
    assert.equal(out.status, 302);
    const cleared = out.setCookies.map(parseSetCookie);
    for (const name of [COOKIE_NAME, ...chunks.map((chunk) => chunk.name)]) {
      const cookie = cleared.find((candidate) => candidate.name === name);
      assert.ok(cookie !== undefined, `${name} is cleared`);
      assert.equal(cookie.attributes.get('max-age'), '0', name);
      assert.equal(cookie.attributes.get('path'), '/', name);
      assert.equal(cookie.attributes.get('domain'), '.homelab.example.com', name);
      assert.equal(cookie.value, '', name);
    }
  });
});

describe('SESS-06 / DOS-01: cookie floods and oversized headers', () => {
  test('a 48–1024 KB Cookie, Authorization or X-Forwarded-Uri header is refused by the header limit (431) before gatehouse runs', async () => {
    // The limit is 48 KiB: a cookie session may span 8 cookies of 4000 bytes.
    for (const size of [49 * 1024, 64 * 1024, 1024 * 1024]) {
      for (const [name, value] of [
        ['Cookie', `${COOKIE_NAME}=${'A'.repeat(size)}`],
        ['Authorization', `Bearer ${'A'.repeat(size)}`],
        ['X-Forwarded-Uri', `/${'a'.repeat(size)}`],
      ] as const) {
        const started = Date.now();
        const raw = await sendRaw(gatehouse.port, `GET /oauth2/auth HTTP/1.1\r\nHost: gatehouse\r\n${name}: ${value}\r\nConnection: close\r\n\r\n`);
        assert.equal(statusOf(raw), 431, `${name} of ${size} bytes`);
        assert.ok(Date.now() - started < 1000);
      }
    }
    const small = await gatehouse.request('/oauth2/auth', { headers: { 'x-forwarded-uri': '/' } });
    assert.equal(small.status, 401, 'the server still answers');
  });

  test('malformed Cookie syntax is no session, never an error', async () => {
    for (const cookie of ['=;;;==', ';;;', '=', COOKIE_NAME, `${COOKIE_NAME}==`, `${COOKIE_NAME}="`, '\u00e9=\u00e9', `${COOKIE_NAME}=v1.\u00e9`]) {
      const response = await gatehouse.request('/oauth2/auth', { headers: { cookie: Buffer.from(cookie, 'utf8').toString('latin1'), 'x-forwarded-uri': '/' } });
      assert.equal(response.status, 401, JSON.stringify(cookie));
      assert.ok(['user-unauthenticated', 'session-cookie-invalid'].includes(String(response.headers['x-gatehouse-reason'])), JSON.stringify(cookie));
    }
  });

  test('700 chunk-named cookies within the header limit cost bounded work', async () => {
    const cookie = Array.from({ length: 700 }, (_, index) => `${COOKIE_NAME}_${index}=a`).join('; ');
    const started = Date.now();
    const response = await gatehouse.request('/oauth2/auth', { headers: { cookie, 'x-forwarded-uri': '/' } });
    assert.equal(response.status, 401);
    assert.equal(response.headers['x-gatehouse-reason'], 'session-cookie-invalid');
    assert.ok(response.setCookies.length <= MAX_COOKIES + 1, `${response.setCookies.length} Set-Cookie values`);
    assert.ok(Date.now() - started < 1000);
  });

  test('200 abandoned transaction cookies: the start answer stays bounded and the next login still works', async () => {
    const names = Array.from({ length: 200 }, () => `${TX_PREFIX}${randomBytes(9).toString('base64url')}`);
    const flood = names.map((name) => `${name}=v1.${randomBytes(30).toString('base64url')}`).join('; ');
    const response = await gatehouse.request('/oauth2/start?rd=%2F', { headers: { ...NAVIGATION_HEADERS, cookie: flood } });
    assert.equal(response.status, 302);
    assert.ok(response.setCookies.length <= MAX_COOKIES + 1, `${response.setCookies.length} Set-Cookie values`);
    const fresh = response.setCookies.map(parseSetCookie).filter((cookie) => !isDeletion(cookie));
    assert.equal(fresh.length, 1, 'only the new transaction is set');
  });

  test('repeated login starts in one browser keep at most MAX_TRANSACTIONS transaction cookies, and the last login completes', async () => {
    const browser = gatehouse.browser();
    const issuerOrigin = new URL(idp.issuer).origin;
    let last: URL | undefined;
    for (let index = 0; index < 10; index += 1) {
      const started = await browser.navigate(`${APP_ORIGIN}/oauth2/start?rd=%2Fattempt${index}`, { stopBefore: (next) => next.origin === issuerOrigin });
      last = started.stoppedAt;
      const held = browser.cookiesFor(`${APP_ORIGIN}/oauth2/callback`).filter((cookie) => cookie.name.startsWith(TX_PREFIX));
      assert.ok(held.length <= MAX_TRANSACTIONS, `${held.length} transaction cookies after ${index + 1} starts`);
    }
    const callback = await loginUntilCallback(browser, { email: 'many@homelab.example.com' }, last!.href);
    const done = await browser.navigate(callback);
    assert.equal(done.response.status, 202);
    assert.equal(done.response.url.pathname, '/attempt9');
  });
});

describe('SESS-09: sign-out and the sign-in page', () => {
  test('the rendered sign-in page clears an existing session cookie', async () => {
    const withPage = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_FORWARD_AUTH_SKIP_PROVIDER_BUTTON: 'false' } });
    try {
      const browser = withPage.browser();
      const callback = await loginUntilCallback(browser, { email: 'page@homelab.example.com' }, `${APP_ORIGIN}/oauth2/start?rd=%2F`);
      await browser.navigate(callback);
      assert.ok(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`) !== undefined);
      const page = await browser.request(`${APP_ORIGIN}/oauth2/sign_in?rd=%2F`, { headers: NAVIGATION_HEADERS });
      assert.equal(page.status, 200);
      const cleared = setCookie(page, COOKIE_NAME);
      assert.ok(cleared !== undefined && isDeletion(cleared));
      assert.equal(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), undefined);
    } finally {
      await withPage.close();
    }
  });

  test('after sign-out the browser holds no session; the old value is a documented residual risk of the cookie store', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'leaving@homelab.example.com' });
    const old = cookieHeader(browser);
    const out = await browser.request(`${APP_ORIGIN}/oauth2/sign_out`, { headers: NAVIGATION_HEADERS });
    assert.equal(out.status, 302);
    assert.equal(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), undefined);
    assert.equal((await browser.request(`${APP_ORIGIN}/x`, { headers: API_HEADERS })).status, 401);
    // Stateless sessions: a copy taken before sign-out stays valid until it expires (docs/security.md).
    assert.equal((await gatehouse.request('/oauth2/auth', { headers: { cookie: old, 'x-forwarded-uri': '/' } })).status, 202);
  });
});

describe('a split session due a refresh, in an nginx auth answer (which passes on only the first Set-Cookie)', () => {
  test("a script's check keeps the current session and refreshes nothing; a page load refreshes through /oauth2/refresh", async () => {
    const split = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_COOKIE_REFRESH: '1m' } });
    try {
      const browser = split.browser();
      const groups = Array.from({ length: 220 }, (_, index) => `group-${String(index).padStart(3, '0')}-${randomBytes(10).toString('hex')}`).join(',');
      const { final } = await login(browser, { email: 'split@homelab.example.com', groups });
      assert.equal(final.status, 202);
      const cookie = cookieHeader(browser);
      assert.match(cookie, new RegExp(`${COOKIE_NAME}_2=`), 'the session spans several cookies');
      split.clockOffsetMs = 2 * 60_000;
      const refreshesBefore = split.logs.filter((line) => line.includes('"session refreshed"')).length;
      // A script's request through nginx: /oauth2/auth, not a navigation.
      const script = await split.request('/oauth2/auth', { headers: { ...API_HEADERS, cookie, 'x-forwarded-uri': '/api/data' } });
      assert.equal(script.status, 202, String(script.headers['x-gatehouse-reason']));
      assert.equal(script.headers['x-auth-request-email'], 'split@homelab.example.com');
      assert.deepEqual(script.setCookies, [], 'no cookie that nginx would pass on only in part');
      assert.equal(split.logs.filter((line) => line.includes('"session refreshed"')).length, refreshesBefore, 'the refresh token is not spent');
      // A page load: the refresh URL, whose round trip delivers every cookie.
      const page = await split.request('/oauth2/auth', { headers: { ...NAVIGATION_HEADERS, cookie, 'x-forwarded-uri': '/dashboard' } });
      assert.equal(page.status, 401);
      assert.match(String(page.headers['x-gatehouse-login']), /\/oauth2\/refresh\?rd=/);
      // Behind the other proxies (one cookie per answer is no limit there) a script's check refreshes at once.
      const proxied = await browser.request(`${APP_ORIGIN}/api/data`, { headers: API_HEADERS });
      assert.equal(proxied.status, 202);
      assert.ok(proxied.setCookies.length >= 3, `the refreshed session in every chunk (${proxied.setCookies.length})`);
    } finally {
      await split.close();
    }
  });
});

describe('SESS-14: authorization follows the provider at refresh', () => {
  test('a user removed from the required group at the provider loses access at the next refresh', async () => {
    const strict = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_COOKIE_REFRESH: '1m', GATEHOUSE_AUTHORIZATION_GROUPS: 'admins' } });
    try {
      const browser = strict.browser();
      const { final } = await login(browser, { email: 'demoted@homelab.example.com', groups: 'admins' });
      assert.equal(final.status, 202);
      assert.equal(final.headers['x-auth-request-groups'], 'admins');
      // The same account signs in elsewhere without the group: the provider now reports no groups.
      const elsewhere = strict.browser();
      const { callback } = await login(elsewhere, { email: 'demoted@homelab.example.com', groups: '' });
      assert.equal(callback.status, 403);
      assert.equal(callback.headers['x-gatehouse-reason'], 'group-not-allowed');
      assert.equal((await browser.request(`${APP_ORIGIN}/x`, { headers: API_HEADERS })).status, 202, 'until the refresh, the session stands');
      strict.clockOffsetMs = 2 * 60_000;
      const after = await browser.request(`${APP_ORIGIN}/x`, { headers: API_HEADERS });
      assert.equal(after.status, 403);
      assert.equal(after.headers['x-gatehouse-reason'], 'group-not-allowed');
      assert.deepEqual(identityHeadersOf(after), {});
    } finally {
      await strict.close();
    }
  });
});

describe('SESS-13: tokens and secrets never leak', () => {
  test('userinfo, error pages, denials and logs never carry a token, the cookie secret, the client secret or the session cookie', async () => {
    const leaky = await startGatehouse({
      devProvider: idp,
      env: { GATEHOUSE_IDENTITY_HEADERS_AUTHORIZATION: 'true', GATEHOUSE_IDENTITY_HEADERS_ACCESS_TOKEN: 'true', GATEHOUSE_COOKIE_REFRESH: '1m' },
    });
    try {
      const browser = leaky.browser();
      const { callbackUrl, final } = await login(browser, { email: 'secret@homelab.example.com' });
      assert.equal(final.status, 202);
      const first = openSession(browser)!;
      assert.ok(first.idToken !== undefined && first.accessToken !== undefined && first.refreshToken !== undefined, 'the configuration keeps all three tokens');
      // Configured on purpose: the upstream gets the ID token and the access token.
      assert.equal(final.headers.authorization, `Bearer ${first.idToken}`);
      assert.equal(final.headers['x-auth-request-access-token'], first.accessToken);
      const sessionCookies = [cookieHeader(browser)];

      const bodies: string[] = [];
      const userinfo = await browser.request(`${APP_ORIGIN}/oauth2/userinfo`, { headers: API_HEADERS });
      assert.equal(userinfo.status, 200);
      bodies.push(userinfo.body, JSON.stringify(userinfo.headers));
      const replay = await browser.request(callbackUrl, { headers: NAVIGATION_HEADERS });
      assert.equal(replay.status, 403);
      bodies.push(replay.body);
      bodies.push((await browser.request(`${APP_ORIGIN}/oauth2/callback?error=access_denied&error_description=denied`, { headers: NAVIGATION_HEADERS })).body);
      const broken = await leaky.request('/dashboard', { headers: { ...API_HEADERS, cookie: `${COOKIE_NAME}=${browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`)!.slice(0, -3)}` } });
      bodies.push(broken.body, JSON.stringify(broken.headers));

      leaky.clockOffsetMs = 2 * 60_000;
      const refreshed = await browser.navigate(`${APP_ORIGIN}/after-refresh`);
      assert.equal(refreshed.response.status, 202);
      const second = openSession(browser)!;
      assert.notEqual(second.idToken, first.idToken, 'the refresh brought new tokens');
      sessionCookies.push(cookieHeader(browser));
      for (const response of refreshed.chain) bodies.push(response.body);
      const out = await browser.request(`${APP_ORIGIN}/oauth2/sign_out`, { headers: NAVIGATION_HEADERS });
      bodies.push(out.body, out.headers.location ?? '');

      const secrets: [string, string][] = [
        ['cookie secret', COOKIE_SECRET],
        ['client secret', idp.clientSecret],
        ['authorization code', callbackUrl.searchParams.get('code')!],
        ['state', callbackUrl.searchParams.get('state')!],
      ];
      for (const [label, session] of [['first', first], ['refreshed', second]] as const) {
        secrets.push([`${label} ID token signature`, session.idToken!.split('.')[2]!]);
        secrets.push([`${label} access token`, session.accessToken!]);
        secrets.push([`${label} refresh token`, session.refreshToken!]);
      }
      for (const cookie of sessionCookies) for (const part of cookie.split('; ')) secrets.push(['session cookie', part.slice(part.indexOf('=') + 1, part.indexOf('=') + 41)]);

      const logs = leaky.logs.join('\n');
      assert.ok(leaky.logs.some((line) => line.includes('"login succeeded"')), 'the logs are captured');
      assert.ok(leaky.logs.some((line) => line.includes('"session refreshed"')), 'the refresh is logged');
      for (const [label, value] of secrets) {
        assert.ok(value.length >= 16, `${label} is long enough to search for`);
        assert.ok(!logs.includes(value), `${label} reached the logs`);
        for (const body of bodies) assert.ok(!body.includes(value), `${label} reached an answer`);
      }
    } finally {
      await leaky.close();
    }
  });

  test('without the token options the upstream gets no token and the session keeps none', async () => {
    const browser = gatehouse.browser();
    const { final } = await login(browser, { email: 'notokens@homelab.example.com' });
    assert.equal(final.headers.authorization, undefined);
    assert.equal(final.headers['x-auth-request-access-token'], undefined);
    const session = openSession(browser)!;
    assert.equal(session.idToken ?? session.accessToken ?? session.refreshToken, undefined);
  });
});

describe('FWD-16: identity headers the client sends are never echoed', () => {
  const smuggled = {
    'x-auth-request-user': 'admin',
    'x-auth-request-email': 'admin@homelab.example.com',
    'x-auth-request-groups': 'admins',
    'x-auth-request-preferred-username': 'admin',
    'x-forwarded-user': 'admin',
    'x-forwarded-email': 'admin@homelab.example.com',
    'remote-user': 'admin',
    'remote-groups': 'admins',
    'gap-auth': 'admin@homelab.example.com',
  };
  let open: Gatehouse;
  before(async () => {
    open = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_FORWARD_AUTH_SKIP_AUTH_ROUTES: 'GET=^/public/' } });
  });
  after(() => open.close());

  test('a signed-in user gets only gateway-derived values, every configured header present (groups empty)', async () => {
    const browser = open.browser();
    await login(browser, { email: 'plain@homelab.example.com' });
    for (const [path, mode] of [['/dashboard', 'proxy'], ['/oauth2/auth', 'auth']] as const) {
      const response = await open.request(path, { headers: { ...API_HEADERS, ...smuggled, 'x-auth-request_user': 'admin', cookie: cookieHeader(browser), 'x-forwarded-uri': '/dashboard' } });
      assert.equal(response.status, 202, mode);
      assert.deepEqual(identityHeadersOf(response), {
        'gap-auth': 'plain@homelab.example.com',
        'x-auth-request-user': 'plain@homelab.example.com',
        'x-auth-request-email': 'plain@homelab.example.com',
        'x-auth-request-groups': '',
        'x-auth-request-preferred-username': 'plain',
      }, mode);
    }
  });

  test('a public route answers with every configured header present and empty, so the proxy overwrites what the client sent', async () => {
    const response = await open.request('/public/page', { headers: { ...API_HEADERS, ...smuggled } });
    assert.equal(response.status, 202);
    assert.deepEqual(identityHeadersOf(response), { 'gap-auth': '', 'x-auth-request-user': '', 'x-auth-request-email': '', 'x-auth-request-groups': '', 'x-auth-request-preferred-username': '' });
  });

  test('a denial carries no identity header at all', async () => {
    const response = await open.request('/dashboard', { headers: { ...API_HEADERS, ...smuggled } });
    assert.equal(response.status, 401);
    assert.deepEqual(identityHeadersOf(response), {});
  });
});

describe("gatehouse's own HTTP handling", () => {
  const forwarded = 'Host: gatehouse\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: app.homelab.example.com\r\nAccept: application/json\r\n';

  test('DOS-07: request smuggling and framing tricks are 400', async () => {
    const requests: [string, string][] = [
      ['Content-Length with Transfer-Encoding', `GET /dashboard HTTP/1.1\r\n${forwarded}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      ['Transfer-Encoding: xchunked', `GET /dashboard HTTP/1.1\r\n${forwarded}Transfer-Encoding: xchunked\r\n\r\n`],
      ['obs-fold', `GET /dashboard HTTP/1.1\r\n${forwarded}X-Folded: a\r\n b\r\n\r\n`],
      ['bare LF line endings', 'GET /dashboard HTTP/1.1\nHost: gatehouse\nAccept: application/json\n\n'],
      ['two different Content-Length', `GET /dashboard HTTP/1.1\r\n${forwarded}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`],
      ['a huge chunk size', `POST /dashboard HTTP/1.1\r\n${forwarded}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n`],
      ['no Host', 'GET /dashboard HTTP/1.1\r\nAccept: application/json\r\n\r\n'],
      ['a space in the target', `GET /dash board HTTP/1.1\r\n${forwarded}\r\n`],
    ];
    for (const [what, bytes] of requests) assert.equal(statusOf(await sendRaw(gatehouse.port, bytes)), 400, what);
  });

  test('DOS-07: with a valid session too, a framing trick is 400, never answered as allowed first', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'framing@homelab.example.com' });
    const signedIn = `${forwarded}Cookie: ${cookieHeader(browser)}\r\n`;
    assert.equal(statusOf(await sendRaw(gatehouse.port, `GET /dashboard HTTP/1.1\r\n${signedIn}Connection: close\r\n\r\n`)), 202, 'well framed');
    const requests: [string, string][] = [
      ['Content-Length with Transfer-Encoding', `GET /dashboard HTTP/1.1\r\n${signedIn}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      ['Transfer-Encoding: xchunked', `GET /dashboard HTTP/1.1\r\n${signedIn}Transfer-Encoding: xchunked\r\n\r\n`],
      ['a huge chunk size', `POST /dashboard HTTP/1.1\r\n${signedIn}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n`],
    ];
    for (const [what, bytes] of requests) assert.equal(statusOf(await sendRaw(gatehouse.port, bytes)), 400, what);
  });

  test('DOS-08: a duplicated Host is 400 (RFC 9112 §3.2)', async () => {
    const raw = await sendRaw(gatehouse.port, 'GET /dashboard HTTP/1.1\r\nHost: gatehouse\r\nHost: evil.example.net\r\nAccept: application/json\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(raw), 400);
  });

  test('DOS-08: 2000 headers are refused by the header limit; 2000 tiny ones are bounded and never allowed', async () => {
    const many = Array.from({ length: 2000 }, (_, index) => `X-Filler-${String(index).padStart(4, '0')}: ${'1'.repeat(16)}\r\n`).join('');
    assert.equal(statusOf(await sendRaw(gatehouse.port, `GET /dashboard HTTP/1.1\r\n${forwarded}${many}Connection: close\r\n\r\n`)), 431);
    const tiny = Array.from({ length: 2000 }, (_, index) => `a${index % 10}:b\r\n`).join('');
    const started = Date.now();
    const status = statusOf(await sendRaw(gatehouse.port, `GET /dashboard HTTP/1.1\r\n${forwarded}${tiny}Connection: close\r\n\r\n`));
    assert.ok(status === 400 || status === 401 || status === 431, String(status));
    assert.ok(Date.now() - started < 1000);
  });

  test('DOS-08: query floods and prototype keys do not crash, pollute or allow', async () => {
    const longQuery = Array.from({ length: 10_000 }, (_, index) => `a${index}=1234`).join('&');
    assert.equal(statusOf(await sendRaw(gatehouse.port, `GET /dashboard?${longQuery} HTTP/1.1\r\n${forwarded}Connection: close\r\n\r\n`)), 431);
    const flood = Array.from({ length: 1500 }, (_, index) => `rd=${index}`).join('&');
    const paths = [
      `/oauth2/start?${flood}`,
      `/dashboard?${Array.from({ length: 1500 }, () => 'policy=x').join('&')}`,
      '/dashboard?__proto__[admin]=1&constructor[prototype][x]=1',
      '/oauth2/start?rd[__proto__]=x&__proto__=1&rd=%2F',
      '/oauth2/auth?policy=__proto__',
      '/oauth2/auth?policy=constructor',
      '/oauth2/auth?policy=toString',
      '/oauth2/auth?policy=hasOwnProperty',
      '/oauth2/callback?__proto__=1&state[__proto__]=x&code=1&state=2',
      '/oauth2/userinfo?__proto__[x]=1',
    ];
    for (const path of paths) {
      const response = await gatehouse.request(path, { headers: API_HEADERS });
      assert.ok(response.status < 500, `${path.slice(0, 60)}: ${response.status}`);
      assert.ok(response.status < 200 || response.status >= 300, `${path.slice(0, 60)}: ${response.status}`);
    }
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  test('DOS-08: a policy name from the query never selects a prototype property, even for a signed-in user', async () => {
    const browser = gatehouse.browser();
    await login(browser, { email: 'proto@homelab.example.com' });
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const response = await gatehouse.request(`/oauth2/auth?policy=${name}`, { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/' } });
      assert.equal(response.status, 403, name);
      assert.equal(response.headers['x-gatehouse-reason'], 'policy-unknown', name);
      assert.deepEqual(identityHeadersOf(response), {}, name);
    }
  });

  test('DOS-06: the listener closes slow and idle clients (timeouts) and keeps strict parsing', async () => {
    const running = await startServer({ host: '127.0.0.1', port: 0 }, (_request, response) => response.end());
    try {
      assert.equal(running.server.headersTimeout, SERVER_TIMEOUTS.headers);
      assert.equal(running.server.requestTimeout, SERVER_TIMEOUTS.request);
      assert.equal(running.server.keepAliveTimeout, SERVER_TIMEOUTS.keepAlive);
      assert.equal(running.server.maxRequestsPerSocket, 0);
    } finally {
      await running.close(0);
    }
  });
});

describe('DOS-11: internal errors fail closed', () => {
  test('a session too large to store makes the callback a 500: no session, no stack trace', async () => {
    const big = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_IDENTITY_HEADERS_AUTHORIZATION: 'true' } });
    try {
      const browser = big.browser();
      const groups = Array.from({ length: 240 }, (_, index) => `g${String(index).padStart(3, '0')}-${randomBytes(28).toString('hex')}`).join(',');
      const callback = await loginUntilCallback(browser, { email: 'huge@homelab.example.com', groups });
      const response = await browser.request(callback, { headers: NAVIGATION_HEADERS });
      assert.equal(response.status, 500, String(response.status));
      assert.ok(response.setCookies.map(parseSetCookie).every((cookie) => !(cookie.name === COOKIE_NAME || cookie.name.startsWith(`${COOKIE_NAME}_`)) || isDeletion(cookie) || cookie.name.startsWith(TX_PREFIX)));
      assert.ok(!/at .*\.ts:\d+|RangeError|Error:/.test(response.body), response.body.slice(0, 200));
      assert.equal(response.headers.location, undefined);
      assert.equal((await browser.request(`${APP_ORIGIN}/x`, { headers: API_HEADERS })).status, 401);
    } finally {
      await big.close();
    }
  });

  describe('a store that throws or returns nonsense never yields an allow', () => {
    const loaded = loadConfig({ env: { ...baseEnv({ issuer: 'http://127.0.0.1:9', clientId: 'c', clientSecret: 's' }) } });
    const { config } = loaded;
    const valid = createCookieStore({ name: COOKIE_NAME, secrets: [COOKIE_SECRET] });
    // Never reachable: these tests never get as far as the provider.
    const oidc = createOidcClient({ issuer: 'http://127.0.0.1:9', clientId: 'c', clientSecret: 's', timeoutMs: 200, allowHttpLoopback: true });
    after(() => oidc.close());

    function gatewayWith(store: SessionStore) {
      const policy = createRedirectPolicy([...config.proxy.allowedRedirectDomains, ...config.cookie.domains]);
      return createGateway({
        config,
        devMode: false,
        store,
        transactions: createLoginTransactions({ cookieName: COOKIE_NAME, secrets: [COOKIE_SECRET] }),
        oidc,
        validateRedirect: (target) => validateRedirect(target, policy),
        emailPolicy: emailPolicyFromConfig(config, false),
        emailsFromFile: new Set(),
        bearer: undefined,
        bearerProfiles: new Map(),
        policySet: compilePolicySet(config),
        apiRoutes: [],
        loggers: silentLoggers(),
        now: Date.now,
      });
    }

    async function requestWithSession(path = '/dashboard', accept = 'application/json'): Promise<GatewayRequest> {
      const cookies = await valid.save(sessionFor('admin@homelab.example.com'), new Map(), { domain: undefined, path: '/', maxAge: 3600, secure: true, httpOnly: true, sameSite: 'lax' });
      const header = cookies.map((cookie) => cookie.split(';')[0]!).join('; ');
      return {
        view: { method: 'GET', scheme: 'https', host: APP_HOST, port: undefined, uri: path, clientIp: '203.0.113.9' },
        endpointPath: path,
        endpointSearch: '',
        query: new URLSearchParams(),
        headers: { accept, cookie: header, 'x-forwarded-uri': path },
        jar: parseCookies(header),
        requestId: 'dos-11',
      };
    }

    /** The verdict, or the error the promise rejected with (which the http layer answers with 500). */
    async function outcome(promise: Verdict | Promise<Verdict>): Promise<{ verdict?: Verdict; error?: unknown }> {
      try {
        return { verdict: await promise };
      } catch (error) {
        return { error };
      }
    }

    function assertNoAllow(result: { verdict?: Verdict; error?: unknown }, what: string): void {
      if (result.verdict !== undefined) {
        assert.ok(result.verdict.status < 200 || result.verdict.status >= 300, `${what}: ${result.verdict.status}`);
        assert.equal(result.verdict.headers['x-auth-request-email'], undefined, what);
      } else {
        assert.ok(result.error !== undefined, what);
      }
    }

    const throwing = (what: 'load' | 'save' | 'clear' | 'all'): SessionStore => ({
      kind: 'cookie',
      load: (jar, now) => (what === 'load' || what === 'all' ? Promise.reject(new Error('store down')) : valid.load(jar, now)),
      loadSync: what === 'load' || what === 'all' ? () => {
        throw new Error('store down');
      } : (jar, now) => valid.loadSync!(jar, now),
      save: (session, jar, attributes) => (what === 'save' || what === 'all' ? Promise.reject(new Error('store down')) : valid.save(session, jar, attributes)),
      clear: (jar, attributes) => (what === 'clear' || what === 'all' ? Promise.reject(new Error('store down')) : valid.clear(jar, attributes)),
      ready: () => Promise.resolve({ ok: false, detail: 'down' }),
      close: () => Promise.resolve(),
    });

    test('load throws (sync and async): every check mode and endpoint rejects or denies', async () => {
      const gateway = gatewayWith(throwing('load'));
      for (const mode of ['auth', 'proxy'] as const) {
        assertNoAllow(await outcome(gateway.check(await requestWithSession(), mode)), `check ${mode}`);
        assertNoAllow(await outcome(gateway.check(await requestWithSession('/dashboard', 'text/html'), mode)), `check ${mode} navigation`);
      }
      assertNoAllow(await outcome(gateway.userinfo(await requestWithSession('/oauth2/userinfo'))), 'userinfo');
      assertNoAllow(await outcome(gateway.refresh(await requestWithSession('/oauth2/refresh'))), 'refresh');
    });

    test('load is async only and rejects: the check rejects', async () => {
      const store = throwing('load');
      const { loadSync: _sync, ...asyncOnly } = store;
      assertNoAllow(await outcome(gatewayWith(asyncOnly).check(await requestWithSession(), 'auth')), 'async load');
    });

    test('clear throws while refusing an invalid cookie: the check rejects, never allows', async () => {
      const gateway = gatewayWith(throwing('clear'));
      const request = await requestWithSession();
      const broken = { ...request, jar: parseCookies(`${COOKIE_NAME}=v1.broken`) };
      assertNoAllow(await outcome(gateway.check(broken, 'auth')), 'clear');
    });

    test('save throws while re-sealing a stale session: the check rejects, never allows', async () => {
      const rotated = createCookieStore({ name: COOKIE_NAME, secrets: [OTHER_SECRET, COOKIE_SECRET] });
      const store: SessionStore = { ...rotated, save: () => Promise.reject(new Error('store down')) };
      assertNoAllow(await outcome(gatewayWith(store).check(await requestWithSession(), 'auth')), 'save');
    });

    test('a store that returns a corrupted load result never allows', async () => {
      const corrupted: SessionStore = {
        ...valid,
        load: () => Promise.resolve({ kind: 'session', session: undefined, handle: 'x', stale: false } as unknown as Awaited<ReturnType<SessionStore['load']>>),
        loadSync: () => ({ kind: 'session', session: { identity: null }, handle: 'x', stale: false }) as unknown as ReturnType<NonNullable<SessionStore['loadSync']>>,
      };
      assertNoAllow(await outcome(gatewayWith(corrupted).check(await requestWithSession(), 'auth')), 'corrupted');
    });

    test('the control: the same gateway with a working store allows', async () => {
      const result = await outcome(gatewayWith(valid).check(await requestWithSession(), 'auth'));
      assert.equal(result.verdict?.status, 202);
    });
  });
});
