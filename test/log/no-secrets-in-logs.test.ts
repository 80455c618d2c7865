/**
 * No token, cookie or secret in any log line or error answer, across whole real flows: gatehouse at
 * `logging.level: trace` with the auth, request and standard streams all on and captured, in front of the
 * real development provider (oidc-provider), the hostile test provider and real Redis. Every secret is
 * read from the flow itself (Set-Cookie values, redirect URLs, the sealed session and login transaction,
 * the provider's token requests, the logout token the provider POSTs), so each assertion looks for the
 * exact value, its URL-encoded spelling and its last 16 characters, and for anything shaped like a JWT.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { main } from '../../src/cli/main.js';
import type { CommandIo } from '../../src/cli/io.js';
import type { DevProvider } from '../../src/devidp/index.js';
import { createLoginTransactions, parseCookies } from '../../src/session/index.js';
import { NAVIGATION_HEADERS, parseSetCookie, send, type Browser, type RawResponse } from '../support/http-client.js';
import {
  API_HEADERS,
  APP_ORIGIN,
  baseEnv,
  COOKIE_NAME,
  COOKIE_SECRET,
  cookieHeader,
  isCallback,
  loginUntilCallback,
  openSession,
  OTHER_SECRET,
  startGatehouse,
  startTestProvider,
  type Gatehouse,
} from '../support/gatehouse-fixture.js';
import { startHostileIdp, type HostileIdp } from '../support/hostile-idp.js';
import { freePort, startRedis, waitUntil, type StandaloneRedis } from '../support/redis.js';
import { stopChild, within } from '../support/waits.js';

/** The repository root. */
const ROOT = new URL('../../', import.meta.url).pathname;

/** The most verbose logging, every stream on, pings included. */
const TRACE: Readonly<Record<string, string>> = Object.freeze({
  GATEHOUSE_LOGGING_LEVEL: 'trace',
  GATEHOUSE_LOGGING_AUTH: 'true',
  GATEHOUSE_LOGGING_REQUESTS: 'true',
  GATEHOUSE_LOGGING_STANDARD: 'true',
  GATEHOUSE_LOGGING_SILENCE_PING: 'false',
});
const DIAGNOSTICS_TOKEN = 'diagnose-7Qp2Vx9Lm4Kz8Rt3Wy6N';
/** Anything shaped like a JWS (header and payload are base64url JSON objects). */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
/** Shorter values are not distinctive enough to look for. */
const MIN_SECRET_LENGTH = 12;

/** The secrets a flow produced, by value, each with what it is. */
class Secrets {
  readonly values = new Map<string, string>();

  add(label: string, value: string | undefined | null): void {
    if (value === undefined || value === null) return;
    const bare = value.replace(/^bearer\s+/i, '').trim();
    if (bare.length < MIN_SECRET_LENGTH || this.values.has(bare)) return;
    this.values.set(bare, label);
  }

  /** Cookie values, redirect parameters and token headers of one answer. */
  harvest(response: RawResponse & { url?: URL; location?: URL | undefined }, own: boolean): void {
    if (own) {
      for (const text of response.setCookies) {
        const cookie = parseSetCookie(text);
        this.add(`the value of cookie ${cookie.name}`, cookie.value);
      }
      const authorization = response.headers.authorization;
      if (typeof authorization === 'string') this.add('the forwarded Authorization header (ID token)', authorization);
      const accessToken = response.headers['x-auth-request-access-token'];
      if (typeof accessToken === 'string') this.add('the forwarded access token', accessToken);
    }
    const location = response.location ?? (typeof response.headers.location === 'string' ? new URL(response.headers.location, 'https://unknown.invalid/') : undefined);
    if (location !== undefined) this.harvestUrl(location);
  }

  /** The sensitive parameters of a URL (a redirect to the provider, a callback, an end-session URL). */
  harvestUrl(url: URL): void {
    for (const name of ['code', 'state', 'nonce', 'id_token_hint', 'access_token', 'id_token', 'refresh_token', 'logout_token', 'token']) {
      for (const value of url.searchParams.getAll(name)) this.add(`the ${name} parameter of ${url.origin}${url.pathname}`, value);
    }
  }

  /** The tokens sealed in the browser's session cookie (cookie store). */
  harvestSession(browser: Browser, what: string): void {
    const session = openSession(browser);
    if (session === undefined) return;
    this.add(`the ID token (${what})`, session.idToken);
    this.add(`the access token (${what})`, session.accessToken);
    this.add(`the refresh token (${what})`, session.refreshToken);
  }

  /** The state, nonce and PKCE verifier sealed in the login transaction cookie of `state`. */
  harvestTransaction(browser: Browser, state: string): void {
    const transactions = createLoginTransactions({ cookieName: COOKIE_NAME, secrets: [COOKIE_SECRET], hostOnly: true });
    const found = transactions.find(state, parseCookies(cookieHeader(browser, '/oauth2/callback')), Math.floor(Date.now() / 1000));
    assert.ok(found !== undefined, 'the login transaction cookie opens');
    this.add('the login state', found.state);
    this.add('the login nonce', found.nonce);
    this.add('the PKCE code verifier', found.codeVerifier);
  }
}

/** One text that must hold no secret: a log line, an error body, a command's output. */
interface Output {
  readonly where: string;
  readonly text: string;
}

/** Every secret (or its tail, or a JWT) found in `outputs`, described with the value masked. */
function leaksIn(outputs: readonly Output[], secrets: Secrets): string[] {
  const found: string[] = [];
  for (const { where, text } of outputs) {
    for (const [value, label] of secrets.values) {
      const spellings = new Set([value, encodeURIComponent(value)]);
      const hit = [...spellings].find((spelling) => text.includes(spelling));
      const tail = value.length >= 32 ? value.slice(-16) : undefined;
      if (hit !== undefined) found.push(`${label} in ${where}: ${text.split(hit).join(`<${label}>`).slice(0, 600)}`);
      else if (tail !== undefined && text.includes(tail)) found.push(`the end of ${label} in ${where}: ${text.split(tail).join(`<end of ${label}>`).slice(0, 600)}`);
    }
    const jwt = JWT_SHAPE.exec(text);
    if (jwt !== null && ![...secrets.values.keys()].some((value) => value.includes(jwt[0]))) found.push(`a JWT in ${where}: ${text.slice(0, 600)}`);
  }
  return found;
}

/** The log lines of a gatehouse from index `from` on. */
function logsOf(gatehouse: Gatehouse, from = 0, name = 'gatehouse'): Output[] {
  return gatehouse.logs.slice(from).map((line, index) => ({ where: `${name} log line ${from + index + 1}`, text: line }));
}

/** Asserts that no log line of `gatehouse` since `from`, and no error answer, holds any of the secrets. */
function assertNoLeak(secrets: Secrets, outputs: readonly Output[], what: string): void {
  assert.ok(secrets.values.size > 0, `${what}: the flow yielded secrets to look for`);
  const leaks = leaksIn(outputs, secrets);
  assert.deepEqual(leaks, [], `${what}: ${leaks.length} leak(s)\n${leaks.join('\n')}`);
}

/** Answers with a status of 400 or more (their bodies and challenges are shown to clients and proxies). */
class ErrorAnswers {
  readonly outputs: Output[] = [];

