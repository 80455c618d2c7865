/**
 * The Redis session store's failure modes and security against a real redis-server on a fixed loopback
 * port: what docs/redis.md promises about tickets, TTLs, sign-out and outages, checked against behaviour.
 * The store-level tests drive src/session/redis-store.ts directly, the gateway-level ones a whole gatehouse
 * in front of the development provider.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevProvider } from '../../src/devidp/index.js';
import { createRedisClient, type RedisClient } from '../../src/session/redis-client.js';
import { createRedisStore, type RedisSessionStore } from '../../src/session/redis-store.js';
import type { CookieAttributes, CookieJar } from '../../src/session/cookies.js';
import { applyCookies } from './support.js';
import { encodeSession, type Session } from '../../src/session/session.js';
import { NAVIGATION_HEADERS, isDeletion, parseSetCookie, type RawResponse } from '../support/http-client.js';
import { API_HEADERS, APP_ORIGIN, COOKIE_NAME, identityHeadersOf, login, loginUntilCallback, startGatehouse, startTestProvider, type Gatehouse } from '../support/gatehouse-fixture.js';
import { redisCli, redisConfig, sessionFor, waitUntil } from '../support/redis.js';

/** This file's own Redis port: no other test uses it. */
const PORT = 16547;
const URL_ = `redis://127.0.0.1:${PORT}`;
const PREFIX = 'gatehouse:';
const TICKET = /^r1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const ATTRIBUTES: CookieAttributes = { domain: '.homelab.example.com', path: '/', maxAge: 3600, secure: true, httpOnly: true, sameSite: 'lax' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-failure-'));
let server: ChildProcess | undefined;

/** Starts redis-server on PORT (no persistence: a restart loses the data) and waits until it answers. */
async function startServer(): Promise<void> {
  const fd = openSync(join(dir, 'redis.log'), 'a');
  try {
    server = spawn('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir, '--enable-debug-command', 'local'], { stdio: ['ignore', fd, fd], cwd: dir });
  } finally {
    closeSync(fd);
  }
  server.on('error', () => undefined);
  await waitUntil('redis-server to answer PING', async () => (await redisCli(PORT, 'PING')) === 'PONG', 10_000, 50);
}

/** Stops the server this file started, by its PID, and waits until it is gone. */
async function stopServer(): Promise<void> {
  const child = server;
  server = undefined;
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGKILL');
  await gone;
}

const cli = (...args: string[]) => redisCli(PORT, ...args);

/** Every key in Redis. */
async function allKeys(): Promise<string[]> {
  const out = await cli('--scan', '--pattern', '*');
  return out === '' ? [] : out.split('\n').sort();
}

/** Keys that would never expire, other than the documented deny-list keys. */
async function keysWithoutTtl(): Promise<string[]> {
  const missing: string[] = [];
  for (const key of await allKeys()) {
    if (key.includes('{denylist}')) continue;
    if (Number(await cli('TTL', key)) < 0) missing.push(key);
  }
  return missing;
}

const ticketIn = (jar: CookieJar, name = COOKIE_NAME): string => jar.get(name)?.[0] ?? '';

before(async () => {
  await startServer();
});

after(async () => {
  await stopServer();
  rmSync(dir, { recursive: true, force: true });
});

describe('the store, directly', () => {
  let client: RedisClient;
  const stores: RedisSessionStore[] = [];
  const makeStore = (options: { cookieName?: string; keyPrefix?: string; binding?: string; now?: () => number } = {}) => {
    const store = createRedisStore({ client, cookieName: options.cookieName ?? COOKIE_NAME, keyPrefix: options.keyPrefix ?? PREFIX, binding: options.binding ?? 'https://idp.homelab.example.com gatehouse', now: options.now ?? Date.now });
    stores.push(store);
    return store;
  };
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    await cli('FLUSHALL');
    client = createRedisClient(redisConfig({ url: URL_ }), () => undefined);
    await waitUntil('the client to connect', () => client.status === 'ready', 5000);
  });
  after(async () => {
    // One client under every store: closing the first quits it.
    await stores[0]?.close();
    client.disconnect();
  });

  test('a login writes the session, its meta and two index sets, every one with the session lifetime as TTL; checks do not extend it (absolute)', async () => {
    const store = makeStore();
    const session = sessionFor('ttl@homelab.example.com');
    const jar = applyCookies(await store.save(session, new Map(), ATTRIBUTES));
    const id = TICKET.exec(ticketIn(jar))?.[1] ?? '';
    const keys = await allKeys();
    assert.ok(keys.includes(`${PREFIX}{${id}}:session`) && keys.includes(`${PREFIX}{${id}}:meta`), keys.join(' '));
    assert.equal(keys.filter((key) => key.startsWith(`${PREFIX}email:`) || key.startsWith(`${PREFIX}sub:`)).length, 2);
    assert.deepEqual(await keysWithoutTtl(), []);
    for (const key of keys) {
      const ttl = Number(await cli('TTL', key));
      assert.ok(ttl > 3590 && ttl <= 3600, `${key}: TTL ${ttl}, expected the session's remaining hour`);
    }
    await sleep(1100);
    for (let index = 0; index < 5; index += 1) assert.equal((await store.load(jar, now())).kind, 'session');
    assert.ok(Number(await cli('TTL', `${PREFIX}{${id}}:session`)) < 3600, 'a check does not slide the expiry');
    assert.equal(await cli('GET', `${PREFIX}{${id}}:session`).then((value) => value.includes('ttl@')), false, 'nothing in clear');
  });

  test('the refresh lease carries a TTL of the provider timeout plus five seconds at most, and is released', async () => {
    const store = makeStore();
    const jar = applyCookies(await store.save(sessionFor('lease@homelab.example.com'), new Map(), ATTRIBUTES));
    const ticket = ticketIn(jar);
    const id = TICKET.exec(ticket)?.[1] ?? '';
    assert.equal(await store.lock(ticket, 10_000), true);
    const pttl = Number(await cli('PTTL', `${PREFIX}{${id}}:lock`));
    assert.ok(pttl > 0 && pttl <= 10_000, `lease PTTL ${pttl}`);
    await store.unlock(ticket);
    assert.equal(await cli('EXISTS', `${PREFIX}{${id}}:lock`), '0');
  });

  test('a ticket is bound to its key prefix: the same Redis under another prefix does not know it', async () => {
    const here = makeStore({ keyPrefix: 'deployment-a:' });
    const there = makeStore({ keyPrefix: 'deployment-b:' });
    const jar = applyCookies(await here.save(sessionFor('prefix@homelab.example.com'), new Map(), ATTRIBUTES));
    assert.equal((await here.load(jar, now())).kind, 'session');
    const elsewhere = await there.load(jar, now());
    assert.deepEqual(elsewhere, { kind: 'invalid', reason: 'session-not-found' });
  });

  test("a ticket is bound to its deployment's issuer and client id (same Redis, same prefix)", async () => {
    const here = makeStore({ binding: 'https://idp.homelab.example.com gatehouse' });
    const there = makeStore({ binding: 'https://idp.homelab.example.com another-client' });
    const jar = applyCookies(await here.save(sessionFor('binding@homelab.example.com'), new Map(), ATTRIBUTES));
    assert.equal((await there.load(jar, now())).kind, 'invalid');
  });

  test('a ticket is bound to its cookie name: moved to another cookie name it does not open (SESS-03)', async () => {
    // Two deployments on one Redis and prefix, one client id, different cookie names (for instance an
    // admin host with `_gatehouse_admin` and a public one with `_gatehouse`): the ticket of one must not be
    // a session of the other, as a sealed cookie is not.
    const publicSite = makeStore({ cookieName: '_gatehouse' });
    const adminSite = makeStore({ cookieName: '_gatehouse_admin' });
    const jar = applyCookies(await publicSite.save(sessionFor('moved@homelab.example.com'), new Map(), ATTRIBUTES), new Map());
    const moved: CookieJar = new Map([['_gatehouse_admin', [ticketIn(jar, '_gatehouse')]]]);
    const loaded = await adminSite.load(moved, now());
    assert.equal(loaded.kind, 'invalid', `a ticket issued under _gatehouse opened under _gatehouse_admin: ${loaded.kind}`);
  });

  test('a session saved before tickets were bound to the cookie name still opens, and its first refresh binds it', async () => {
    // What an earlier version wrote: the same cipher and associated data, the cookie name not sealed in.
    const binding = 'https://idp.homelab.example.com gatehouse';
    const publicSite = makeStore({ cookieName: '_gatehouse', binding });
    const adminSite = makeStore({ cookieName: '_gatehouse_admin', binding });
    const session = sessionFor('legacy@homelab.example.com');
    const id = randomBytes(16).toString('base64url');
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`gatehouse:redis:v1:${id}:${binding}`, 'utf8'));
    const body = Buffer.concat([cipher.update(encodeSession(session)), cipher.final()]);
    await cli('SET', `${PREFIX}{${id}}:session`, Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64'), 'EX', '3600');
    const ticket = `r1.${id}.${key.toString('base64url')}`;
    const jar: CookieJar = new Map([['_gatehouse', [ticket]]]);
    const loaded = await publicSite.load(jar, now());
    assert.deepEqual(loaded.kind === 'session' ? loaded.session : loaded, session, 'an upgrade signs nobody out');
    assert.equal((await adminSite.load(new Map([['_gatehouse_admin', [ticket]]]), now())).kind, 'session', 'bound as before: issuer, client id and prefix only');
    // Refreshed under its own cookie name: from then on it opens there only.
    assert.deepEqual(await publicSite.replace({ ...session, refreshToken: 'rotated' }, jar, ATTRIBUTES), []);
    const refreshed = await publicSite.load(jar, now());
    assert.equal(refreshed.kind === 'session' ? refreshed.session.refreshToken : refreshed.kind, 'rotated');
    assert.equal((await adminSite.load(new Map([['_gatehouse_admin', [ticket]]]), now())).kind, 'invalid');
  });

  test('only the canonical spelling of a ticket opens (one session, one cookie text)', async () => {
    const store = makeStore();
    const jar = applyCookies(await store.save(sessionFor('canonical@homelab.example.com'), new Map(), ATTRIBUTES));
    const ticket = ticketIn(jar);
    const [, id = '', key = ''] = TICKET.exec(ticket) ?? [];
    // The key is 43 base64url characters for 32 bytes: the last character carries two unused bits, so
    // three other spellings decode to the same key. The id's last character carries four.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respell = (text: string, bit: number) => text.slice(0, -1) + alphabet.charAt(alphabet.indexOf(text.charAt(text.length - 1)) ^ bit);
    const variants = [`r1.${id}.${respell(key, 1)}`, `r1.${id}.${respell(key, 2)}`, `r1.${respell(id, 1)}.${key}`, `r1.${respell(id, 8)}.${key}`];
    for (const variant of variants) {
      assert.notEqual(variant, ticket);
      const loaded = await store.load(new Map([[COOKIE_NAME, [variant]]]), now());
      assert.equal(loaded.kind, 'invalid', `a non-canonical spelling of the ticket opened the session: ${variant}`);
      assert.equal(await store.lock(variant, 1000), false, 'no lease either');
    }
    assert.equal((await store.load(jar, now())).kind, 'session');
  });

  test('a refresh that lands in the second of the login keeps the ticket (not a second session)', async () => {
    // A refresh in the login's second (an ID token that expires within 30 s of issue, or a replica whose
    // clock is a second behind) has the login's time as its refresh time: it is a refresh all the same.
    const store = makeStore();
    const login = sessionFor('same-second@homelab.example.com');
    const jar = applyCookies(await store.save(login, new Map(), ATTRIBUTES));
    const before = await allKeys();
    const refreshed: Session = { ...login, refreshedAt: login.createdAt, refreshToken: 'rotated' };
    const cookies = await store.replace(refreshed, jar, ATTRIBUTES);
    const loaded = await store.load(jar, now());
    assert.equal(loaded.kind === 'session' ? loaded.session.refreshToken : loaded.kind, 'rotated', "the browser's ticket still holds the spent refresh token");
    assert.deepEqual(cookies, [], `a refresh issued a new ticket: ${cookies.join(' | ')}`);
    assert.deepEqual(await allKeys(), before, 'a second session was written beside the first');
  });

  test('a login in the second of an earlier login of the same person, in the same browser, gets a ticket of its own', async () => {
    const store = makeStore();
    const first = sessionFor('twice@homelab.example.com');
    const firstJar = applyCookies(await store.save(first, new Map(), ATTRIBUTES));
    const second: Session = { ...first, refreshToken: 'second-login' };
    const secondJar = applyCookies(await store.save(second, firstJar, ATTRIBUTES), firstJar);
    assert.notEqual(ticketIn(secondJar), ticketIn(firstJar), 'a new ticket');
    const loadedFirst = await store.load(firstJar, now());
    const loadedSecond = await store.load(secondJar, now());
    assert.equal(loadedFirst.kind === 'session' ? loadedFirst.session.refreshToken : loadedFirst.kind, first.refreshToken, 'the earlier session is left as it was');
    assert.equal(loadedSecond.kind === 'session' ? loadedSecond.session.refreshToken : loadedSecond.kind, 'second-login');
  });

  test('clear deletes only what the presented ticket opens: the id with another key deletes nothing', async () => {
    const store = makeStore();
    const session = sessionFor('kept@homelab.example.com');
    const jar = applyCookies(await store.save(session, new Map(), ATTRIBUTES));
    const [, id = ''] = TICKET.exec(ticketIn(jar)) ?? [];
    const before = await allKeys();
    const forged: CookieJar = new Map([[COOKIE_NAME, [`r1.${id}.${randomBytes(32).toString('base64url')}`]]]);
    const cleared = await store.clear(forged, { ...ATTRIBUTES, maxAge: 0 });
    assert.ok(cleared.some((setCookie) => setCookie.startsWith(`${COOKIE_NAME}=;`) && /Max-Age=0/.test(setCookie)), "the browser's cookie is cleared all the same");
    // The same ticket moved to another cookie name does not open there either.
    await makeStore({ cookieName: '_gatehouse_admin' }).clear(new Map([['_gatehouse_admin', [ticketIn(jar)]]]), { ...ATTRIBUTES, maxAge: 0 });
    assert.deepEqual(await allKeys(), before, 'nothing was deleted in Redis');
    assert.equal((await store.load(jar, now())).kind, 'session');
  });

  test('clear with the cookie sent more than once deletes every presented ticket that opens, and only those', async () => {
    const store = makeStore();
    const mine = sessionFor('tossed-store@homelab.example.com');
    const other = sessionFor('bystander@homelab.example.com');
    const mineJar = applyCookies(await store.save(mine, new Map(), ATTRIBUTES));
    const otherJar = applyCookies(await store.save(other, new Map(), ATTRIBUTES));
    const [, otherId = ''] = TICKET.exec(ticketIn(otherJar)) ?? [];
    const forgedOther = `r1.${otherId}.${randomBytes(32).toString('base64url')}`;
    const jar: CookieJar = new Map([[COOKIE_NAME, ['tossed-by-a-sibling', ticketIn(mineJar), forgedOther]]]);
    assert.deepEqual(await store.load(jar, now()), { kind: 'invalid', reason: 'session-cookie-ambiguous' }, 'still refused as a session');
    await store.clear(jar, { ...ATTRIBUTES, maxAge: 0 });
    assert.deepEqual(await store.load(mineJar, now()), { kind: 'invalid', reason: 'session-not-found' }, 'the real session ended');
    assert.equal((await store.load(otherJar, now())).kind, 'session', 'a forged ticket beside it ended nothing');
    assert.deepEqual(await store.list({ sub: mine.identity.sub }), [], 'and it left the index sets');
  });

  test('tampered, truncated and foreign-shaped tickets are a clean "invalid", never a throw', async () => {
    const store = makeStore();
    const jar = applyCookies(await store.save(sessionFor('tamper@homelab.example.com'), new Map(), ATTRIBUTES));
    const ticket = ticketIn(jar);
    const [, id = '', key = ''] = TICKET.exec(ticket) ?? [];
    const variants = [ticket.slice(0, -1), `${ticket}A`, `r2.${id}.${key}`, `r1.${id}`, `r1.${id}.${randomBytes(32).toString('base64url')}`, `r1.${'A'.repeat(22)}.${key}`, `r1.{${id.slice(2)}}.${key}`, `r1.*.${key}`, '', 'r1..'];
    for (const value of variants) {
      const loaded = await store.load(new Map([[COOKIE_NAME, [value]]]), now());
      assert.notEqual(loaded.kind, 'session', `variant ${value.slice(0, 40)}`);
    }
  });
});

