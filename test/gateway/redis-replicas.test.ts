/**
 * Two gatehouse replicas sharing one real redis-server, in front of the real development provider: a
 * session made on one is seen by the other, a sign-out or a revocation on one ends it everywhere, exactly
 * one replica refreshes a session however many checks race for it, and a Redis outage (killed, restarted
 * empty, or hung) fails closed with 503, never a 2xx and never a silent logout, and heals by itself.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevProvider } from '../../src/devidp/index.js';
import { createRedisClient, createRedisStore, parseCookies, sessionBinding, type RedisClient, type RedisSessionStore, type Session } from '../../src/session/index.js';
import { NAVIGATION_HEADERS, isDeletion, parseSetCookie, type Browser, type RawResponse } from '../support/http-client.js';
import { API_HEADERS, APP_ORIGIN, COOKIE_NAME, COOKIE_SECRET, cookieHeader, identityHeadersOf, login, setCookiesNamed, startGatehouse, startTestProvider, type Gatehouse } from '../support/gatehouse-fixture.js';
import { redisConfig, startRedis, waitUntil, type StandaloneRedis } from '../support/redis.js';
import { BIN, ensureBuilt } from '../e2e/support/build.js';

const TICKET = /^r1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;

let redis: StandaloneRedis;
let idp: DevProvider;
let replicaA: Gatehouse;
let replicaB: Gatehouse;
/** A cookie-store gatehouse on the same provider: it must not care about Redis at all. */
let cookieOnly: Gatehouse;
/** Reads sessions straight from Redis, as the replicas' deployment (to see the tokens the tests need). */
let inspectorClient: RedisClient;
let inspector: RedisSessionStore;
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-replicas-'));
let configFile: string;
/** Token-endpoint answers of the provider, by grant type. */
const grants = { success: new Map<string, number>(), error: new Map<string, number>() };


const grantTypeOf = (value: unknown): string => (typeof value === 'string' ? value : '');

function grantCount(kind: 'success' | 'error', type: string): number {
  return grants[kind].get(type) ?? 0;
}

before(async () => {
  await ensureBuilt();
  redis = await startRedis();
  idp = await startTestProvider();
  idp.provider.on('grant.success', (ctx) => {
    const type = grantTypeOf(ctx.oidc.params?.grant_type);
    grants.success.set(type, grantCount('success', type) + 1);
  });
  idp.provider.on('grant.error', (ctx) => {
    const type = grantTypeOf(ctx.oidc.params?.grant_type);
    grants.error.set(type, grantCount('error', type) + 1);
  });
  const env = {
    GATEHOUSE_SESSION_STORE: 'redis',
    GATEHOUSE_SESSION_REDIS_URL: redis.url,
    GATEHOUSE_COOKIE_REFRESH: '1m',
    GATEHOUSE_BEARER_PROVIDER: 'true',
    GATEHOUSE_IDENTITY_HEADERS_AUTHORIZATION: 'true',
  };
  replicaA = await startGatehouse({ devProvider: idp, env });
  replicaB = await startGatehouse({ devProvider: idp, env });
  cookieOnly = await startGatehouse({ devProvider: idp });
  inspectorClient = createRedisClient(redisConfig({ url: redis.url }), () => undefined);
  inspector = createRedisStore({ client: inspectorClient, cookieName: COOKIE_NAME, keyPrefix: 'gatehouse:', binding: sessionBinding(idp.issuer, idp.clientId), now: Date.now });
  await waitUntil('the inspector to connect', () => inspectorClient.status === 'ready', 5000);
  configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(
    configFile,
    [
      'provider:',
      `  issuer: ${JSON.stringify(idp.issuer)}`,
      `  clientId: ${JSON.stringify(idp.clientId)}`,
      `  clientSecret: ${JSON.stringify(idp.clientSecret)}`,
      'cookie:',
      `  secrets: [${JSON.stringify(COOKIE_SECRET)}]`,
      'authorization:',
      '  emailDomains: [homelab.example.com]',
      'session:',
      '  store: redis',
      '  redis:',
      `    url: ${JSON.stringify(redis.url)}`,
      'bearer:',
      '  provider: true',
      '',
    ].join('\n'),
  );
});