  record(response: RawResponse, where: string): void {
    if (response.status < 400) return;
    this.outputs.push({ where: `the body of the ${response.status} answer to ${where}`, text: response.body });
    const challenge = response.headers['www-authenticate'];
    if (typeof challenge === 'string') this.outputs.push({ where: `the WWW-Authenticate of the ${response.status} answer to ${where}`, text: challenge });
  }

  /** Every answer the browser received from gatehouse (the emulated proxy's hosts). */
  recordBrowser(browser: Browser): void {
    for (const response of browser.history) if (response.url.hostname.endsWith('homelab.example.com')) this.record(response, response.url.pathname);
  }
}

/** Every gatehouse answer of a browser's history: its cookies, tokens and redirect parameters. */
function harvestBrowser(secrets: Secrets, browser: Browser): void {
  for (const response of browser.history) secrets.harvest(response, response.url.hostname.endsWith('homelab.example.com'));
}

/** A direct request to gatehouse whose Cookie and Authorization values are recorded as secrets. */
async function direct(gatehouse: Gatehouse, secrets: Secrets, errors: ErrorAnswers, path: string, headers: Record<string, string>, method = 'GET'): Promise<RawResponse> {
  if (headers.cookie !== undefined) {
    secrets.add('the Cookie header sent to gatehouse', headers.cookie);
    for (const [name, values] of parseCookies(headers.cookie)) for (const value of values) secrets.add(`the value of cookie ${name} sent to gatehouse`, value);
  }
  if (headers.authorization !== undefined) secrets.add('the Authorization header sent to gatehouse', headers.authorization);
  const response = await gatehouse.request(path, { method, headers });
  secrets.harvest(response, true);
  errors.record(response, `${method} ${path}`);
  return response;
}

/** Runs a login in `browser` with the development provider, collecting its secrets; returns the callback URL. */
async function signIn(browser: Browser, secrets: Secrets, email: string): Promise<URL> {
  const callbackUrl = await loginUntilCallback(browser, { email });
  harvestBrowser(secrets, browser);
  secrets.harvestUrl(callbackUrl);
  const state = callbackUrl.searchParams.get('state') ?? '';
  secrets.harvestTransaction(browser, state);
  const done = await browser.navigate(callbackUrl);
  assert.equal(done.chain[0]?.status, 302, `the callback signs in: ${done.chain[0]?.status} ${done.chain[0]?.body.slice(0, 200)}`);
  harvestBrowser(secrets, browser);
  secrets.harvestSession(browser, `login of ${email}`);
  return callbackUrl;
}