describe('a gatehouse on the Redis store', () => {
  let idp: DevProvider;
  let gatehouse: Gatehouse;
  const closers: (() => Promise<void>)[] = [];
  const env = { GATEHOUSE_SESSION_STORE: 'redis', GATEHOUSE_SESSION_REDIS_URL: URL_ };

  before(async () => {
    if (server === undefined) await startServer();
    await cli('FLUSHALL');
    idp = await startTestProvider();
    closers.push(() => idp.close());
    gatehouse = await startGatehouse({ devProvider: idp, env });
    closers.push(() => gatehouse.close());
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  const check = (cookie: string, kind: 'api' | 'navigation' | 'auth' = 'api'): Promise<RawResponse> => {
    if (kind === 'auth') return gatehouse.request('/oauth2/auth', { headers: { cookie, 'x-forwarded-uri': '/dashboard', ...API_HEADERS } });
    return gatehouse.request('/dashboard', { headers: { ...(kind === 'api' ? API_HEADERS : NAVIGATION_HEADERS), cookie } });
  };

  const signIn = async (email: string): Promise<{ ticket: string; cookie: string }> => {
    const browser = gatehouse.browser();
    const { final } = await login(browser, { email });
    assert.equal(final.status, 202, `login of ${email}: ${final.status} ${String(final.headers['x-gatehouse-reason'])} ${final.url.href} ${gatehouse.logs.filter((line) => line.includes('"level":"error"')).slice(-3).join(' ')}`);
    const ticket = browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`) ?? '';
    assert.match(ticket, TICKET);
    return { ticket, cookie: `${COOKIE_NAME}=${ticket}` };
  };

  const assertNoLeak = (answer: RawResponse, label: string) => {
    const text = `${answer.body} ${JSON.stringify(answer.headers)}`;
    assert.ok(!/ECONNREFUSED|ioredis|127\.0\.0\.1:16547|Command timed out|stack|at .*\.[jt]s:\d+/i.test(text), `${label}: internals in the answer: ${text.slice(0, 300)}`);
    assert.deepEqual(identityHeadersOf(answer), {}, `${label}: identity headers on a refusal`);
  };

  const cookieKept = (answer: RawResponse) => !answer.setCookies.map(parseSetCookie).some((cookie) => cookie.name === COOKIE_NAME && isDeletion(cookie));

  test('sign-out deletes the session, its meta and its index entries: a copied cookie is refused at once; nothing is left without a TTL', async () => {
    const { ticket, cookie } = await signIn('leaver@homelab.example.com');
    const id = TICKET.exec(ticket)?.[1] ?? '';
    assert.equal((await check(cookie)).status, 202);
    const out = await gatehouse.request('/oauth2/sign_out', { headers: { ...NAVIGATION_HEADERS, cookie } });
    assert.equal(out.status, 302);
    assert.equal((await check(cookie)).status, 401, 'the copied cookie still works after sign-out');
    const keys = await allKeys();
    assert.ok(!keys.some((key) => key.includes(id)), `keys of the signed-out session remain: ${keys.join(' ')}`);
    for (const key of keys.filter((name) => name.startsWith(`${PREFIX}email:`) || name.startsWith(`${PREFIX}sub:`))) {
      assert.equal(await cli('SISMEMBER', key, id), '0', `${key} still lists the signed-out session`);
    }
    assert.deepEqual(await keysWithoutTtl(), []);
  });

  test('each login gets a fresh ticket; a ticket the browser brought is never promoted (SESS-07)', async () => {
    const planted = `r1.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
    const browser = gatehouse.browser();
    browser.storeCookie(`${APP_ORIGIN}/`, `${COOKIE_NAME}=${planted}; Domain=.homelab.example.com; Path=/; Secure`);
    const { final } = await login(browser, { email: 'fixated@homelab.example.com' });
    assert.equal(final.status, 202);
    const ticket = browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`) ?? '';
    assert.match(ticket, TICKET);
    assert.notEqual(ticket, planted);
    assert.equal((await check(`${COOKIE_NAME}=${planted}`)).status, 401);
  });

  test('tampered and truncated tickets: 401 (or a redirect) with the cookie cleared, never 2xx or 5xx', async () => {
    const { ticket } = await signIn('garbage@homelab.example.com');
    const variants = [ticket.slice(0, -5), `${ticket}x`, ticket.replace('r1.', 'r0.'), `r1.${'A'.repeat(22)}.${'B'.repeat(43)}`, 'r1.*.*', `r1.{x}.${'A'.repeat(43)}`, '%00', ticket.split('.').slice(0, 2).join('.')];
    for (const value of variants) {
      for (const kind of ['api', 'navigation', 'auth'] as const) {
        const answer = await check(`${COOKIE_NAME}=${value}`, kind);
        assert.ok([401, 302].includes(answer.status), `${kind} ${value.slice(0, 30)}: ${answer.status}`);
        assertNoLeak(answer, `${kind} ${value.slice(0, 30)}`);
      }
    }
  });

  test('a forged ticket that only knows the session id does not end the real session', async () => {
    // The id is the Redis key name (visible to anything that can SCAN, such as a read-only monitoring
    // user); the key is the secret half. A check, a sign-in page or a sign-out presenting the id with a
    // wrong key proves nothing, so it deletes nothing.
    const { ticket, cookie } = await signIn('victim@homelab.example.com');
    const [, id = ''] = TICKET.exec(ticket) ?? [];
    const forged = `${COOKIE_NAME}=r1.${id}.${randomBytes(32).toString('base64url')}`;
    const refused = await check(forged);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['x-gatehouse-reason'], 'session-cookie-invalid');
    const victim = await check(cookie);
    assert.equal(victim.status, 202, `the victim was signed out by a request that did not hold the key: ${victim.status} ${String(victim.headers['x-gatehouse-reason'])}`);
  });

  test('sign-out with a second, tossed session cookie beside the real one still deletes the server session', async () => {
    // A sibling subdomain (or another deployment) can add a `_gatehouse` cookie of its own: the jar is then
    // ambiguous for a check, but sign-out still ends the session the real ticket opens, so a copy of it is
    // worthless.
    const { cookie } = await signIn('tossed@homelab.example.com');
    const out = await gatehouse.request('/oauth2/sign_out', { headers: { ...NAVIGATION_HEADERS, cookie: `${cookie}; ${COOKIE_NAME}=tossed-by-a-sibling` } });
    assert.equal(out.status, 302);
    const copied = await check(cookie);
    assert.equal(copied.status, 401, `the copied cookie still works after sign-out: ${copied.status}`);
  });

  test('failed and refused logins leave nothing in Redis', async () => {
    const before = await allKeys();
    for (let index = 0; index < 10; index += 1) {
      const answer = await gatehouse.request(`/oauth2/callback?state=forged-${index}&code=nothing`, { headers: NAVIGATION_HEADERS });
      assert.equal(answer.status, 403);
      const error = await gatehouse.request(`/oauth2/callback?state=x${index}&error=access_denied`, { headers: NAVIGATION_HEADERS });
      assert.equal(error.status, 403);
    }
    // A login the email rules refuse (another domain) redeems a code but stores nothing.
    const refused = await login(gatehouse.browser(), { email: 'outsider@elsewhere.example.org' });
    assert.equal(refused.callback.status, 403);
    assert.deepEqual(await allKeys(), before);
  });

  test('Redis slow (DEBUG SLEEP): checks and a login callback answer 503 within about the command timeout, the cookie is kept, /ready says so; it heals by itself', async (t) => {
    const { cookie } = await signIn('slow@homelab.example.com');
    const loginBrowser = gatehouse.browser();
    const callbackUrl = await loginUntilCallback(loginBrowser, { email: 'slow-login@homelab.example.com' });
    const sleeping = cli('DEBUG', 'SLEEP', '8');
    await sleep(100);
    try {
      const ready = await gatehouse.request('/ready', { proxied: false });
      assert.equal(ready.status, 503, '/ready while Redis does not answer');
      for (const kind of ['api', 'navigation', 'auth'] as const) {
        const started = Date.now();
        const answer = await check(cookie, kind);
        const took = Date.now() - started;
        t.diagnostic(`${kind}: ${answer.status} after ${took} ms`);
        assert.equal(answer.status, 503, `${kind} during DEBUG SLEEP: ${answer.status}`);
        assert.equal(answer.headers['x-gatehouse-reason'], 'session-store-unavailable');
        // The command timeout is 1 s; a proxy gives up at 5 s or so. Room for a busy machine, far below both
        // the 8 s sleep and a proxy's patience.
        assert.ok(took < 2500, `${kind} took ${took} ms`);
        assert.ok(cookieKept(answer), 'no silent logout');
        assertNoLeak(answer, kind);
      }
      const started = Date.now();
      const callback = await loginBrowser.request(callbackUrl, { headers: NAVIGATION_HEADERS });
      const took = Date.now() - started;
      t.diagnostic(`callback: ${callback.status} after ${took} ms`);
      assert.equal(callback.status, 503, `callback while Redis cannot store the session: ${callback.status}`);
      assert.equal(loginBrowser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`), undefined, 'no session cookie issued');
      assert.ok(took < 2500, `callback took ${took} ms`);
      assertNoLeak(callback, 'callback');
    } finally {
      await sleeping;
    }
    await waitUntil('checks to pass again', async () => (await check(cookie)).status === 202, 5000, 100);
    assert.equal((await gatehouse.request('/ready', { proxied: false })).status, 200);
    assert.deepEqual(await keysWithoutTtl(), []);
  });

  test('Redis killed mid-traffic and restarted empty: 503 while down, then the old cookie asks for a login, a new login works; no restart of gatehouse', async () => {
    const { cookie } = await signIn('restart@homelab.example.com');
    await stopServer();
    try {
      const linesBefore = gatehouse.logs.filter((line) => line.includes('"msg":"session store unavailable"')).length;
      const started = Date.now();
      for (const kind of ['api', 'navigation', 'auth', 'api', 'api', 'api', 'api', 'api', 'api', 'api'] as const) {
        const answer = await check(cookie, kind);
        assert.equal(answer.status, 503, `${kind}: ${answer.status}`);
        assert.ok(cookieKept(answer));
        assertNoLeak(answer, kind);
      }
      // One line says the store is down, then at most one every 10 seconds: not one per check.
      const lines = gatehouse.logs.filter((line) => line.includes('"msg":"session store unavailable"')).length - linesBefore;
      assert.ok(lines <= 1 + Math.floor((Date.now() - started) / 10_000), `${lines} log lines for 10 failed checks`);
      const out = await gatehouse.request('/oauth2/sign_out', { headers: { ...NAVIGATION_HEADERS, cookie } });
      assert.ok(out.status === 503, `sign-out with Redis down: ${out.status} (must not claim a sign-out it could not do)`);
      const ready = await gatehouse.request('/ready', { proxied: false });
      assert.equal(ready.status, 503);
      assert.match(ready.body, /session store/);
    } finally {
      await startServer();
    }
    await waitUntil('ready again', async () => (await gatehouse.request('/ready', { proxied: false })).status === 200, 12_000, 100);
    const api = await check(cookie);
    assert.equal(api.status, 401);
    assert.equal(api.headers['x-gatehouse-reason'], 'session-not-found');
    const again = await signIn('restart@homelab.example.com');
    assert.equal((await check(again.cookie)).status, 202);
  });
});

