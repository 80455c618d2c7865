/**
 * OpenID Connect back-channel logout, with the Redis store: someone who signs out at the real development
 * provider (oidc-provider) loses their sessions on both replicas, through the logout token the provider
 * POSTs; forged, malformed and replayed logout tokens from a hostile provider end nothing (OIDC-27).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { JWTPayload } from 'jose';
import { loadConfig, ConfigError } from '../../src/config/index.js';
import type { DevProvider } from '../../src/devidp/index.js';
import { send, type Browser, type RawResponse } from '../support/http-client.js';
import { API_HEADERS, APP_ORIGIN, baseEnv, cookieHeader, login, startGatehouse, startTestProvider, type Gatehouse } from '../support/gatehouse-fixture.js';
import { startHostileIdp, type HostileIdp, type SignOptions } from '../support/hostile-idp.js';
import { freePort, startRedis, waitUntil, type StandaloneRedis } from '../support/redis.js';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
let redis: StandaloneRedis;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

const redisEnv = () => ({ GATEHOUSE_SESSION_STORE: 'redis', GATEHOUSE_SESSION_REDIS_URL: redis.url, GATEHOUSE_PROVIDER_BACKCHANNEL_LOGOUT: 'true' });

/** A check of the dashboard with the browser's session, as an API client. */
function check(replica: Gatehouse, browser: Browser): Promise<RawResponse> {
  return replica.request('/dashboard', { headers: { ...API_HEADERS, cookie: cookieHeader(browser) } });
}

/** POSTs a form to the back-channel logout endpoint, straight to gatehouse as a provider would. */
function post(replica: Gatehouse, body: string, contentType = 'application/x-www-form-urlencoded', method = 'POST'): Promise<RawResponse> {
  return send({ port: replica.port, path: '/oauth2/backchannel-logout', method, headers: { host: `127.0.0.1:${replica.port}`, 'content-type': contentType }, body });
}

describe('back-channel logout from the real development provider, two replicas', () => {
  let relay: Server;
  let target = 0;
  let idp: DevProvider;
  let a: Gatehouse;
  let b: Gatehouse;

  before(async () => {
    // The provider learns where to POST before replica A has a port: a relay forwards to it.
    const relayPort = await freePort();
    relay = createServer((incoming, outgoing) => {
      const forward = httpRequest({ host: '127.0.0.1', port: target, path: incoming.url, method: incoming.method, headers: incoming.headers }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      forward.on('error', () => outgoing.writeHead(502).end());
      incoming.pipe(forward);
    });
    await new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', resolve));
    idp = await startTestProvider({ backchannelLogoutUri: `http://127.0.0.1:${relayPort}/oauth2/backchannel-logout` });
    a = await startGatehouse({ devProvider: idp, env: redisEnv() });
    b = await startGatehouse({ devProvider: idp, env: redisEnv() });
    target = a.port;
  });
  after(async () => {
    await a.close();
    await b.close();
    await idp.close();
    // Also a connection still open from the provider's POST (a test that failed before it was answered).
    relay.closeAllConnections();
    await new Promise((resolve) => relay.close(resolve));
  });

  test('signing out at the provider ends the sessions on every replica', async () => {
    const browser = a.browser();
    await login(browser, { email: 'carol@homelab.example.com' });
    const other = a.browser();
    await login(other, { email: 'dave@homelab.example.com' });
    // The same person on another device: another provider session, which the logout token's sid leaves alone.
    const laptop = a.browser();
    await login(laptop, { email: 'carol@homelab.example.com' });
    assert.equal((await check(a, browser)).status, 202);
    assert.equal((await check(b, browser)).status, 202, 'the session is on both replicas');
    // Sign out at the provider, as the person would: its end-session page, then "yes, sign me out".
    const page = await browser.navigate(`${idp.issuer}/session/end`);
    assert.equal(page.response.status, 200, page.response.body.slice(0, 300));
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.response.body)?.[1];
    const action = /<form[^>]*action="([^"]+)"/.exec(page.response.body)?.[1];
    assert.ok(xsrf !== undefined && action !== undefined, `the provider's sign-out form: ${page.response.body.slice(0, 500)}`);
    const confirmed = await browser.request(new URL(action, idp.issuer), { form: { xsrf, logout: 'yes' }, headers: { accept: 'text/html' } });
    assert.ok(confirmed.status < 400, `the provider signed out: ${confirmed.status}`);
    await waitUntil('both replicas to drop the session', async () => (await check(a, browser)).status === 401 && (await check(b, browser)).status === 401, 5000);
    assert.equal((await check(b, other)).status, 202, 'another person keeps their session');
    assert.equal((await check(b, laptop)).status, 202, "the person's other provider session keeps its session");
    assert.ok(a.logs.some((line) => line.includes('"msg":"back-channel logout"') && line.includes('"by":"sid"') && line.includes('"sessions":1')), 'the logout is logged with the sessions it ended');
    assert.ok(!a.logs.some((line) => line.includes('logout_token') || /eyJ[A-Za-z0-9_-]{20,}\.eyJ/.test(line)), 'the logout token is never logged');
  });
});