/** The secrets of the deployment itself, looked for in every test. */
function deploymentSecrets(gatehouse: Gatehouse, clientSecret: string): Secrets {
  const secrets = new Secrets();
  secrets.add('the cookie secret', COOKIE_SECRET);
  secrets.add('the client secret', clientSecret);
  secrets.add('the client credentials sent to the token endpoint (Basic)', Buffer.from(`${encodeURIComponent(gatehouse.loaded.config.provider.clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64'));
  return secrets;
}

test('the sweep finds a secret, its URL-encoded spelling, its tail and any JWT, and passes clean text', () => {
  const secrets = new Secrets();
  secrets.add('a planted cookie', 'v1.planted/cookie+value=Qx7Lm2Vr9Tz4Kp8Wn3Bd6Hs1');
  secrets.add('a planted token', 'planted-token-Nq4Wz8Xc2Lv7Rb5Tm9Pk3Yd6');
  const found = leaksIn(
    [
      { where: 'a line with the cookie', text: '{"msg":"x","c":"v1.planted/cookie+value=Qx7Lm2Vr9Tz4Kp8Wn3Bd6Hs1"}' },
      { where: 'a line with the cookie encoded', text: `{"uri":"/?c=${encodeURIComponent('v1.planted/cookie+value=Qx7Lm2Vr9Tz4Kp8Wn3Bd6Hs1')}"}` },
      { where: 'a line with the tail of the token', text: '{"detail":"…2Lv7Rb5Tm9Pk3Yd6"}' },
      { where: 'a line with a JWT', text: '{"t":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig"}' },
      { where: 'a clean line', text: '{"msg":"login succeeded","user":"alice@homelab.example.com"}' },
    ],
    secrets,
  );
  assert.deepEqual(
    found.map((leak) => leak.split(':')[0]),
    ['a planted cookie in a line with the cookie', 'a planted cookie in a line with the cookie encoded', 'the end of a planted token in a line with the tail of the token', 'a JWT in a line with a JWT'],
  );
  assert.ok(!found.some((leak) => leak.includes('Qx7Lm2Vr9Tz4Kp8Wn3Bd6Hs1')), 'a report masks the value it found');
});

describe('sign-on with the development provider (cookie store, every token kept, trace logging)', () => {
  let idp: DevProvider;
  let gatehouse: Gatehouse;

  before(async () => {
    idp = await startTestProvider();
    gatehouse = await startGatehouse({
      devProvider: idp,
      env: {
        ...TRACE,
        GATEHOUSE_COOKIE_REFRESH: '1m',
        GATEHOUSE_IDENTITY_HEADERS_AUTHORIZATION: 'true',
        GATEHOUSE_IDENTITY_HEADERS_ACCESS_TOKEN: 'true',
        GATEHOUSE_PROVIDER_END_SESSION_REDIRECT: 'true',
        GATEHOUSE_BEARER_PROVIDER: 'true',
        GATEHOUSE_DIAGNOSTICS_TOKEN: DIAGNOSTICS_TOKEN,
      },
    });
  });
  after(async () => {
    await gatehouse.close();
    await idp.close();
  });

  test('the logging under test is trace, with the auth, request and standard streams on', () => {
    const { logging } = gatehouse.loaded.config;
    assert.equal(logging.level, 'trace');
    assert.deepEqual([logging.auth, logging.requests, logging.standard, logging.silencePing], [true, true, true, false]);
  });

  test('a whole browser session: login, checks, userinfo, refresh (inline and /oauth2/refresh), sign-out', async () => {
    const from = gatehouse.logs.length;
    const secrets = deploymentSecrets(gatehouse, idp.clientSecret);
    secrets.add('the diagnostics token', DIAGNOSTICS_TOKEN);
    const errors = new ErrorAnswers();
    const browser = gatehouse.browser();
    await signIn(browser, secrets, 'alice@homelab.example.com');
    const session = openSession(browser);
    assert.ok(session?.idToken !== undefined && session.accessToken !== undefined && session.refreshToken !== undefined, 'the session keeps every token');
    assert.ok([...secrets.values.values()].some((label) => label.startsWith('the value of cookie _gatehouse')), 'the session cookie value is looked for');

    // Checks with the cookie: a navigation, an API call, nginx's /oauth2/auth, userinfo.
    const navigation = await browser.navigate(`${APP_ORIGIN}/dashboard`);
    assert.equal(navigation.response.status, 202);
    const cookie = cookieHeader(browser);
    assert.equal((await direct(gatehouse, secrets, errors, '/api/items', { ...API_HEADERS, cookie })).status, 202);
    const auth = await direct(gatehouse, secrets, errors, '/oauth2/auth', { cookie, 'x-forwarded-uri': '/reports?page=2' });
    assert.equal(auth.status, 202);
    assert.ok(typeof auth.headers.authorization === 'string' && typeof auth.headers['x-auth-request-access-token'] === 'string', 'the tokens are forwarded');
    const userinfo = await browser.request(`${APP_ORIGIN}/oauth2/userinfo`, { headers: API_HEADERS });
    assert.equal(userinfo.status, 200);

    // A refresh due: inline for an API check, then through /oauth2/refresh for a navigation.
    gatehouse.clockOffsetMs = 2 * 60_000;
    try {
      const inline = await direct(gatehouse, secrets, errors, '/oauth2/auth', { cookie: cookieHeader(browser), 'x-forwarded-uri': '/x' });
      assert.equal(inline.status, 202);
      for (const text of inline.setCookies) browser.storeCookie(`${APP_ORIGIN}/`, text);
      secrets.harvestSession(browser, 'after the inline refresh');
      gatehouse.clockOffsetMs = 4 * 60_000;
      const refreshed = await browser.navigate(`${APP_ORIGIN}/page`);
      assert.equal(refreshed.chain[0]?.location?.pathname, '/oauth2/refresh');
      assert.equal(refreshed.response.status, 202);
      harvestBrowser(secrets, browser);
      secrets.harvestSession(browser, 'after /oauth2/refresh');
    } finally {
      gatehouse.clockOffsetMs = 0;
    }
    assert.ok(openSession(browser)!.refreshedAt > session.refreshedAt, 'the session was refreshed');

    // A diagnosis request (the doctor's view of a check).
    const diagnose = await direct(gatehouse, secrets, errors, '/anything', { cookie: cookieHeader(browser), 'x-gatehouse-diagnose': DIAGNOSTICS_TOKEN });
    assert.equal(diagnose.status, 403);

    // Sign-out, with the provider's end-session redirect (which carries the ID token as id_token_hint).
    const signOut = await browser.request(`${APP_ORIGIN}/oauth2/sign_out?rd=%2F`, { headers: NAVIGATION_HEADERS });
    assert.equal(signOut.status, 302);
    assert.equal(signOut.location?.origin, new URL(idp.issuer).origin);
    harvestBrowser(secrets, browser);
    assert.equal((await direct(gatehouse, secrets, errors, '/oauth2/userinfo', { ...API_HEADERS, cookie: cookieHeader(browser) })).status, 401);

    errors.recordBrowser(browser);
    assertNoLeak(secrets, [...logsOf(gatehouse, from), ...errors.outputs], 'a whole browser session');
    assert.ok(gatehouse.logs.slice(from).some((line) => line.includes('"msg":"login succeeded"')), 'the auth stream logged the login');
    assert.ok(gatehouse.logs.slice(from).some((line) => line.includes('"log":"request"')), 'the request stream logged');
    assert.ok(gatehouse.logs.slice(from).some((line) => line.includes('"msg":"session refreshed"')), 'the refresh was logged');
  });

  test('bearer checks with the provider’s tokens: valid, bad signature, no signature, another token type, garbage', async () => {
    const from = gatehouse.logs.length;
    const secrets = deploymentSecrets(gatehouse, idp.clientSecret);
    const errors = new ErrorAnswers();
    const browser = gatehouse.browser();
    await signIn(browser, secrets, 'bearer@homelab.example.com');
    const { idToken, accessToken, refreshToken } = openSession(browser)!;
    assert.ok(idToken !== undefined && accessToken !== undefined && refreshToken !== undefined);
    const [header, payload, signature] = idToken.split('.') as [string, string, string];
    const flipped = `${signature.slice(0, -8)}${signature.slice(-8, -4) === 'AAAA' ? 'BBBB' : 'AAAA'}${signature.slice(-4)}`;
    const badSignature = `${header}.${payload}.${flipped}`;
    const unsigned = `${header}.${payload}.`;
    const garbage = 'not-a-token-Zr8Pq2Lx5Vn7Kc3Jb9Hd';
    const cases: [string, string, number][] = [
      ['a valid ID token', idToken, 202],
      ['a bad signature', badSignature, 401],
      ['a stripped signature', unsigned, 401],
      ['the opaque access token', accessToken, 401],
      ['the refresh token', refreshToken, 401],
      ['garbage', garbage, 401],
    ];
    for (const [what, token, status] of cases) {
      secrets.add(`the bearer token (${what})`, token);
      const answer = await direct(gatehouse, secrets, errors, '/api/items', { ...API_HEADERS, authorization: `Bearer ${token}` });
      assert.equal(answer.status, status, `${what}: ${answer.status} ${String(answer.headers['x-gatehouse-reason'])}`);
      const auth = await direct(gatehouse, secrets, errors, '/oauth2/auth', { authorization: `Bearer ${token}`, 'x-forwarded-uri': '/api/items' });
      assert.equal(auth.status, status, `${what} (/oauth2/auth)`);
    }
    // Two Authorization headers; Basic credentials; a bearer token beside forwarded headers gatehouse refuses.
    const twice = await gatehouse.request('/api/items', { headers: { ...API_HEADERS, authorization: [`Bearer ${idToken}`, `Bearer ${garbage}`] } });
    errors.record(twice, 'two Authorization headers');
    assert.equal(twice.status, 400);
    const basic = `Basic ${Buffer.from('device:basic-password-Wq3Zx8Lm5').toString('base64')}`;
    secrets.add('Basic credentials', basic);
    secrets.add('a Basic password', 'basic-password-Wq3Zx8Lm5');
    assert.equal((await direct(gatehouse, secrets, errors, '/api/items', { ...API_HEADERS, authorization: basic })).status, 401);
    assert.equal((await direct(gatehouse, secrets, errors, '/api/items', { ...API_HEADERS, authorization: `Bearer ${idToken}`, cookie: cookieHeader(browser), 'x-forwarded-proto': 'gopher' })).status, 400);
    assert.equal((await direct(gatehouse, secrets, errors, '/oauth2/auth', { authorization: `Bearer ${idToken}`, 'x-forwarded-uri': 'no slash' })).status, 400);
    assert.ok(gatehouse.logs.slice(from).some((line) => line.includes('"msg":"bearer token rejected"')), 'the refusals were logged');
    assertNoLeak(secrets, [...logsOf(gatehouse, from), ...errors.outputs], 'bearer checks');
  });

  test('failures: tampered cookies, a replayed callback, a provider error, a foreign state', async () => {
    const from = gatehouse.logs.length;
    const secrets = deploymentSecrets(gatehouse, idp.clientSecret);
    const errors = new ErrorAnswers();
    const browser = gatehouse.browser();
    const callbackUrl = await signIn(browser, secrets, 'tamper@homelab.example.com');
    const original = browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`) ?? browser.cookie(`${COOKIE_NAME}_0`, `${APP_ORIGIN}/`);
    assert.ok(original !== undefined);

    // A tampered session cookie (one character of the ciphertext changed), a truncated one, junk.
    const at = Math.floor(original.length / 2);
    const tampered = `${original.slice(0, at)}${original[at] === 'A' ? 'B' : 'A'}${original.slice(at + 1)}`;
    for (const [what, value] of [['tampered', tampered], ['truncated', original.slice(0, -10)], ['junk', 'v1.junk-session-value-Qm3Xr8Tz']] as const) {
      secrets.add(`a ${what} session cookie`, value);
      const answer = await direct(gatehouse, secrets, errors, '/api/items', { ...API_HEADERS, cookie: `${COOKIE_NAME}=${value}` });
      assert.equal(answer.status, 401, what);
      const page = await direct(gatehouse, secrets, errors, '/page', { ...NAVIGATION_HEADERS, cookie: `${COOKIE_NAME}=${value}` });
      assert.equal(page.status, 302, what);
    }

    // The completed callback replayed, with the browser's cookies (the transaction is gone).
    const replayed = await browser.request(callbackUrl, { headers: NAVIGATION_HEADERS });
    assert.equal(replayed.status, 403);

    // A second login whose callback is replayed with its transaction cookie still present, twice.
    const second = gatehouse.browser();
    const secondCallback = await loginUntilCallback(second, { email: 'tamper@homelab.example.com' });
    harvestBrowser(secrets, second);
    secrets.harvestUrl(secondCallback);
    secrets.harvestTransaction(second, secondCallback.searchParams.get('state') ?? '');
    const transactionCookies = cookieHeader(second, '/oauth2/callback');
    const first = await second.request(secondCallback, { headers: NAVIGATION_HEADERS });
    assert.equal(first.status, 302);
    harvestBrowser(secrets, second);
    const again = await direct(gatehouse, secrets, errors, `${secondCallback.pathname}${secondCallback.search}`, { ...NAVIGATION_HEADERS, cookie: transactionCookies });
    assert.equal(again.status, 403);

    // A callback whose state is this browser's but whose code is not the provider's.
    const third = gatehouse.browser();
    const thirdCallback = await loginUntilCallback(third, { email: 'tamper@homelab.example.com' });
    harvestBrowser(secrets, third);
    secrets.harvestUrl(thirdCallback);
    secrets.harvestTransaction(third, thirdCallback.searchParams.get('state') ?? '');
    const forgedCode = new URL(thirdCallback);
    forgedCode.searchParams.set('code', 'forged-code-Vb7Nq2Xc9Lp4Kz');
    secrets.harvestUrl(forgedCode);
    const forged = await third.request(forgedCode, { headers: NAVIGATION_HEADERS });
    assert.equal(forged.status, 403);

    // A callback carrying the provider's error, with this browser's state.
    const fourth = gatehouse.browser();
    const fourthCallback = await loginUntilCallback(fourth, { email: 'tamper@homelab.example.com' });
    harvestBrowser(secrets, fourth);
    secrets.harvestUrl(fourthCallback);
    const state = fourthCallback.searchParams.get('state') ?? '';
    secrets.harvestTransaction(fourth, state);
    const refused = await fourth.request(`${APP_ORIGIN}/oauth2/callback?error=access_denied&error_description=the+user+said+no&state=${encodeURIComponent(state)}&iss=${encodeURIComponent(idp.issuer)}`, { headers: NAVIGATION_HEADERS });
    assert.equal(refused.status, 403);

    // A state that belongs to no transaction here (login CSRF).
    const stranger = gatehouse.browser();
    const foreign = await stranger.request(`${APP_ORIGIN}/oauth2/callback?code=stolen-code-Hq5Wm8Rz3Tx6&state=stolen-state-Pk4Jd9Ls2Vn7&iss=${encodeURIComponent(idp.issuer)}`, { headers: NAVIGATION_HEADERS });
    secrets.harvestUrl(foreign.url);
    assert.equal(foreign.status, 403);

    for (const each of [browser, second, third, fourth, stranger]) errors.recordBrowser(each);
    assert.ok(gatehouse.logs.slice(from).some((line) => line.includes('"msg":"login failed"')), 'the failures were logged');
    assertNoLeak(secrets, [...logsOf(gatehouse, from), ...errors.outputs], 'failures');
  });
});