describe('a gatehouse started while Redis is down', () => {
  let idp: DevProvider;
  let gatehouse: Gatehouse;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    await stopServer();
    idp = await startTestProvider();
    closers.push(() => idp.close());
    gatehouse = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_SESSION_STORE: 'redis', GATEHOUSE_SESSION_REDIS_URL: URL_ }, waitForDiscovery: false });
    closers.push(() => gatehouse.close());
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  test('every ticket check answers 503 (never 2xx, never 5xx other than 503), /ready is 503 naming Redis; once Redis starts it recovers without a restart', async (t) => {
    const ticket = `r1.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
    for (const kind of ['api', 'navigation'] as const) {
      const answer = await gatehouse.request('/dashboard', { headers: { ...(kind === 'api' ? API_HEADERS : NAVIGATION_HEADERS), cookie: `${COOKIE_NAME}=${ticket}` } });
      assert.equal(answer.status, 503, `${kind}: ${answer.status}`);
      assert.equal(answer.headers['x-gatehouse-reason'], 'session-store-unavailable');
    }
    const auth = await gatehouse.request('/oauth2/auth', { headers: { ...API_HEADERS, cookie: `${COOKIE_NAME}=${ticket}`, 'x-forwarded-uri': '/' } });
    assert.equal(auth.status, 503);
    // Without a cookie there is nothing to read: a login is asked for.
    assert.equal((await gatehouse.request('/dashboard', { headers: API_HEADERS })).status, 401);
    const ready = await gatehouse.request('/ready', { proxied: false });
    assert.equal(ready.status, 503);
    assert.match(ready.body, /session store: redis/i);
    await startServer();
    const healed = await waitUntil('ready after Redis starts', async () => (await gatehouse.request('/ready', { proxied: false })).status === 200, 12_000, 100);
    t.diagnostic(`ready ${healed} ms after Redis started`);
    const { final } = await login(gatehouse.browser(), { email: 'late@homelab.example.com' });
    assert.equal(final.status, 202);
  });
});