after(async () => {
  // Each step on its own: one failure must not leave a process running.
  const steps: (() => Promise<unknown>)[] = [
    () => replicaA.close(),
    () => replicaB.close(),
    () => cookieOnly.close(),
    () => inspector.close(),
    () => idp.close(),
    () => redis.stop(),
  ];
  for (const step of steps) {
    try {
      await step();
    } catch {
      // Not started (a failed before), or already closed.
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** `Cookie` header of the browser's session, for a request to either replica. */
function cookieOf(browser: Browser): string {
  const header = cookieHeader(browser);
  assert.match(header, new RegExp(`${COOKIE_NAME}=r1\\.`), 'the browser holds a Redis ticket');
  return header;
}

/** A forward-auth check on a replica, as an API client or as a navigation. */
function check(replica: Gatehouse, cookie: string, kind: 'api' | 'navigation' | 'auth' = 'api', path = '/dashboard'): Promise<RawResponse> {
  if (kind === 'auth') return replica.request('/oauth2/auth', { headers: { cookie, 'x-forwarded-uri': path, ...API_HEADERS } });
  return replica.request(path, { headers: { ...(kind === 'api' ? API_HEADERS : NAVIGATION_HEADERS), cookie } });
}

/** The session a cookie header points at, read from Redis. */
async function sessionOf(cookie: string): Promise<Session | undefined> {
  const loaded = await inspector.load(parseCookies(cookie), Math.floor(Date.now() / 1000));
  return loaded.kind === 'session' ? loaded.session : undefined;
}

/** No answer deleted the browser's session cookie. */
function assertCookieKept(response: RawResponse, label: string): void {
  const deleted = response.setCookies.map(parseSetCookie).filter((cookie) => cookie.name.startsWith(COOKIE_NAME) && !cookie.name.includes('_tx_') && isDeletion(cookie));
  assert.deepEqual(deleted, [], `${label}: the session cookie was deleted (a silent logout)`);
}

function assertDenied(response: RawResponse, label: string): void {
  assert.ok(response.status === 401 || response.status === 302, `${label}: expected 401 or 302, got ${response.status} (${String(response.headers['x-gatehouse-reason'])})`);
  assert.deepEqual(identityHeadersOf(response), {}, `${label}: no identity headers`);
}

async function loginOn(replica: Gatehouse, email: string, groups = ''): Promise<{ browser: Browser; cookie: string; bearer: string | undefined }> {
  const browser = replica.browser();
  const { final } = await login(browser, { email, groups });
  assert.equal(final.status, 202, `login of ${email}: ${final.status} ${final.body.slice(0, 200)}`);
  const cookie = cookieOf(browser);
  assert.match(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`) ?? '', TICKET);
  return { browser, cookie, bearer: typeof final.headers.authorization === 'string' ? final.headers.authorization : undefined };
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, '--config', configFile], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

const logCount = (replica: Gatehouse, message: string) => replica.logs.filter((line) => line.includes(`"msg":"${message}"`)).length;

describe('two replicas, one Redis', () => {
  test("token revoke --profile provider: the provider's own token, used as a bearer token, is refused on both replicas; unrevoke lets it pass", async () => {
    const { bearer } = await loginOn(replicaA, 'token-owner@homelab.example.com');
    assert.ok(bearer?.startsWith('Bearer ') === true, 'the ID token is forwarded, to use as a bearer token');
    const sub = (JSON.parse(Buffer.from(bearer.slice(7).split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub: string }).sub;
    const status = async (replica: Gatehouse) => (await replica.request('/dashboard', { headers: { ...API_HEADERS, authorization: bearer } })).status;
    assert.equal(await status(replicaA), 202);
    assert.equal(await status(replicaB), 202);
    const revoked = await cli('token', 'revoke', '--sub', sub, '--profile', 'provider');
    assert.equal(revoked.code, 0, revoked.stderr);
    await waitUntil('both replicas to refuse the provider token', async () => (await status(replicaA)) === 401 && (await status(replicaB)) === 401, 5000);
    const refused = await replicaB.request('/dashboard', { headers: { ...API_HEADERS, authorization: bearer } });
    assert.equal(refused.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="token revoked"');
    assert.match((await cli('token', 'revoked', '--profile', 'provider')).stdout, new RegExp(`^provider {2}sub {2}${sub.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.equal((await cli('token', 'unrevoke', '--sub', sub, '--profile', 'provider')).code, 0);
    await waitUntil('both replicas to accept it again', async () => (await status(replicaA)) === 202 && (await status(replicaB)) === 202, 5000);
  });

  test('a login on replica A is a session on replica B (202 with the identity)', async () => {
    const { cookie } = await loginOn(replicaA, 'shared@homelab.example.com');
    for (const kind of ['api', 'navigation', 'auth'] as const) {
      const answer = await check(replicaB, cookie, kind);
      assert.equal(answer.status, 202, `${kind} on B: ${answer.status} ${String(answer.headers['x-gatehouse-reason'])}`);
      assert.equal(answer.headers['x-auth-request-email'], 'shared@homelab.example.com');
    }
    assert.equal((await check(replicaA, cookie)).status, 202);
  });

  test('SESS-09: a sign-out on B ends the session on A too (no 202 with the old cookie)', async () => {
    const { cookie } = await loginOn(replicaA, 'leaver@homelab.example.com');
    assert.equal((await check(replicaA, cookie)).status, 202);
    const out = await replicaB.request('/oauth2/sign_out', { headers: { ...NAVIGATION_HEADERS, cookie } });
    assert.equal(out.status, 302, `sign-out: ${out.status}`);
    assert.ok(out.setCookies.map(parseSetCookie).some((set) => set.name === COOKIE_NAME && isDeletion(set)), 'the sign-out clears the cookie');
    // The browser replays the old cookie (a copy, an attacker, a stale tab): both replicas refuse it.
    assertDenied(await check(replicaA, cookie, 'api'), 'API check on A');
    assertDenied(await check(replicaA, cookie, 'navigation'), 'navigation on A');
    assertDenied(await check(replicaB, cookie, 'api'), 'API check on B');
    assert.equal((await check(replicaA, cookie, 'auth')).status, 401);
    assert.equal(await sessionOf(cookie), undefined, 'the Redis entry is gone');
  });

  test('sessions list shows every session of a user (no token), sessions revoke ends them on both replicas', async () => {
    const email = 'revoked@homelab.example.com';
    const onA = await loginOn(replicaA, email);
    const onB = await loginOn(replicaB, email);
    const bystander = await loginOn(replicaB, 'bystander@homelab.example.com');
    assert.notEqual(onA.cookie, onB.cookie);
    for (const { cookie } of [onA, onB]) for (const replica of [replicaA, replicaB]) assert.equal((await check(replica, cookie)).status, 202);

    const listed = await cli('sessions', 'list', '--email', email);
    assert.equal(listed.code, 0, `sessions list: ${listed.stderr}`);
    const lines = listed.stdout.split('\n').filter((line) => line.includes(email));
    assert.equal(lines.length, 2, `two sessions listed:\n${listed.stdout}`);
    const secrets: string[] = [];
    for (const { cookie } of [onA, onB]) {
      const session = await sessionOf(cookie);
      assert.ok(session?.refreshToken !== undefined && session.idToken !== undefined, 'the sessions carry tokens');
      secrets.push(session.refreshToken, session.idToken, session.idToken.split('.')[2]!);
      const ticket = /r1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})/.exec(cookie)!;
      secrets.push(ticket[2]!, ticket[0]);
    }
    for (const secret of secrets) assert.ok(!listed.stdout.includes(secret) && !listed.stderr.includes(secret), `sessions list printed a token or ticket (${secret.slice(0, 10)}…)`);
    const bySub = await cli('sessions', 'list', '--sub', (await sessionOf(onA.cookie))!.identity.sub);
    assert.equal(bySub.code, 0, bySub.stderr);
    assert.equal(bySub.stdout.split('\n').filter((line) => line.includes(email)).length, 2, `by subject:\n${bySub.stdout}`);

    const revoked = await cli('sessions', 'revoke', '--email', email);
    assert.equal(revoked.code, 0, `sessions revoke: ${revoked.stderr}`);
    assert.match(revoked.stdout, /revoked 2 sessions/);
    for (const { cookie } of [onA, onB]) {
      for (const replica of [replicaA, replicaB]) assertDenied(await check(replica, cookie), `revoked session on ${replica === replicaA ? 'A' : 'B'}`);
    }
    assert.equal((await check(replicaA, bystander.cookie)).status, 202, "another user's session is untouched");
    const empty = await cli('sessions', 'list', '--email', email);
    assert.equal(empty.code, 0);
    assert.match(empty.stdout, /no sessions/);
  });

  test('the refresh race: 50 concurrent API checks across A and B, one refresh at the provider, every check 2xx', async (t) => {
    const { cookie } = await loginOn(replicaA, 'racer@homelab.example.com');
    const first = await sessionOf(cookie);
    assert.ok(first?.refreshToken !== undefined, 'the provider issued a refresh token');
    const refreshesBefore = grantCount('success', 'refresh_token');
    const errorsBefore = grantCount('error', 'refresh_token');
    const logsBeforeA = logCount(replicaA, 'session refreshed');
    const logsBefore = logsBeforeA + logCount(replicaB, 'session refreshed');
    try {
      // Two minutes later on both replicas' clocks: with cookie.refresh = 1m a refresh is due.
      replicaA.clockOffsetMs = 2 * 60_000;
      replicaB.clockOffsetMs = 2 * 60_000;
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 50 }, (_, index) => check(index % 2 === 0 ? replicaA : replicaB, cookie, 'api', `/api/item/${index}`)));
      t.diagnostic(`50 concurrent checks answered in ${Date.now() - started} ms`);
      const statuses = answers.map((answer) => answer.status);
      assert.ok(
        statuses.every((status) => status >= 200 && status < 300),
        `every check is 2xx: ${JSON.stringify(statuses)} ${JSON.stringify(answers.filter((answer) => answer.status >= 300).map((answer) => answer.headers['x-gatehouse-reason']))}`,
      );
      for (const [index, answer] of answers.entries()) {
        assert.equal(answer.headers['x-auth-request-email'], 'racer@homelab.example.com');
        assertCookieKept(answer, `check ${index}`);
        assert.deepEqual(setCookiesNamed(answer, COOKIE_NAME), [], `check ${index}: the refresh keeps the ticket, no new cookie`);
      }
      // A check may answer before the refresh finishes (it goes on in the background): wait for it to land
      // in Redis, then give a duplicate every chance to show up before counting.
      await waitUntil('the refreshed session in Redis', async () => ((await sessionOf(cookie))?.refreshedAt ?? 0) > first.refreshedAt, 5000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      t.diagnostic(`refreshed by replica ${logCount(replicaA, 'session refreshed') > logsBeforeA ? 'A' : 'B'}`);
      assert.equal(grantCount('success', 'refresh_token') - refreshesBefore, 1, 'exactly one refresh_token grant at the provider');
      assert.equal(grantCount('error', 'refresh_token') - errorsBefore, 0, 'no refused refresh (a reused refresh token)');
      assert.equal(logCount(replicaA, 'session refreshed') + logCount(replicaB, 'session refreshed') - logsBefore, 1, "one 'session refreshed' across both replicas");
      const second = await sessionOf(cookie);
      assert.ok(second?.refreshToken !== undefined, 'the refreshed session is in Redis under the same ticket, with a refresh token');
      const after = await check(replicaB, cookie);
      assert.equal(after.status, 202);
    } finally {
      replicaA.clockOffsetMs = 0;
      replicaB.clockOffsetMs = 0;
    }
  });

  test('SESS-14 across replicas: every later refresh of a Redis session reaches the provider and re-reads the groups, on either replica', async (t) => {
    const email = 'rotating@homelab.example.com';
    const { cookie } = await loginOn(replicaA, email, 'admins');
    assert.equal((await check(replicaB, cookie)).headers['x-auth-request-groups'], 'admins');
    const base = grantCount('success', 'refresh_token');
    const errorsBefore = grantCount('error', 'refresh_token');
    // Each step: the provider changes the user's groups, then, one refresh interval later on both clocks,
    // an API check on one replica triggers the refresh; both replicas then see the new groups.
    const steps = [
      { on: replicaA, name: 'A', offsetMs: 2 * 60_000, groups: 'family' },
      { on: replicaB, name: 'B', offsetMs: 4 * 60_000 + 5000, groups: 'ops' },
      { on: replicaA, name: 'A', offsetMs: 6 * 60_000 + 10_000, groups: 'staff' },
      { on: replicaB, name: 'B', offsetMs: 8 * 60_000 + 15_000, groups: 'admins' },
    ];
    try {
      for (const [index, step] of steps.entries()) {
        replicaA.clockOffsetMs = 0;
        replicaB.clockOffsetMs = 0;
        // The same account signs in elsewhere with other groups: the provider now reports those.
        const elsewhere = await login(cookieOnly.browser(), { email, groups: step.groups });
        assert.equal(elsewhere.final.status, 202);
        replicaA.clockOffsetMs = step.offsetMs;
        replicaB.clockOffsetMs = step.offsetMs;
        const trigger = await check(step.on, cookie);
        assert.equal(trigger.status, 202, `step ${index + 1} on ${step.name}: ${trigger.status} ${String(trigger.headers['x-gatehouse-reason'])}`);
        // While the refresh runs the check may answer with the session as Redis holds it, or the refreshed
        // one; never with an identity older than what Redis holds.
        const previous = index === 0 ? 'admins' : steps[index - 1]!.groups;
        const answered = String(trigger.headers['x-auth-request-groups']);
        assert.ok(
          answered === previous || answered === step.groups,
          `step ${index + 1}: replica ${step.name} answered with groups '${answered}', but Redis holds '${previous}' and the provider says '${step.groups}' (a stale identity from the replica's memory)`,
        );
        try {
          await waitUntil(`refresh ${index + 1} (on ${step.name}) to reach the provider`, () => grantCount('success', 'refresh_token') - base >= index + 1, 3000);
        } catch {
          const stored = await sessionOf(cookie);
          const nowThere = Math.floor((Date.now() + step.offsetMs) / 1000);
          assert.fail(
            `step ${index + 1}: replica ${step.name} answered ${trigger.status} but never refreshed a due session: refresh_token grants ${grantCount('success', 'refresh_token') - base}, expected ${index + 1}; the session in Redis was last refreshed ${nowThere - (stored?.refreshedAt ?? 0)} s before ${step.name}'s clock (cookie.refresh is 60 s)`,
          );
        }
        for (const replica of [replicaA, replicaB]) {
          const answer = await check(replica, cookie);
          assert.equal(answer.status, 202);
          assert.equal(answer.headers['x-auth-request-groups'], step.groups, `step ${index + 1}: the new groups on ${replica === replicaA ? 'A' : 'B'}`);
        }
        t.diagnostic(`step ${index + 1}: refreshed on ${step.name}, groups now ${step.groups} on both`);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(grantCount('success', 'refresh_token') - base, steps.length, 'one refresh per step, no more');
      assert.equal(grantCount('error', 'refresh_token') - errorsBefore, 0);
    } finally {
      replicaA.clockOffsetMs = 0;
      replicaB.clockOffsetMs = 0;
    }
  });

  test('SESS-11 slow Redis: a hung server (SIGSTOP) answers 503 within about the command timeout, then recovers', async (t) => {
    const { cookie } = await loginOn(replicaA, 'patient@homelab.example.com');
    redis.pause();
    try {
      const started = Date.now();
      const answer = await check(replicaB, cookie, 'api');
      const took = Date.now() - started;
      t.diagnostic(`503 after ${took} ms`);
      assert.equal(answer.status, 503, `a hung Redis: ${answer.status}`);
      assert.equal(answer.headers['x-gatehouse-reason'], 'session-store-unavailable');
      assertCookieKept(answer, 'hung Redis');
      assert.ok(took < 2500, `answered after ${took} ms; the command timeout is 1 s and a proxy gives up at 5 s or so`);
      const navigation = await check(replicaA, cookie, 'navigation');
      assert.equal(navigation.status, 503);
      assertCookieKept(navigation, 'hung Redis, navigation');
      const readyStarted = Date.now();
      const ready = await replicaA.request('/ready', { proxied: false });
      assert.equal(ready.status, 503);
      assert.match(ready.body, /redis/i);
      assert.ok(Date.now() - readyStarted < 2500, `/ready took ${Date.now() - readyStarted} ms`);
    } finally {
      redis.resume();
    }
    const healed = await waitUntil('checks to pass again after SIGCONT', async () => (await check(replicaB, cookie)).status === 202, 5000, 100);
    t.diagnostic(`healed ${healed} ms after SIGCONT`);
    assert.equal((await replicaA.request('/ready', { proxied: false })).status, 200);
  });

  test('SESS-11 Redis killed: 503 and a log line, never 2xx, never a logout; bearer and cookie-store keep working; a restart heals without gatehouse restarting', async (t) => {
    const { browser, cookie, bearer } = await loginOn(replicaA, 'outage@homelab.example.com');
    assert.ok(bearer?.startsWith('Bearer ') === true, 'the ID token is forwarded, to use as a bearer token');
    const cookieBrowser = cookieOnly.browser();
    const cookieLogin = await login(cookieBrowser, { email: 'cookie@homelab.example.com' });
    assert.equal(cookieLogin.final.status, 202);
    const unavailableBefore = logCount(replicaA, 'session store unavailable');

    await redis.kill();
    const killedAt = Date.now();
    for (const replica of [replicaA, replicaB]) {
      for (const kind of ['api', 'navigation', 'auth'] as const) {
        const answer = await check(replica, cookie, kind);
        assert.equal(answer.status, 503, `${kind} on ${replica === replicaA ? 'A' : 'B'} with Redis down: ${answer.status}`);
        assert.equal(answer.headers['x-gatehouse-reason'], 'session-store-unavailable');
        assert.deepEqual(identityHeadersOf(answer), {});
        assertCookieKept(answer, `${kind} with Redis down`);
      }
    }
    // The browser itself, navigating: it keeps its cookie.
    const page = await browser.request(`${APP_ORIGIN}/dashboard`, { headers: NAVIGATION_HEADERS });
    assert.equal(page.status, 503);
    assert.match(browser.cookie(COOKIE_NAME, `${APP_ORIGIN}/`) ?? '', TICKET, 'the browser still holds its ticket');
    // The line is rate-limited (one every 10 seconds), so the Redis pause just before may have said it.
    assert.ok(logCount(replicaA, 'session store unavailable') > 0, 'a clear log line on A');
    assert.ok(logCount(replicaA, 'session store unavailable') - unavailableBefore <= 1, 'at most one line for the six failed checks');
    const logLine = replicaA.logs.filter((line) => line.includes('"msg":"session store unavailable"')).at(-1)!;
    const parsed = JSON.parse(logLine) as { level: unknown; err: unknown };
    assert.equal(parsed.level, 'error', `logged as an error: ${logLine}`);
    assert.match(String(parsed.err), /Redis/, 'the line says what is down');

    const ready = await replicaA.request('/ready', { proxied: false });
    assert.equal(ready.status, 503);
    assert.match(ready.body, /session store: redis/i);
    assert.equal((await replicaA.request('/ping', { proxied: false })).status, 200, 'liveness is not readiness');

    // What does not need Redis keeps working: a bearer token on the Redis replicas, a cookie-store gatehouse.
    const withBearer = await replicaA.request('/dashboard', { headers: { ...API_HEADERS, authorization: bearer } });
    assert.equal(withBearer.status, 202, `bearer during the outage: ${withBearer.status} ${String(withBearer.headers['x-gatehouse-reason'])}`);
    assert.equal(withBearer.headers['x-auth-request-email'], 'outage@homelab.example.com');
    const cookieCheck = await cookieBrowser.request(`${APP_ORIGIN}/dashboard`, { headers: API_HEADERS });
    assert.equal(cookieCheck.status, 202, 'the cookie-store gatehouse does not care');

    // Down for a moment (the client backs off meanwhile), then back without its data.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await redis.restart();
    const restartedAt = Date.now();
    const reconnectA = await waitUntil('replica A to be ready again', async () => (await replicaA.request('/ready', { proxied: false })).status === 200, 12_000, 100);
    await waitUntil('replica B to be ready again', async () => (await replicaB.request('/ready', { proxied: false })).status === 200, 12_000, 100);
    t.diagnostic(`Redis down ${restartedAt - killedAt} ms; ready again ${reconnectA} ms (A) / ${Date.now() - restartedAt} ms (B) after the restart`);
    assert.ok(logCount(replicaA, 'redis connection error') >= 1, 'the connection error is logged');
    assert.ok(logCount(replicaA, 'redis connection error') <= 3, 'connection errors are rate-limited, not a flood');

    // The data is gone: the old cookie asks for a new login, nothing crashes.
    for (const replica of [replicaA, replicaB]) {
      const api = await check(replica, cookie, 'api');
      assert.equal(api.status, 401, `old cookie after the restart: ${api.status}`);
      assert.equal(api.headers['x-gatehouse-reason'], 'session-not-found');
      const navigation = await check(replica, cookie, 'navigation');
      assert.equal(navigation.status, 302);
      assert.match(navigation.headers.location ?? '', /\/oauth2\/(start|sign_in)\?/);
    }
    const relogin = await loginOn(replicaA, 'outage@homelab.example.com');
    assert.equal((await check(replicaB, relogin.cookie)).status, 202, 'a new login works on both replicas');
  });
});