describe('the token endpoint refuses or misbehaves', () => {
  let idp: DevProvider;
  let hostile: HostileIdp;

  before(async () => {
    idp = await startTestProvider();
    hostile = await startHostileIdp();
  });
  after(async () => {
    await hostile.close();
    await idp.close();
  });

  test('a wrong client secret: the development provider answers 401 invalid_client', async () => {
    const wrongSecret = 'wrong-client-secret-Tq8Xz3Lm6Vr1';
    const gatehouse = await startGatehouse({ provider: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: wrongSecret }, env: TRACE });
    try {
      const secrets = deploymentSecrets(gatehouse, wrongSecret);
      secrets.add('the real client secret', idp.clientSecret);
      const errors = new ErrorAnswers();
      const browser = gatehouse.browser();
      const callbackUrl = await loginUntilCallback(browser, { email: 'wrong@homelab.example.com' });
      harvestBrowser(secrets, browser);
      secrets.harvestUrl(callbackUrl);
      secrets.harvestTransaction(browser, callbackUrl.searchParams.get('state') ?? '');
      const answer = await browser.request(callbackUrl, { headers: NAVIGATION_HEADERS });
      assert.equal(answer.status, 403);
      errors.recordBrowser(browser);
      assert.ok(gatehouse.logs.some((line) => line.includes('"msg":"authorization response or ID token rejected"')), 'the refusal is logged');
      assertNoLeak(secrets, [...logsOf(gatehouse), ...errors.outputs], 'a wrong client secret');
    } finally {
      await gatehouse.close();
    }
  });

  test('a wrong client secret at the hostile provider (401), and malformed token responses carrying tokens', async () => {
    const gatehouse = await startGatehouse({ provider: hostile, env: { ...TRACE, GATEHOUSE_COOKIE_REFRESH: '1m', GATEHOUSE_IDENTITY_HEADERS_AUTHORIZATION: 'true', GATEHOUSE_BEARER_PROVIDER: 'true' } });
    const wrong = await startGatehouse({ provider: { issuer: hostile.issuer, clientId: hostile.clientId, clientSecret: 'hostile-wrong-secret-Kd2Wq9Zp5' }, env: TRACE });
    try {
      const secrets = deploymentSecrets(gatehouse, hostile.clientSecret);
      secrets.add('the wrong client secret', 'hostile-wrong-secret-Kd2Wq9Zp5');
      const errors = new ErrorAnswers();
      const leakyToken = 'at-in-a-malformed-answer-Rw7Yk2Hs5Nb8';
      const leakyRefresh = 'rt-in-a-malformed-answer-Gc4Mv9Tq1Xf6';
      secrets.add('an access token in a malformed answer', leakyToken);
      secrets.add('a refresh token in a malformed answer', leakyRefresh);
      const replies: [string, Gatehouse, (idToken: string) => { status?: number; body: Record<string, unknown> | string }][] = [
        ['the wrong client secret', wrong, () => ({ status: 401, body: { error: 'invalid_client' } })],
        ['invalid JSON with tokens in it', gatehouse, (idToken) => ({ body: `{"access_token":"${leakyToken}","refresh_token":"${leakyRefresh}","id_token":"${idToken}"` })],
        ['HTML with tokens in it', gatehouse, (idToken) => ({ body: `<html>${leakyToken} ${idToken}</html>` })],
        ['an ID token that is not a JWT', gatehouse, () => ({ body: { access_token: leakyToken, token_type: 'Bearer', expires_in: 60, id_token: `not-a-jwt-${leakyRefresh}`, refresh_token: leakyRefresh } })],
        ['an access token that is a number', gatehouse, (idToken) => ({ body: { access_token: 42, token_type: 'Bearer', id_token: idToken, refresh_token: leakyRefresh } })],
        ['no token_type', gatehouse, (idToken) => ({ body: { access_token: leakyToken, id_token: idToken, refresh_token: leakyRefresh } })],
        ['an ID token for another nonce', gatehouse, (idToken) => ({ body: { access_token: leakyToken, token_type: 'Bearer', id_token: idToken, refresh_token: leakyRefresh } })],
        ['a 500 with a description', gatehouse, () => ({ status: 500, body: { error: 'server_error', error_description: 'the database is down' } })],
      ];
      for (const [what, front, reply] of replies) {
        hostile.tokenScript = async (request) => {
          for (const [name, value] of request.form) if (['code', 'code_verifier', 'refresh_token'].includes(name)) secrets.add(`the ${name} sent to the token endpoint`, value);
          const claims = what === 'an ID token for another nonce' ? { ...hostile.honestClaims(request.record), nonce: 'another-nonce-Lx3Qz8Wd' } : hostile.honestClaims(request.record);
          const idToken = await hostile.sign(claims);
          secrets.add(`the ID token in the answer (${what})`, idToken);
          return reply(idToken);
        };
        try {
          const browser = front.browser();
          const { stoppedAt } = await browser.navigate(`${APP_ORIGIN}/dashboard`, { stopBefore: isCallback });
          assert.ok(stoppedAt !== undefined, what);
          harvestBrowser(secrets, browser);
          secrets.harvestUrl(stoppedAt);
          const answer = await browser.request(stoppedAt, { headers: NAVIGATION_HEADERS });
          assert.ok(answer.status === 403 || answer.status === 503, `${what}: ${answer.status}`);
          errors.recordBrowser(browser);
        } finally {
          hostile.tokenScript = undefined;
        }
      }

      // An honest login, then refreshes the provider refuses or answers with junk.
      const browser = gatehouse.browser();
      const { stoppedAt } = await browser.navigate(`${APP_ORIGIN}/dashboard`, { stopBefore: isCallback });
      assert.ok(stoppedAt !== undefined);
      secrets.harvestUrl(stoppedAt);
      const done = await browser.request(stoppedAt, { headers: NAVIGATION_HEADERS });
      assert.equal(done.status, 302);
      harvestBrowser(secrets, browser);
      for (const request of hostile.tokenRequests) for (const [name, value] of request.form) if (['code', 'code_verifier', 'refresh_token'].includes(name)) secrets.add(`the ${name} sent to the token endpoint`, value);
      secrets.harvestSession(browser, 'hostile login');
      hostile.tokenScript = (request) => {
        for (const [name, value] of request.form) if (name === 'refresh_token') secrets.add('the refresh token sent to the token endpoint', value);
        return { status: 400, body: `{"error":"invalid_grant","refresh_token":"${leakyRefresh}"` };
      };
      gatehouse.clockOffsetMs = 2 * 60_000;
      try {
        // A refusal that is not OAuth JSON counts as an outage: the session may live on until the provider answers.
        const check = await direct(gatehouse, secrets, errors, '/oauth2/auth', { cookie: cookieHeader(browser), 'x-forwarded-uri': '/x' });
        assert.ok(check.status === 202 || check.status === 401, String(check.status));
        hostile.tokenScript = () => ({ status: 400, body: { error: 'invalid_grant', error_description: 'the refresh token was revoked' } });
        gatehouse.clockOffsetMs = 4 * 60_000;
        const ended = await direct(gatehouse, secrets, errors, '/oauth2/auth', { cookie: cookieHeader(browser), 'x-forwarded-uri': '/x' });
        assert.equal(ended.status, 401);
      } finally {
        gatehouse.clockOffsetMs = 0;
        hostile.tokenScript = undefined;
      }
      assert.ok(hostile.tokenRequests.some((request) => request.grantType === 'refresh_token'), 'a refresh was attempted');

      // The provider's tokens as bearer tokens: an expired one, one signed by a foreign key, an unsigned one.
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: hostile.issuer, aud: hostile.clientId, sub: hostile.account.sub, email: hostile.account.email, email_verified: true };
      const bearers: [string, string, number][] = [
        ['valid', await hostile.sign({ ...claims, iat: now, exp: now + 600 }), 202],
        ['expired', await hostile.sign({ ...claims, iat: now - 7200, exp: now - 3600 }), 401],
        ['signed by a foreign key', await hostile.sign({ ...claims, iat: now, exp: now + 600 }, { key: 'foreign' }), 401],
        ['alg none', await hostile.sign({ ...claims, iat: now, exp: now + 600 }, { alg: 'none' }), 401],
        ['HS256 with the client secret', await hostile.sign({ ...claims, iat: now, exp: now + 600 }, { alg: 'HS256' }), 401],
      ];
      for (const [what, token, status] of bearers) {
        secrets.add(`the provider bearer token (${what})`, token);
        const answer = await direct(gatehouse, secrets, errors, '/api/items', { ...API_HEADERS, authorization: `Bearer ${token}` });
        assert.equal(answer.status, status, `${what}: ${answer.status} ${String(answer.headers['x-gatehouse-reason'])}`);
      }
      assertNoLeak(secrets, [...logsOf(gatehouse), ...logsOf(wrong, 0, 'gatehouse with the wrong secret'), ...errors.outputs], 'token endpoint failures');
    } finally {
      await wrong.close();
      await gatehouse.close();
    }
  });
});

