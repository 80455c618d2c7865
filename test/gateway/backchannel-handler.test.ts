/**
 * The back-channel logout handler (src/gateway/backchannel.ts) on its own, with a key set served on
 * loopback and a clock and replay store of the test's: the edges of the specification that the end-to-end
 * test (backchannel-logout.test.ts, real provider and Redis) cannot reach, such as the replay window at
 * its last second and a store that fails half-way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { createBackchannelLogout, LOGOUT_EVENT, replayWindowSeconds, type BackchannelDeps } from '../../src/gateway/backchannel.js';

const ISSUER = 'https://idp.test';
const CLIENT = 'gatehouse';
const FORM = 'application/x-www-form-urlencoded';
let server: Server;
let jwksUri = '';
let sign: (claims: JWTPayload) => Promise<string>;

before(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  server = createServer((_, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'logout+jwt' }).sign(privateKey);
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A Redis SET NX EX stand-in, expiring on the same clock as the handler; `down` makes it throw. */
function handler(clock: { ms: number }, endSessions: BackchannelDeps['endSessions'] = () => Promise.resolve(1), store = { down: false }) {
  const seen = new Map<string, number>();
  return createBackchannelLogout({
    issuer: ISSUER,
    clientId: CLIENT,
    jwksUri: () => jwksUri,
    ready: () => Promise.resolve(),
    endSessions,
    firstSeen: (key, ttlSeconds) => {
      if (store.down) return Promise.reject(new Error('connection refused'));
      const until = seen.get(key);
      if (until !== undefined && until > clock.ms) return Promise.resolve(false);
      seen.set(key, clock.ms + ttlSeconds * 1000);
      return Promise.resolve(true);
    },
    forget: (key) => {
      seen.delete(key);
      return Promise.resolve();
    },
    timeoutMs: 2000,
    now: () => clock.ms,
    log: () => undefined,
  });
}

const claims = (iat: number, extra: Record<string, unknown> = {}): JWTPayload => ({ iss: ISSUER, aud: CLIENT, sub: 'alice', iat, exp: iat + 120, jti: `j-${Math.random()}`, events: { [LOGOUT_EVENT]: {} }, ...extra });
const form = (token: string) => new URLSearchParams({ logout_token: token }).toString();

test('a logout that failed half-way (the store failed after the jti was recorded) is a 400, and the provider may retry it', async () => {
  const clock = { ms: Date.now() };
  let calls = 0;
  const logout = handler(clock, () => {
    calls += 1;
    return calls === 1 ? Promise.reject(new Error('redis timed out')) : Promise.resolve(1);
  });
  const token = await sign(claims(Math.floor(clock.ms / 1000)));
  const first = await logout('POST', FORM, form(token));
  assert.equal(first.status, 400, 'never a 200 for sessions that were not ended');
  assert.match(first.body, /temporarily_unavailable/);
  assert.doesNotMatch(first.body, /redis timed out/, 'the store error stays in the log');
  const retry = await logout('POST', FORM, form(token));
  assert.equal(retry.status, 200, `the retry must end the sessions, got ${retry.status} ${retry.body}`);
  assert.equal(calls, 2, 'the sessions were ended on the retry');
});

test('a store that cannot be reached is a 400 that ends nothing (§2.8), never a 200 or a 5xx', async () => {
  const clock = { ms: Date.now() };
  let calls = 0;
  const logout = handler(
    clock,
    () => {
      calls += 1;
      return Promise.resolve(1);
    },
    { down: true },
  );
  const answer = await logout('POST', FORM, form(await sign(claims(Math.floor(clock.ms / 1000)))));
  assert.equal(answer.status, 400);
  assert.match(answer.body, /temporarily_unavailable/);
  assert.equal(calls, 0);
});

test('the jti is remembered for as long as any replica would accept the token (no replay at the window edge)', async () => {
  const T = Math.floor(Date.now() / 1000);
  const clock = { ms: T * 1000 + 500 };
  const logout = handler(clock);
  // iat 30 s ahead (inside the clock tolerance) and a late exp: iat + 600 s bounds the acceptance.
  const token = await sign(claims(T + 30, { exp: T + 3600 }));
  assert.equal((await logout('POST', FORM, form(token))).status, 200);
  clock.ms += 660_000;
  assert.equal((await logout('POST', FORM, form(token))).status, 400, 'replayed 660 s later');
  clock.ms += 29_000;
  assert.equal((await logout('POST', FORM, form(token))).status, 400, 'replayed at the last second the token is accepted');
  clock.ms += 2_000;
  const late = await logout('POST', FORM, form(token));
  assert.equal(late.status, 400, 'past the window the token itself is refused');
  assert.match(late.body, /expired/);
});

test('the replay window covers the tolerance twice (clock differences between replicas) and ends with the token', () => {
  assert.equal(replayWindowSeconds(1000, 1120, 1000), 120 + 60 + 1, 'a short exp bounds it');
  assert.equal(replayWindowSeconds(1030, 99_999, 1000), 630 + 60 + 1, 'else iat + 600 s');
  assert.equal(replayWindowSeconds(0, 10, 1000), 1, 'never zero or negative');
});

test('a logout token without exp is refused (§2.4 exp REQUIRED; §2.6 validate exp as for ID tokens)', async () => {
  const clock = { ms: Date.now() };
  const iat = Math.floor(clock.ms / 1000);
  const { exp: _, ...noExp } = claims(iat);
  const answer = await handler(clock)('POST', FORM, form(await sign(noExp)));
  assert.equal(answer.status, 400, answer.body);
});

test('the content type is exactly application/x-www-form-urlencoded, with parameters or in any case', async () => {
  const clock = { ms: Date.now() };
  const logout = handler(clock);
  const iat = Math.floor(clock.ms / 1000);
  assert.equal((await logout('POST', `${FORM}-not`, form(await sign(claims(iat))))).status, 400);
  assert.equal((await logout('POST', 'text/plain; x=application/x-www-form-urlencoded', form(await sign(claims(iat))))).status, 400);
  assert.equal((await logout('POST', 'Application/X-WWW-Form-URLEncoded; charset=UTF-8', form(await sign(claims(iat))))).status, 200);
});

test('a body over the limit is a 400 naming the limit (§2.8), not a 413', async () => {
  const answer = await handler({ ms: Date.now() })('POST', FORM, undefined);
  assert.equal(answer.status, 400);
  assert.match(answer.body, /larger than 16384 bytes/);
});