describe('OIDC-27: forged and malformed logout tokens end nothing', () => {
  let hostile: HostileIdp;
  let front: Gatehouse;
  let browser: Browser;
  let sub: string;

  before(async () => {
    hostile = await startHostileIdp();
    front = await startGatehouse({ provider: hostile, env: redisEnv() });
    sub = hostile.account.sub;
  });
  after(async () => {
    await front.close();
    await hostile.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (change: Record<string, unknown> = {}, remove: string[] = []): JWTPayload => {
    const base: Record<string, unknown> = { iss: hostile.issuer, aud: hostile.clientId, iat: now(), exp: now() + 120, jti: `jti-${Math.random().toString(36).slice(2)}`, sub, events: { [LOGOUT_EVENT]: {} }, ...change };
    for (const name of remove) Reflect.deleteProperty(base, name);
    return base;
  };
  const form = (token: string) => new URLSearchParams({ logout_token: token }).toString();

  async function signIn(): Promise<void> {
    browser = front.browser();
    const { response } = await browser.navigate(`${APP_ORIGIN}/dashboard`);
    assert.ok(response.status < 400, `signed in at the hostile provider: ${response.status}`);
    assert.equal((await check(front, browser)).status, 202);
  }

  test('each forged or malformed token is a 400 and the session lives on', async () => {
    await signIn();
    const forged: [string, Record<string, unknown>, string[], SignOptions?][] = [
      ['alg none', {}, [], { alg: 'none' }],
      ['HS256 with the client secret', {}, [], { alg: 'HS256' }],
      ['signed by a key not in the JWKS', {}, [], { key: 'foreign' }],
      ['another audience', { aud: 'another-client' }, []],
      ['another issuer', { iss: 'https://evil-idp.test' }, []],
      ['no events', {}, ['events']],
      ['events without the logout event', { events: { 'http://schemas.openid.net/event/other': {} } }, []],
      ['the logout event as a string', { events: { [LOGOUT_EVENT]: 'yes' } }, []],
      ['a nonce (an ID token)', { nonce: 'abc' }, []],
      ['no iat', {}, ['iat']],
      ['no jti', {}, ['jti']],
      ['no exp (required since errata set 1)', {}, ['exp']],
      ['issued 20 minutes ago', { iat: now() - 1200, exp: now() + 120 }, []],
      ['issued in the future', { iat: now() + 600 }, []],
      ['expired', { exp: now() - 120 }, []],
      ['neither sub nor sid', {}, ['sub']],
      ['sub not a string', { sub: 42 }, []],
      ['sid not a string', { sid: 42 }, []],
      ['an empty sid', { sid: '' }, []],
      ['an access token type', {}, [], { typ: 'at+jwt' }],
    ];
    for (const [what, change, remove, options] of forged) {
      const response = await post(front, form(await hostile.sign(claims(change, remove), options)));
      assert.equal(response.status, 400, `${what}: ${response.status} ${response.body}`);
      const body = JSON.parse(response.body) as Record<string, unknown>;
      assert.equal(body.error, 'invalid_request', what);
      assert.equal(response.headers['cache-control'], 'no-store', what);
      assert.equal((await check(front, browser)).status, 202, `${what}: the session lives on`);
    }
  });

  test('the wrong method, content type, parameters or size are refused without reading a token', async () => {
    const token = await hostile.sign(claims());
    assert.equal((await post(front, form(token), 'application/x-www-form-urlencoded', 'PUT')).status, 405);
    assert.equal((await post(front, JSON.stringify({ logout_token: token }), 'application/json')).status, 400);
    assert.equal((await post(front, `${form(token)}&${form(token)}`)).status, 400, 'two logout_token parameters');
    assert.equal((await post(front, 'logout_token=')).status, 400);
    assert.equal((await post(front, `logout_token=${'a'.repeat(20_000)}`)).status, 400, 'too large');
    assert.equal((await check(front, browser)).status, 202, 'the session lives on');
  });

  test('a valid logout token ends the session once; the same token again is refused', async () => {
    const token = await hostile.sign(claims({ sid: 'provider-session-1' }));
    const ended = await post(front, form(token));
    assert.equal(ended.status, 200, ended.body);
    assert.equal((await check(front, browser)).status, 401, 'the session is over');
    await signIn();
    const replayed = await post(front, form(token));
    assert.equal(replayed.status, 400, 'a replayed logout token');
    assert.match(replayed.body, /already used/);
    assert.equal((await check(front, browser)).status, 202, 'the replay ended nothing');
  });
});

describe('a logout token that names one provider session (sid)', () => {
  let hostile: HostileIdp;
  let front: Gatehouse;

  before(async () => {
    hostile = await startHostileIdp();
    // A subject of its own: the other suites' sessions share this Redis.
    hostile.account.sub = 'sid-suite-user';
    front = await startGatehouse({ provider: hostile, env: redisEnv() });
  });
  after(async () => {
    await front.close();
    await hostile.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const logout = async (claims: Record<string, unknown>): Promise<RawResponse> => {
    const token = await hostile.sign({ iss: hostile.issuer, aud: hostile.clientId, iat: now(), exp: now() + 120, jti: `jti-${Math.random().toString(36).slice(2)}`, events: { [LOGOUT_EVENT]: {} }, ...claims });
    return post(front, new URLSearchParams({ logout_token: token }).toString());
  };
  /** Signs a new browser in; the ID token carries `sid` when given. */
  async function signIn(sid?: string): Promise<Browser> {
    hostile.account.claims = sid === undefined ? {} : { sid };
    const browser = front.browser();
    const { response } = await browser.navigate(`${APP_ORIGIN}/dashboard`);
    assert.ok(response.status < 400, `signed in: ${response.status}`);
    assert.equal((await check(front, browser)).status, 202);
    return browser;
  }

  test('sub and sid: that provider session ends, and sessions that recorded none; the others live on', async () => {
    const phone = await signIn('ps-phone');
    const laptop = await signIn('ps-laptop');
    const unmarked = await signIn();
    const ended = await logout({ sub: hostile.account.sub, sid: 'ps-phone' });
    assert.equal(ended.status, 200, ended.body);
    assert.equal((await check(front, phone)).status, 401, 'the named provider session is over');
    assert.equal((await check(front, unmarked)).status, 401, 'a session without a provider session id cannot be told apart: it ends too');
    assert.equal((await check(front, laptop)).status, 202, 'another provider session of the same person lives on');
    assert.ok(front.logs.some((line) => line.includes('"msg":"back-channel logout"') && line.includes('"by":"sid"') && line.includes('"sessions":2')), `two sessions ended: ${front.logs.filter((line) => line.includes('back-channel')).join('\n')}`);
    assert.ok(!front.logs.some((line) => line.includes('ps-phone')), 'the provider session id is not logged');
  });

  test('sid alone (no sub) ends that provider session only', async () => {
    const kept = await signIn('ps-kept');
    const named = await signIn('ps-named');
    const unmarked = await signIn();
    const ended = await logout({ sid: 'ps-named' });
    assert.equal(ended.status, 200, ended.body);
    assert.equal((await check(front, named)).status, 401);
    assert.equal((await check(front, kept)).status, 202);
    assert.equal((await check(front, unmarked)).status, 202, 'without sub, nothing else is named');
  });

  test('a sid of any length is a provider session id (the specification bounds none)', async () => {
    const sid = `ps-${'a'.repeat(300)}`;
    const browser = await signIn(sid);
    const answer = await logout({ sub: hostile.account.sub, sid });
    assert.equal(answer.status, 200, answer.body);
    assert.equal((await check(front, browser)).status, 401);
  });

  test('sub and sid end only that subject\'s sessions of the provider session, even if another subject shares the sid', async () => {
    const own = hostile.account.sub;
    try {
      hostile.account.sub = 'sid-suite-other';
      const other = await signIn('ps-shared');
      hostile.account.sub = own;
      const mine = await signIn('ps-shared');
      const answer = await logout({ sub: own, sid: 'ps-shared' });
      assert.equal(answer.status, 200, answer.body);
      assert.equal((await check(front, mine)).status, 401);
      assert.equal((await check(front, other)).status, 202, "another subject's session lives on");
    } finally {
      hostile.account.sub = own;
    }
  });

  test('a logout that lands while a login of that provider session completes ends the login too', async () => {
    // The person signs out at the provider while gatehouse is still redeeming the code: the session it then
    // saves belongs to a provider session that has ended.
    const seen: { logout?: RawResponse } = {};
    hostile.tokenScript = async (request, idp) => {
      if (request.grantType === 'authorization_code') seen.logout = await logout({ sub: hostile.account.sub, sid: 'ps-racing' });
      return idp.honestReply(request);
    };
    try {
      hostile.account.claims = { sid: 'ps-racing' };
      const browser = front.browser();
      const { response } = await browser.navigate(`${APP_ORIGIN}/dashboard`);
      assert.equal(seen.logout?.status, 200, 'the logout token was accepted');
      assert.equal(response.status, 403, 'the login is refused');
      assert.match(response.body, /You were signed out/);
      assert.equal((await check(front, browser)).status, 401, 'no session of an ended provider session');
      // A login after the logout, in a new provider session, works.
      const later = await signIn('ps-after-race');
      assert.equal((await check(front, later)).status, 202);
    } finally {
      hostile.tokenScript = undefined;
    }
  });

  test('sub alone ends every session of the person', async () => {
    const first = await signIn('ps-1');
    const second = await signIn();
    const ended = await logout({ sub: hostile.account.sub });
    assert.equal(ended.status, 200, ended.body);
    assert.equal((await check(front, first)).status, 401);
    assert.equal((await check(front, second)).status, 401);
  });
});

test('back-channel logout needs the Redis store: the cookie store is a configuration error naming the fix', () => {
  assert.throws(
    () => loadConfig({ env: { ...baseEnv({ issuer: 'https://idp.example.com', clientId: 'gatehouse', clientSecret: 'secret' }), GATEHOUSE_PROVIDER_BACKCHANNEL_LOGOUT: 'true' } }),
    (error: unknown) =>
      error instanceof ConfigError && error.problems.some((problem) => problem.code === 'ERR_CONFIG_BACKCHANNEL_LOGOUT_STORE' && problem.path === 'provider.backchannelLogout' && /session\.store: redis/.test(problem.fix)),
  );
});