describe('back-channel logout from the development provider (Redis store)', () => {
  let redis: StandaloneRedis;
  let relay: Server;
  let target = 0;
  const posted: string[] = [];
  let idp: DevProvider;
  let gatehouse: Gatehouse;

  before(async () => {
    redis = await startRedis();
    // The provider learns where to POST before gatehouse has a port: a relay forwards, and keeps each body.
    const relayPort = await freePort();
    relay = createServer((incoming, outgoing) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        const body = Buffer.concat(chunks);
        posted.push(body.toString('utf8'));
        const forward = httpRequest({ host: '127.0.0.1', port: target, path: incoming.url, method: incoming.method, headers: incoming.headers }, (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        });
        forward.on('error', () => outgoing.writeHead(502).end());
        forward.end(body);
      });
    });
    await new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', resolve));
    idp = await startTestProvider({ backchannelLogoutUri: `http://127.0.0.1:${relayPort}/oauth2/backchannel-logout` });
    gatehouse = await startGatehouse({
      devProvider: idp,
      env: { ...TRACE, GATEHOUSE_SESSION_STORE: 'redis', GATEHOUSE_SESSION_REDIS_URL: redis.url, GATEHOUSE_PROVIDER_BACKCHANNEL_LOGOUT: 'true', GATEHOUSE_IDENTITY_HEADERS_AUTHORIZATION: 'true', GATEHOUSE_COOKIE_REFRESH: '1m' },
    });
    target = gatehouse.port;
  });
  after(async () => {
    await gatehouse.close();
    await idp.close();
    // Also a connection still open from the provider's POST (a test that failed before it was answered).
    relay.closeAllConnections();
    await new Promise((resolve) => relay.close(resolve));
    await redis.stop();
  });

  test('login, checks, a refresh, sign-out at the provider, the logout token, a replay and junk tokens', async () => {
    const secrets = deploymentSecrets(gatehouse, idp.clientSecret);
    const errors = new ErrorAnswers();
    const browser = gatehouse.browser();
    const callbackUrl = await loginUntilCallback(browser, { email: 'carol@homelab.example.com' });
    harvestBrowser(secrets, browser);
    secrets.harvestUrl(callbackUrl);
    secrets.harvestTransaction(browser, callbackUrl.searchParams.get('state') ?? '');
    await browser.navigate(callbackUrl);
    harvestBrowser(secrets, browser);
    const ticket = browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`);
    assert.ok(ticket !== undefined, 'a session ticket cookie');
    const check = await direct(gatehouse, secrets, errors, '/oauth2/auth', { cookie: cookieHeader(browser), 'x-forwarded-uri': '/x' });
    assert.equal(check.status, 202);
    gatehouse.clockOffsetMs = 2 * 60_000;
    try {
      assert.equal((await direct(gatehouse, secrets, errors, '/oauth2/auth', { cookie: cookieHeader(browser), 'x-forwarded-uri': '/y' })).status, 202);
    } finally {
      gatehouse.clockOffsetMs = 0;
    }

    // The operator's view of the session (the ticket's key never shows).
    const listed: string[] = [];
    const listIo: CommandIo = { out: (text) => listed.push(text), err: (text) => listed.push(text), env: { ...baseEnv({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }), GATEHOUSE_SESSION_STORE: 'redis', GATEHOUSE_SESSION_REDIS_URL: redis.url } };
    assert.equal(await main(['sessions', 'list', '--email', 'carol@homelab.example.com'], listIo), 0, listed.join('\n'));
    assert.match(listed.join('\n'), /carol@homelab\.example\.com/);
    const cliOutputs: Output[] = [{ where: 'sessions list', text: listed.join('\n') }];

    // Sign out at the provider: it POSTs a logout token to gatehouse (through the relay).
    const page = await browser.navigate(`${idp.issuer}/session/end`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.response.body)?.[1];
    const action = /<form[^>]*action="([^"]+)"/.exec(page.response.body)?.[1];
    assert.ok(xsrf !== undefined && action !== undefined, 'the provider’s sign-out form');
    await browser.request(new URL(action, idp.issuer), { form: { xsrf, logout: 'yes' }, headers: { accept: 'text/html' } });
    await waitUntil('the session to end', async () => (await gatehouse.request('/oauth2/auth', { headers: { cookie: cookieHeader(browser), 'x-forwarded-uri': '/x' } })).status === 401, 5000);
    const logoutToken = posted.map((body) => new URLSearchParams(body).get('logout_token') ?? '').find((token) => token !== '');
    assert.ok(logoutToken !== undefined, 'the provider POSTed a logout token');
    secrets.add('the logout token', logoutToken);

    // The same token again (refused as used), and tokens that are no logout token at all.
    const post = async (token: string) => {
      const body = new URLSearchParams({ logout_token: token }).toString();
      const answer = await send({ port: gatehouse.port, path: '/oauth2/backchannel-logout', method: 'POST', headers: { host: `127.0.0.1:${gatehouse.port}`, 'content-type': 'application/x-www-form-urlencoded' }, body });
      errors.record(answer, 'POST /oauth2/backchannel-logout');
      return answer;
    };
    assert.equal((await post(logoutToken)).status, 400);
    const idToken = [...secrets.values].find(([, label]) => label.includes('ID token'))?.[0];
    assert.ok(idToken !== undefined, 'the forwarded ID token was collected');
    assert.equal((await post(idToken)).status, 400, 'an ID token is no logout token');
    const junk = 'junk-logout-token-Bv6Rn1Qw8Zt3';
    secrets.add('a junk logout token', junk);
    assert.equal((await post(junk)).status, 400);
    const [header, payload] = logoutToken.split('.') as [string, string];
    const forged = `${header}.${payload}.Zm9yZ2VkLXNpZ25hdHVyZS12YWx1ZS0xMjM0NTY3ODkw`;
    secrets.add('a forged logout token', forged);
    assert.equal((await post(forged)).status, 400);

    errors.recordBrowser(browser);
    assert.ok(gatehouse.logs.some((line) => line.includes('"msg":"back-channel logout"')), 'the logout was logged');
    assertNoLeak(secrets, [...logsOf(gatehouse), ...errors.outputs, ...cliOutputs], 'back-channel logout');
  });
});

describe('a device profile that reads tokens from a query parameter or a cookie', () => {
  const DEVICE_HOST = 'device.homelab.example.com';
  const ISSUER = 'https://devices.homelab.example.com';
  const AUDIENCE = 'device-api';
  let dir: string;
  let file: string;
  let idp: DevProvider;
  let gatehouse: Gatehouse;
  let privateKey: CryptoKey;
  let foreignKey: CryptoKey;

  const mint = (key: CryptoKey, claims: Record<string, unknown> = {}, ttl = 600) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: 'sensor-1', ...claims }).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'device-key' }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt(now - (ttl < 0 ? 3600 : 0)).setExpirationTime(now + ttl).sign(key);
  };

  before(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    foreignKey = (await generateKeyPair('ES256', { extractable: true })).privateKey;
    const pem = await exportSPKI(pair.publicKey);
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-no-secrets-'));
    file = join(dir, 'gatehouse.yaml');
    writeFileSync(
      file,
      `bearer:
  profiles:
    device:
      issuers: [${ISSUER}]
      skipPrefetch: true
      audiences: [${AUDIENCE}]
      parameterName: access_token
      cookieName: device_token
      secrets:
        device-key: |
${pem.trim().split('\n').map((line) => `          ${line}`).join('\n')}
routes:
  - name: device
    hosts: [${DEVICE_HOST}]
    auth: [bearer:device]
`,
    );
    idp = await startTestProvider();
    gatehouse = await startGatehouse({ devProvider: idp, file, env: TRACE });
  });
  after(async () => {
    await gatehouse.close();
    await idp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('tokens in the query, a cookie and the header, valid and not, through the emulated proxy', async () => {
    const secrets = deploymentSecrets(gatehouse, idp.clientSecret);
    const errors = new ErrorAnswers();
    const valid = await mint(privateKey);
    const expired = await mint(privateKey, {}, -60);
    const foreign = await mint(foreignKey);
    const otherAudience = await new SignJWT({ sub: 'sensor-1' }).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'device-key' }).setIssuer(ISSUER).setAudience('elsewhere').setIssuedAt().setExpirationTime('10m').sign(privateKey);
    const garbage = 'garbage-device-token-Xw4Pz7Lq2Nv9';
    const cases: [string, string, number][] = [
      ['valid', valid, 202],
      ['expired', expired, 401],
      ['signed by another key', foreign, 401],
      ['for another audience', otherAudience, 401],
      ['garbage', garbage, 401],
    ];
    const check = (uri: string, headers: Record<string, string> = {}) =>
      direct(gatehouse, secrets, errors, uri, { ...API_HEADERS, 'x-forwarded-host': DEVICE_HOST, ...headers });
    for (const [what, token, status] of cases) {
      secrets.add(`the device token (${what})`, token);
      const inQuery = await check(`/metrics?access_token=${encodeURIComponent(token)}&x=1`);
      assert.equal(inQuery.status, status, `${what} in the query: ${inQuery.status} ${String(inQuery.headers['x-gatehouse-reason'])}`);
      const viaAuth = await direct(gatehouse, secrets, errors, '/oauth2/auth', { 'x-forwarded-host': DEVICE_HOST, 'x-forwarded-uri': `/metrics?access_token=${encodeURIComponent(token)}` });
      assert.equal(viaAuth.status, status, `${what} in the forwarded URI`);
      assert.equal((await check('/metrics', { cookie: `device_token=${token}` })).status, status, `${what} in a cookie`);
      assert.equal((await check('/metrics', { authorization: `Bearer ${token}` })).status, status, `${what} in the header`);
    }
    assert.ok(gatehouse.logs.some((line) => line.includes('"msg":"bearer token rejected"')), 'the refusals were logged');
    assertNoLeak(secrets, [...logsOf(gatehouse), ...errors.outputs], 'device tokens');
  });

  test('`gatehouse token verify` never prints a token in full', async () => {
    const secrets = new Secrets();
    const outputs: Output[] = [];
    const env = { ...baseEnv({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }), ...TRACE };
    secrets.add('the client secret', idp.clientSecret);
    secrets.add('the cookie secret', COOKIE_SECRET);
    const tokens: [string, string][] = [
      ['valid', await mint(privateKey)],
      ['expired', await mint(privateKey, {}, -60)],
      ['signed by another key', await mint(foreignKey)],
      ['garbage', 'garbage-device-token-Jq5Tm8Wx3Rz6'],
    ];
    for (const [what, token] of tokens) {
      secrets.add(`the device token (${what})`, token);
      const lines: string[] = [];
      const io: CommandIo = { out: (text) => lines.push(text), err: (text) => lines.push(text), env };
      const code = await main(['token', 'verify', token, '--config', file, '--profile', 'device'], io);
      assert.equal(code, what === 'valid' ? 0 : 1, `${what}: ${lines.join('\n')}`);
      outputs.push({ where: `token verify (${what})`, text: lines.join('\n') });
      // A token passed twice: the stray second copy is quoted in the usage error.
      const stray: string[] = [];
      const strayIo: CommandIo = { out: (text) => stray.push(text), err: (text) => stray.push(text), env };
      assert.equal(await main(['token', 'verify', 'first', token, '--config', file], strayIo), 2);
      outputs.push({ where: `token verify with a stray token (${what})`, text: stray.join('\n') });
    }
    assertNoLeak(secrets, outputs, 'token verify');
  });
});

describe('configuration failures name secrets without echoing them', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-no-secrets-config-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `gatehouse <args>` in this process; resolves with its exit code and everything it printed. */
  async function run(args: readonly string[], env: Record<string, string>): Promise<{ code: number; text: string }> {
    const lines: string[] = [];
    const io: CommandIo = { out: (text) => lines.push(text), err: (text) => lines.push(text), env };
    const code = await main(args, io);
    return { code, text: lines.join('\n') };
  }

  const CLIENT_SECRET = 'client-secret-Vf3Nq8Lz2Wx7Rk5Tj9';
  /** Cookie secrets of a wrong length, each distinctive. */
  const WRONG_COOKIE_SECRETS = ['short-cookie-secret-Pq7', 'wrong-length-cookie-secret-Hd4Mx8Zn2Kt6Wb9Lr3Qv', 'Zm9vYmFyLWNvb2tpZS1zZWNyZXQtb2YtMjBi'];
  const base = () => ({ ...baseEnv({ issuer: 'http://127.0.0.1:1', clientId: 'gatehouse', clientSecret: CLIENT_SECRET }), ...TRACE });

  test('`config check` and `serve` with wrong cookie secrets, in the environment, oauth2-proxy variables and flags', async () => {
    const secrets = new Secrets();
    secrets.add('the client secret', CLIENT_SECRET);
    for (const value of WRONG_COOKIE_SECRETS) secrets.add('a wrong cookie secret', value);
    const outputs: Output[] = [];
    for (const wrong of WRONG_COOKIE_SECRETS) {
      const variants: [string, string[], Record<string, string>][] = [
        ['GATEHOUSE_COOKIE_SECRETS', [], { ...base(), GATEHOUSE_COOKIE_SECRETS: wrong }],
        ['GATEHOUSE_COOKIE_SECRETS, second of two', [], { ...base(), GATEHOUSE_COOKIE_SECRETS: `${COOKIE_SECRET},${wrong}` }],
        ['OAUTH2_PROXY_COOKIE_SECRET', [], { ...Object.fromEntries(Object.entries(base()).filter(([name]) => name !== 'GATEHOUSE_COOKIE_SECRETS')), OAUTH2_PROXY_COOKIE_SECRET: wrong }],
        ['--cookie-secret', [`--cookie-secret=${wrong}`], base()],
        ['--cookie.secrets', ['--cookie.secrets', wrong], base()],
      ];
      for (const [what, flags, env] of variants) {
        for (const command of [['config', 'check'], ['serve']]) {
          const { code, text } = await run([...command, ...flags], env);
          assert.equal(code, 78, `${command.join(' ')} with ${what}: exit ${code}\n${text}`);
          assert.match(text, /cookie/i, `${command.join(' ')} with ${what} names the cookie secret`);
          outputs.push({ where: `${command.join(' ')} with a wrong ${what}`, text });
        }
      }
    }
    secrets.add('the cookie secret', COOKIE_SECRET);
    assertNoLeak(secrets, outputs, 'wrong cookie secrets');
  });

  test('`config check` and `serve` with a client secret in the wrong place, a typo or a broken file', async () => {
    const secrets = new Secrets();
    secrets.add('the client secret', CLIENT_SECRET);
    secrets.add('the cookie secret', COOKIE_SECRET);
    const outputs: Output[] = [];
    const yaml = join(dir, 'broken.yaml');
    writeFileSync(yaml, `provider:\n  clientSecret: "${CLIENT_SECRET}\ncookie:\n  secrets: [${COOKIE_SECRET}]\n`);
    const yamlType = join(dir, 'type.yaml');
    writeFileSync(yamlType, `provider:\n  clientSecret:\n    value: ${CLIENT_SECRET}\ncookie:\n  secrets: ${COOKIE_SECRET}\n`);
    const toml = join(dir, 'broken.cfg');
    writeFileSync(toml, `client_secret = "${CLIENT_SECRET}\ncookie_secret = "${COOKIE_SECRET}"\n`);
    const withoutSecrets = Object.fromEntries(Object.entries(base()).filter(([name]) => name !== 'GATEHOUSE_PROVIDER_CLIENT_SECRET' && name !== 'GATEHOUSE_COOKIE_SECRETS'));
    const cases: [string, string[], Record<string, string>][] = [
      ['a misspelt client secret variable', [], { ...withoutSecrets, GATEHOUSE_COOKIE_SECRETS: COOKIE_SECRET, GATEHOUSE_PROVIDER_CLIENT_SECRETT: CLIENT_SECRET }],
      ['a misspelt oauth2-proxy client secret variable', [], { ...withoutSecrets, GATEHOUSE_COOKIE_SECRETS: COOKIE_SECRET, OAUTH2_PROXY_CLIENT_SECERT: CLIENT_SECRET }],
      ['a misspelt client secret flag', [`--client-secert=${CLIENT_SECRET}`], { ...withoutSecrets, GATEHOUSE_COOKIE_SECRETS: COOKIE_SECRET }],
      ['a client secret after a boolean flag', ['--reverse-proxy', CLIENT_SECRET], base()],
      ['a client secret given twice', [`--client-secret=${CLIENT_SECRET}`], { ...base(), OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET }],
      ['a YAML file with an unterminated secret', ['--config', yaml], withoutSecrets],
      ['a YAML file with secrets of the wrong type', ['--config', yamlType], withoutSecrets],
      ['an oauth2-proxy TOML file with an unterminated secret', ['--config', toml], withoutSecrets],
      ['a client secret with no issuer', [], { ...withoutSecrets, GATEHOUSE_PROVIDER_ISSUER: 'not a url', GATEHOUSE_PROVIDER_CLIENT_SECRET: CLIENT_SECRET, GATEHOUSE_COOKIE_SECRETS: COOKIE_SECRET }],
    ];
    for (const [what, args, env] of cases) {
      const checked = await run(['config', 'check', ...args], env);
      outputs.push({ where: `config check with ${what}`, text: checked.text });
      // `serve` only with a configuration that fails to load: a valid one would start serving.
      if (checked.code === 0) continue;
      const served = await run(['serve', ...args], env);
      assert.notEqual(served.code, 0, `serve with ${what} fails: ${served.text}`);
      outputs.push({ where: `serve with ${what}`, text: served.text });
    }
    assertNoLeak(secrets, outputs, 'client secret failures');
  });

  test('`config check` of a valid configuration prints every secret redacted', async () => {
    const secrets = new Secrets();
    const redisPassword = 'redis-password-Hx5Qm2Wz8Lk3';
    const env = {
      ...base(),
      GATEHOUSE_COOKIE_SECRETS: `${COOKIE_SECRET},${OTHER_SECRET}`,
      GATEHOUSE_SESSION_STORE: 'redis',
      GATEHOUSE_SESSION_REDIS_URL: `redis://gatehouse:${redisPassword}@127.0.0.1:6379/0`,
      GATEHOUSE_SESSION_REDIS_PASSWORD: redisPassword,
      GATEHOUSE_DIAGNOSTICS_TOKEN: DIAGNOSTICS_TOKEN,
    };
    secrets.add('the client secret', CLIENT_SECRET);
    secrets.add('the cookie secret', COOKIE_SECRET);
    secrets.add('the second cookie secret', OTHER_SECRET);
    secrets.add('the Redis password', redisPassword);
    secrets.add('the diagnostics token', DIAGNOSTICS_TOKEN);
    const { code, text } = await run(['config', 'check'], env);
    assert.equal(code, 0, text);
    assert.match(text, /provider\.clientSecret/);
    assertNoLeak(secrets, [{ where: 'config check', text }], 'a valid configuration');
  });

  test('the start-up of `gatehouse serve` at trace level logs no secret', async () => {
    const idp = await startTestProvider();
    const secrets = new Secrets();
    secrets.add('the client secret', idp.clientSecret);
    secrets.add('the cookie secret', COOKIE_SECRET);
    secrets.add('the diagnostics token', DIAGNOSTICS_TOKEN);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...baseEnv({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }), ...TRACE, GATEHOUSE_LISTEN: '127.0.0.1:0', GATEHOUSE_DIAGNOSTICS_TOKEN: DIAGNOSTICS_TOKEN, GATEHOUSE_PROXY_TRUSTED: '' };
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/bin.ts'), 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await waitUntil('gatehouse serve to listen', () => output.includes('listening on'), 20_000);
      const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
      assert.ok(port > 0, output);
      const ping = await send({ port, path: '/ping', headers: { cookie: `${COOKIE_NAME}=${COOKIE_SECRET}`, authorization: `Bearer ${idp.clientSecret}` } });
      assert.equal(ping.status, 200);
      const check = await send({ port, path: '/x', headers: { host: 'app.homelab.example.com', cookie: `${COOKIE_NAME}=v1.serve-cookie-Tz6Wq1Lx9`, authorization: 'Bearer serve-bearer-Kc3Vn8Rd2' } });
      secrets.add('a cookie sent to serve', 'v1.serve-cookie-Tz6Wq1Lx9');
      secrets.add('a bearer token sent to serve', 'serve-bearer-Kc3Vn8Rd2');
      assert.ok(check.status >= 300, String(check.status));
    } finally {
      // SIGKILL if it ignores SIGTERM; then the rest of its output, which ends with its pipes.
      await stopChild(child);
      await within(closed, 5000, 'the output pipes of gatehouse serve to close');
      await idp.close();
    }
    assert.match(output, /"level":"(info|warn)"/, 'serve logged JSON lines');
    const lines = output.split('\n').filter((line) => line !== '' && !line.startsWith('oidc-provider WARNING'));
    assertNoLeak(secrets, lines.map((text, index) => ({ where: `serve output line ${index + 1}`, text })), 'serve start-up');
  });

  test('a secret glued to its flag by a character other than = is not echoed back in full', async () => {
    const secrets = new Secrets();
    secrets.add('the client secret', CLIENT_SECRET);
    secrets.add('the cookie secret', COOKIE_SECRET);
    const outputs: Output[] = [];
    // Stray arguments are cut for this reason (a secret pasted in the wrong place); an unknown flag is not.
    const cases: [string, string[]][] = [
      ['config check --cookie-secret:<secret>', ['config', 'check', `--cookie-secret:${COOKIE_SECRET}`]],
      ['serve --client-secret:<secret>', ['serve', `--client-secret:${CLIENT_SECRET}`]],
      ['gatehouse --cookie-secret:<secret> (oauth2-proxy style)', [`--cookie-secret:${COOKIE_SECRET}`]],
      ['config check <secret> (a stray argument, cut as it should be)', ['config', 'check', CLIENT_SECRET]],
    ];
    for (const [what, args] of cases) {
      const { code, text } = await run(args, base());
      assert.equal(code, 2, `${what}: ${text}`);
      outputs.push({ where: what, text });
    }
    assertNoLeak(secrets, outputs, 'secrets glued to flags');
  });

  test('a secret pasted where a secret file path belongs is not echoed back', async () => {
    const secrets = new Secrets();
    secrets.add('the client secret', CLIENT_SECRET);
    secrets.add('the cookie secret', COOKIE_SECRET);
    const outputs: Output[] = [];
    const withoutSecrets = Object.fromEntries(Object.entries(base()).filter(([name]) => name !== 'GATEHOUSE_PROVIDER_CLIENT_SECRET' && name !== 'GATEHOUSE_COOKIE_SECRETS'));
    const cases: [string, string[], Record<string, string>][] = [
      ['GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE', [], { ...withoutSecrets, GATEHOUSE_COOKIE_SECRETS: COOKIE_SECRET, GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE: CLIENT_SECRET }],
      ['OAUTH2_PROXY_COOKIE_SECRET_FILE', [], { ...withoutSecrets, GATEHOUSE_PROVIDER_CLIENT_SECRET: CLIENT_SECRET, OAUTH2_PROXY_COOKIE_SECRET_FILE: COOKIE_SECRET }],
      ['--cookie-secret-file', [`--cookie-secret-file=${COOKIE_SECRET}`], { ...withoutSecrets, GATEHOUSE_PROVIDER_CLIENT_SECRET: CLIENT_SECRET }],
    ];
    for (const [what, args, env] of cases) {
      for (const command of [['config', 'check'], ['serve']]) {
        const { code, text } = await run([...command, ...args], env);
        assert.equal(code, 78, `${command.join(' ')} with the secret in ${what}: ${text}`);
        outputs.push({ where: `${command.join(' ')} with the secret in ${what}`, text });
      }
    }
    assertNoLeak(secrets, outputs, 'secrets in file-path settings');
  });
});
