/**
 * jwt-middleware's `require` semantics (jwt-and-proxies.md A.5) and every other profile option that shapes
 * an answer: templates, freshness, headerMap, forwardToken, optional, unauthenticatedMethods, redirects,
 * sourceClaim, denyList and where the token is read from. Requirement semantics are checked on the
 * compiled profile; statuses, headers and redirects through a real gatehouse answering Traefik.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, type ProfileConfig } from '../../src/config/index.js';
import type { BearerProfile, ProfileResult, TemplateRequest } from '../../src/jwt/index.js';
import { baseEnv } from '../support/gatehouse-fixture.js';
import { profileFixture, REQUEST, signJws, startProfileGatehouse, type ProfileGatehouse } from './support.js';

const NOW = 1_800_000_000;
const ISS = 'https://devices.homelab.example.com';
const { privateKey, keys: KEYS, dir, token, profileOf } = profileFixture('test', NOW, ISS);

/** Checks `claims` against `require` and answers `pass` or the failing claim. */
async function outcome(profile: BearerProfile, claims: Record<string, unknown>, request: TemplateRequest & { ip: string } = REQUEST): Promise<string> {
  const result: ProfileResult = await profile.check(token(claims), request);
  if (result.kind === 'valid') return 'pass';
  if (result.kind === 'forbidden') return `forbidden:${/claim (\S+)/.exec(result.description)?.[1] ?? result.reason}`;
  return result.kind === 'invalid' ? `invalid:${result.description}` : result.kind;
}

async function table(require: Record<string, unknown>, rows: [Record<string, unknown>, string][], env: NodeJS.ProcessEnv = {}): Promise<void> {
  const profile = profileOf({ require }, env);
  for (const [claims, expected] of rows) assert.equal(await outcome(profile, claims), expected, `${JSON.stringify(require)} with ${JSON.stringify(claims)}`);
}

describe('require: the jwt-middleware semantics table', () => {
  test('a scalar must match; every listed claim must pass (AND); a missing claim fails', async () => {
    await table({ role: 'admin', tenant: 'home' }, [
      [{ role: 'admin', tenant: 'home' }, 'pass'],
      [{ role: 'user', tenant: 'home' }, 'forbidden:role'],
      [{ role: 'admin' }, 'forbidden:tenant'],
      [{ role: 'admin', tenant: null }, 'forbidden:tenant'],
      [{ role: 'Admin', tenant: 'home' }, 'forbidden:role'],
    ]);
  });

  test('a list means any of (OR); a list claim passes when one element does', async () => {
    await table({ role: ['admin', 'superuser'] }, [
      [{ role: 'superuser' }, 'pass'],
      [{ role: 'user' }, 'forbidden:role'],
      [{ role: ['user', 'admin'] }, 'pass'],
      [{ role: ['user', 'guest'] }, 'forbidden:role'],
      [{ role: [] }, 'forbidden:role'],
    ]);
  });

  test('nested maps apply to object claims, to any depth', async () => {
    await table({ authority: { 'app1.example.com': ['admin', 'superuser'] } }, [
      [{ authority: { 'app1.example.com': ['user', 'admin'] } }, 'pass'],
      [{ authority: { 'app1.example.com': ['user'] } }, 'forbidden:authority'],
      [{ authority: { 'app2.example.com': ['admin'] } }, 'forbidden:authority'],
      [{ authority: 'app1.example.com' }, 'forbidden:authority'],
      [{ authority: ['admin'] }, 'forbidden:authority'],
    ]);
    await table({ realm: { roles: { deep: { level: 'gold' } } } }, [
      [{ realm: { roles: { deep: { level: 'gold' } } } }, 'pass'],
      [{ realm: { roles: { deep: { level: 'silver' } } } }, 'forbidden:realm'],
      [{ realm: { roles: {} } }, 'forbidden:realm'],
    ]);
  });

  test('$and and $or combine, as in the README: role {$or: [{$and: [hr, power]}, admin]}', async () => {
    await table({ role: { $or: [{ $and: ['hr', 'power'] }, 'admin'] } }, [
      [{ role: ['hr', 'power'] }, 'pass'],
      [{ role: ['power', 'hr', 'x'] }, 'pass'],
      [{ role: ['hr'] }, 'forbidden:role'],
      [{ role: 'admin' }, 'pass'],
      [{ role: ['user'] }, 'forbidden:role'],
    ]);
  });

  test('an unknown $operator or an empty list is a configuration error', () => {
    assert.throws(() => profileOf({ require: { role: { $xor: ['a', 'b'] } } }), /unknown operator '\$xor'/);
    assert.throws(() => profileOf({ require: { role: { $and: [] } } }), /non-empty list/);
    assert.throws(() => profileOf({ require: { role: [] } }), /empty list/);
    assert.throws(() => profileOf({ require: { role: '{{.Host}}{{' } }), /unclosed/);
    assert.throws(() => profileOf({ require: { role: '{{.Host | printf}}' } }), /unsupported/);
    assert.throws(() => profileOf({ require: { role: '{{Split .Host}}' } }), /unknown template function 'Split'/);
    const file = join(dir, 'xor.yaml');
    writeFileSync(file, 'bearer:\n  profiles:\n    devices:\n      secret: a-hmac-secret-of-more-than-32-bytes-for-hs256\n      require:\n        role:\n          $xor: [a, b]\n');
    assert.throws(
      () => loadConfig({ file, env: baseEnv({ issuer: 'https://idp.example.com', clientId: 'gatehouse', clientSecret: 'secret' }) }),
      (error: unknown) => error instanceof ConfigError && error.problems.some((problem) => problem.code === 'ERR_CONFIG_BEARER_PROFILE_INVALID' && problem.message.includes('$xor')),
    );
  });

  test('wildcards live in the token: *.example.com satisfies app.example.com and example.com', async () => {
    await table({ aud: 'app.example.com' }, [
      [{ aud: '*.example.com' }, 'pass'],
      [{ aud: 'app.example.com' }, 'pass'],
      [{ aud: '*.other.com' }, 'forbidden:aud'],
      [{ aud: ['api.other.com', '*.example.com'] }, 'pass'],
      [{ aud: ['api.other.com', '*.other.com'] }, 'forbidden:aud'],
      [{ aud: 'app.example.co?' }, 'pass'],
      [{ aud: 'app.example.co[lm]' }, 'pass'],
    ]);
    await table({ aud: 'example.com' }, [
      [{ aud: '*.example.com' }, 'pass'],
      [{ aud: '*.com' }, 'pass'],
      [{ aud: '*.ample.com' }, 'forbidden:aud'],
    ]);
    // A wildcard in the configuration is a literal string, not a pattern.
    await table({ aud: '*.example.com' }, [
      [{ aud: 'app.example.com' }, 'forbidden:aud'],
      [{ aud: '*.example.com' }, 'pass'],
    ]);
  });

  test('wildcard object keys and wildcard claim names in the token', async () => {
    await table({ authority: { 'app1.example.com': 'admin' } }, [
      [{ authority: { '*.example.com': ['admin'] } }, 'pass'],
      [{ authority: { '*.example.com': ['user'] } }, 'forbidden:authority'],
      [{ authority: { '*.other.com': ['admin'] } }, 'forbidden:authority'],
    ]);
    // An object claim satisfies a scalar requirement when one of its keys matches.
    await table({ tenant: 'home' }, [
      [{ tenant: { home: { since: 2020 } } }, 'pass'],
      [{ tenant: { '*': true } }, 'pass'],
      [{ tenant: { away: true } }, 'forbidden:tenant'],
    ]);
    // A required claim missing from the token may be matched by a wildcard claim name in the token.
    await table({ 'https://app.example.com/role': 'admin' }, [
      [{ 'https://*.example.com/role': 'admin' }, 'pass'],
      [{ 'https://*.example.com/role': 'user' }, 'forbidden:https://app.example.com/role'],
    ]);
  });

  test('numbers and strings are never equal; booleans match booleans only', async () => {
    await table({ level: 3 }, [
      [{ level: 3 }, 'pass'],
      [{ level: '3' }, 'forbidden:level'],
      [{ level: 3.5 }, 'forbidden:level'],
      [{ level: [1, 3] }, 'pass'],
      [{ level: ['3'] }, 'forbidden:level'],
    ]);
    await table({ level: '3' }, [
      [{ level: '3' }, 'pass'],
      [{ level: 3 }, 'forbidden:level'],
    ]);
    await table({ ratio: 0.5 }, [
      [{ ratio: 0.5 }, 'pass'],
      [{ ratio: '0.5' }, 'forbidden:ratio'],
    ]);
    await table({ verified: true }, [
      [{ verified: true }, 'pass'],
      [{ verified: 'true' }, 'forbidden:verified'],
      [{ verified: 1 }, 'forbidden:verified'],
      [{ verified: false }, 'forbidden:verified'],
    ]);
  });

  test('templates: {{.Host}} and {{URLQueryEscape .URL}} are expanded per request', async () => {
    const host = profileOf({ require: { aud: '{{.Host}}' } });
    assert.equal(await outcome(host, { aud: REQUEST.Host }), 'pass');
    assert.equal(await outcome(host, { aud: '*.homelab.example.com' }), 'pass');
    assert.equal(await outcome(host, { aud: REQUEST.Host }, { ...REQUEST, Host: 'vmselect.homelab.example.com' }), 'forbidden:aud');
    const url = profileOf({ require: { target: 'https://login.example.com/?rd={{URLQueryEscape .URL}}' } });
    const escaped = `https://login.example.com/?rd=${encodeURIComponent(REQUEST.URL)}`;
    assert.equal(await outcome(url, { target: escaped }), 'pass');
    assert.equal(await outcome(url, { target: `https://login.example.com/?rd=${REQUEST.URL}` }), 'forbidden:target');
    const method = profileOf({ require: { methods: '{{.Method}}', path: '{{.Path}}', scheme: '{{.Scheme}}' } });
    assert.equal(await outcome(method, { methods: ['GET', 'HEAD'], path: REQUEST.Path, scheme: 'https' }), 'pass');
    assert.equal(await outcome(method, { methods: ['POST'], path: REQUEST.Path, scheme: 'https' }), 'forbidden:methods');
  });

  test('templates read environment variables; a missing one fails the claim', async () => {
    await table({ tenant: '{{.TENANT}}' }, [
      [{ tenant: 'home' }, 'pass'],
      [{ tenant: 'away' }, 'forbidden:tenant'],
    ], { TENANT: 'home' });
    await table({ tenant: '{{.NOT_SET}}' }, [
      [{ tenant: '' }, 'forbidden:tenant'],
      [{ tenant: '{{.NOT_SET}}' }, 'forbidden:tenant'],
      [{ tenant: '*' }, 'forbidden:tenant'],
    ], { TENANT: 'home' });
  });

  test('templates cannot read secret-looking variables or gatehouse configuration', async () => {
    const env = { MY_SECRET: 's3cr3t', API_TOKEN: 't0k3n', DB_PASSWORD: 'pw', SIGNING_KEY: 'k3y', GATEHOUSE_COOKIE_SECRETS: 'cookie', OAUTH2_PROXY_CLIENT_SECRET: 'client', AWS_CREDENTIALS: 'aws' };
    for (const [name, value] of Object.entries(env)) {
      await table({ probe: `{{.${name}}}` }, [
        [{ probe: value }, 'forbidden:probe'],
        [{ probe: '*' }, 'forbidden:probe'],
      ], env);
    }
  });
});

describe('freshness, headerMap and key sources at the profile', () => {
  test('freshness: a failing requirement on a token older than the window is stale (401); freshness 0 never', async () => {
    const fresh = profileOf({ require: { role: 'admin' } });
    const stale = await fresh.check(token({ role: 'user' }, NOW - 3601), REQUEST);
    assert.deepEqual(stale.kind === 'forbidden' ? [stale.kind, stale.stale] : stale.kind, ['forbidden', true]);
    const recent = await fresh.check(token({ role: 'user' }, NOW - 60), REQUEST);
    assert.deepEqual(recent.kind === 'forbidden' ? [recent.kind, recent.stale] : recent.kind, ['forbidden', false]);
    const never = profileOf({ require: { role: 'admin' }, freshness: 0 });
    const old = await never.check(token({ role: 'user' }, NOW - 86_400), REQUEST);
    assert.deepEqual(old.kind === 'forbidden' ? [old.kind, old.stale] : old.kind, ['forbidden', false]);
    const short = profileOf({ require: { role: 'admin' }, freshness: 30 });
    const sixty = await short.check(token({ role: 'user' }, NOW - 60), REQUEST);
    assert.deepEqual(sixty.kind === 'forbidden' ? [sixty.kind, sixty.stale] : sixty.kind, ['forbidden', true]);
  });

  test('headerMap: JSON for lists and objects, text for scalars, empty for missing and null, no CR/LF', () => {
    const profile = profileOf({ headerMap: { 'X-Groups': 'groups', 'X-Meta': 'meta', 'X-Level': 'level', 'X-Flag': 'flag', 'X-Name': 'name', 'X-Missing': 'missing', 'X-Null': 'nothing' } });
    const headers = profile.headersFor({ groups: ['a', 'b,c'], meta: { a: 1, b: [2] }, level: 1234, flag: true, name: 'alice\r\nX-Admin: 1\u0000', nothing: null });
    assert.deepEqual(headers, { 'x-groups': '["a","b,c"]', 'x-meta': '{"a":1,"b":[2]}', 'x-level': '1234', 'x-flag': 'true', 'x-name': 'aliceX-Admin: 1', 'x-missing': '', 'x-null': '' });
  });

  test('the token is read from the cookie, then the header, then the query parameter, as configured', () => {
    const carrier = (sources: { header?: Record<string, string>; cookie?: Record<string, string>; query?: Record<string, string> }) => ({
      // As Node gives them: header names lower-cased, looked up by the exact name asked for.
      header: (name: string) => Object.entries(sources.header ?? {}).find(([header]) => header.toLowerCase() === name)?.[1],
      cookie: (name: string) => sources.cookie?.[name],
      query: (name: string) => sources.query?.[name],
    });
    const defaults = profileOf({});
    assert.equal(defaults.extract(carrier({ header: { Authorization: 'Bearer h' } })), 'h');
    assert.equal(defaults.extract(carrier({ cookie: { Authorization: 'c' }, header: { Authorization: 'Bearer h' } })), 'c', 'the Authorization cookie first (jwt-middleware)');
    assert.equal(defaults.extract(carrier({ query: { access_token: 'q' } })), undefined, 'no query parameter by default');
    // The Bearer scheme in any letter case, then one or more spaces; anything else is taken as the raw token.
    for (const [value, token] of [['bearer h', 'h'], ['BEARER   h ', 'h'], ['BeArEr h', 'h'], ['Bearer ', ''], ['Bearerh', 'Bearerh'], ['Bearer\th', 'Bearer\th'], [' Bearer h', 'Bearer h'], ['Basic abc', 'Basic abc'], ['Bearer', 'Bearer']] as const) {
      assert.equal(defaults.extract(carrier({ header: { Authorization: value } })), token, JSON.stringify(value));
    }
    const custom = profileOf({ cookieName: 'device_token', headerName: 'X-Device-Token', parameterName: 'jwt' });
    assert.equal(custom.extract(carrier({ header: { Authorization: 'Bearer h' } })), undefined);
    assert.equal(custom.extract(carrier({ header: { 'X-Device-Token': 'raw' } })), 'raw');
    assert.equal(custom.extract(carrier({ cookie: { device_token: 'c' }, header: { 'X-Device-Token': 'raw' }, query: { jwt: 'q' } })), 'c');
    assert.equal(custom.extract(carrier({ header: { 'X-Device-Token': 'raw' }, query: { jwt: 'q' } })), 'raw');
    assert.equal(custom.extract(carrier({ query: { jwt: 'q' } })), 'q');
    assert.equal(custom.extract(carrier({ cookie: { device_token: '' }, query: { jwt: 'q' } })), 'q', 'an empty value is no token');
    const headerOnly = profileOf({ cookieName: '', parameterName: '' });
    assert.equal(headerOnly.extract(carrier({ cookie: { Authorization: 'c' } })), undefined);
  });

  test('sourceClaim binds a token to the listed CIDRs', async () => {
    const bound = profileOf({ sourceClaim: 'cidr' });
    const from = async (claims: Record<string, unknown>, ip: string) => {
      const result = await bound.check(token(claims), { ...REQUEST, ip });
      return result.kind === 'forbidden' ? result.reason : result.kind;
    };
    assert.equal(await from({ cidr: '192.168.1.0/24' }, '192.168.1.20'), 'valid');
    assert.equal(await from({ cidr: ['10.0.0.0/8', '192.168.1.20'] }, '192.168.1.20'), 'valid');
    assert.equal(await from({ cidr: '192.168.1.0/24' }, '::ffff:192.168.1.20'), 'valid');
    assert.equal(await from({ cidr: '192.168.1.0/24' }, '10.0.0.5'), 'bearer-source-not-allowed');
    assert.equal(await from({}, '192.168.1.20'), 'bearer-source-not-allowed');
    assert.equal(await from({ cidr: 'not-a-range' }, '192.168.1.20'), 'bearer-source-not-allowed');
    assert.equal(await from({ cidr: [1, null] }, '192.168.1.20'), 'bearer-source-not-allowed');
    assert.equal(await from({ cidr: '192.168.1.0/24' }, 'unknown'), 'bearer-source-not-allowed');
  });

  test('denyList: jti and sub entries revoke (bearer-revoked); comments and blank lines are fine; a bad line is a config error', async () => {
    const file = join(dir, 'revoked.txt');
    writeFileSync(file, '# revoked device tokens\n\njti:lost-phone  # 2026-01-02\nsub:old-sensor\n');
    const revoking = profileOf({ denyList: file });
    const reason = async (claims: Record<string, unknown>) => {
      const result = await revoking.check(token(claims), REQUEST);
      return result.kind === 'invalid' ? result.reason : result.kind;
    };
    assert.equal(await reason({ jti: 'lost-phone' }), 'bearer-revoked');
    assert.equal(await reason({ sub: 'old-sensor' }), 'bearer-revoked');
    assert.equal(await reason({ jti: 'other', sub: 'homekit' }), 'valid');
    const bad = join(dir, 'bad-deny.txt');
    writeFileSync(bad, 'lost-phone\n');
    assert.throws(() => profileOf({ denyList: bad }), /is not jti:<id> or sub:<id>/);
    assert.throws(() => profileOf({ denyList: join(dir, 'missing.txt') }), /ENOENT/);
  });

  test('insecureSkipVerify and rootCAs are refused', () => {
    assert.throws(() => profileOf({ insecureSkipVerify: ['idp.example.com'] }), /insecureSkipVerify is not supported/);
    assert.throws(() => profileOf({ rootCAs: ['/etc/ssl/ca.pem'] }), /rootCAs is not supported/);
  });
});

describe('answers through gatehouse', () => {
  let gatehouse: ProfileGatehouse;
  const denyFile = join(dir, 'gateway-deny.txt');
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const live = (claims: Record<string, unknown> = {}, ageSeconds = 0) => {
    const iat = nowSeconds() - ageSeconds;
    return signJws({ alg: 'ES256', kid: 'k' }, { iss: ISS, sub: 'device-1', iat, exp: nowSeconds() + 7200, ...claims }, privateKey, 'ES256');
  };
  const expired = () => signJws({ alg: 'ES256', kid: 'k' }, { iss: ISS, sub: 'device-1', iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }, privateKey, 'ES256');
  const LOGIN = 'https://login.homelab.example.com';

  before(async () => {
    writeFileSync(denyFile, 'jti:lost-phone\nsub:old-sensor\n');
    const profile = (extra: Partial<ProfileConfig>) => ({ ...KEYS, ...extra });
    const profiles: Record<string, Partial<ProfileConfig>> = {
      fresh: profile({ require: { role: 'admin' } }),
      fresh0: profile({ require: { role: 'admin' }, freshness: 0 }),
      mapped: profile({ headerMap: { 'X-Groups': 'groups', 'X-Meta': 'meta', 'X-Missing': 'missing', 'X-Name': 'name' }, forwardToken: false }),
      optional: profile({ optional: true, headerMap: { 'X-User': 'sub' } }),
      preflight: profile({ unauthenticatedMethods: ['options'], headerMap: { 'X-User': 'sub' } }),
      login: profile({ require: { role: 'admin' }, redirectUnauthorized: `${LOGIN}/?return_to={{URLQueryEscape .URL}}`, redirectForbidden: `${LOGIN}/forbidden?host={{.Host}}` }),
      loginonly: profile({ require: { role: 'admin' }, redirectUnauthorized: `${LOGIN}/?return_to={{URLQueryEscape .URL}}` }),
      forbiddenonly: profile({ require: { role: 'admin' }, redirectForbidden: `${LOGIN}/forbidden` }),
      leak: profile({ redirectUnauthorized: `${LOGIN}/?x={{.MY_SECRET}}` }),
      bound: profile({ sourceClaim: 'cidr' }),
      revoked: profile({ denyList: denyFile }),
      cookie: profile({ cookieName: 'device_token', headerName: '' }),
      header: profile({ headerName: 'X-Device-Token', cookieName: '' }),
      query: profile({ parameterName: 'jwt', headerName: '', cookieName: '' }),
      template: profile({ require: { aud: '{{.Host}}', tenant: '{{.TENANT}}' } }),
    };
    const config = {
      bearer: { profiles },
      routes: Object.keys(profiles).map((name) => ({ name, hosts: [`${name}.homelab.example.com`], auth: [`bearer:${name}`] })),
    };
    // JSON is YAML.
    gatehouse = await startProfileGatehouse(JSON.stringify(config, null, 2), { env: { TENANT: 'home', MY_SECRET: 's3cr3t' } });
  });
  after(async () => {
    await gatehouse.close();
  });

  const check = (profile: string, options: { token?: string; uri?: string; method?: string; headers?: Record<string, string>; endpoint?: string; clientIp?: string } = {}) =>
    gatehouse.check(`${profile}.homelab.example.com`, options.uri ?? '/api/write', {
      method: options.method ?? 'GET',
      headers: { ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }), ...(options.headers ?? {}) },
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.clientIp === undefined ? {} : { clientIp: options.clientIp }),
    });

  test('freshness: stale → 401 invalid_token, fresh → 403 insufficient_scope, freshness 0 → 403', async () => {
    const stale = await check('fresh', { token: live({ role: 'user' }, 3700) });
    assert.equal(stale.status, 401);
    assert.match(String(stale.headers['www-authenticate']), /^Bearer error="invalid_token", error_description="claim role is not valid; the token is older than the freshness window"$/);
    assert.equal(stale.headers['x-gatehouse-reason'], 'bearer-claim-not-allowed');
    const fresh = await check('fresh', { token: live({ role: 'user' }, 60) });
    assert.equal(fresh.status, 403);
    assert.match(String(fresh.headers['www-authenticate']), /^Bearer error="insufficient_scope"/);
    const zero = await check('fresh0', { token: live({ role: 'user' }, 86_000) });
    assert.equal(zero.status, 403);
    assert.equal((await check('fresh', { token: live({ role: 'admin' }, 3700) })).status, 202);
  });

  test('headerMap: always set, JSON-encoded, empty when missing; forwardToken false blanks Authorization', async () => {
    const response = await check('mapped', { token: live({ groups: ['a', 'b'], meta: { tier: 1 }, name: 'alice\u0007' }), headers: { 'x-missing': 'spoofed' } });
    assert.equal(response.status, 202, response.body);
    assert.equal(response.headers['x-groups'], '["a","b"]');
    assert.equal(response.headers['x-meta'], '{"tier":1}');
    assert.equal(response.headers['x-name'], 'alice');
    assert.equal(response.headers['x-missing'], '', 'the client-sent value is overwritten with an empty one');
    assert.equal(response.headers.authorization, '', 'forwardToken: false makes the proxy overwrite Authorization');
    const forwarding = await check('fresh', { token: live({ role: 'admin' }) });
    assert.equal(forwarding.headers.authorization, undefined, 'forwardToken defaults to true: the header is left alone');
  });

  test('optional: no token → allowed with the mapped headers blank; a bad token is still 401', async () => {
    const none = await check('optional', { headers: { 'x-user': 'spoofed' } });
    assert.equal(none.status, 202, none.body);
    assert.equal(none.headers['x-user'], '');
    const bad = await check('optional', { token: expired() });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['x-gatehouse-reason'], 'bearer-invalid');
    const good = await check('optional', { token: live() });
    assert.equal(good.headers['x-user'], 'device-1');
  });

  test('unauthenticatedMethods: OPTIONS passes without a token (mapped headers blank); GET does not; a present token is checked', async () => {
    const preflight = await check('preflight', { method: 'OPTIONS', headers: { 'x-user': 'spoofed' } });
    assert.equal(preflight.status, 202, preflight.body);
    assert.equal(preflight.headers['x-user'], '');
    const get = await check('preflight');
    assert.equal(get.status, 401);
    assert.equal(get.headers['x-gatehouse-reason'], 'bearer-missing');
    assert.equal((await check('preflight', { method: 'OPTIONS', token: expired() })).status, 401);
  });

  test('redirectUnauthorized / redirectForbidden: 302 to the templated Location in proxy mode', async () => {
    const uri = '/dashboard?tab=1&x=a%20b';
    // Go's url.QueryEscape of the full URL (space as +), not HTML-escaped as jwt-middleware's html/template.
    const expected = `${LOGIN}/?return_to=${encodeURIComponent(`https://login.homelab.example.com${uri}`).replace(/%20/g, '+')}`;
    const missing = await check('login', { uri });
    assert.equal(missing.status, 302);
    assert.equal(missing.headers.location, expected);
    const invalid = await check('login', { token: expired(), uri });
    assert.equal(invalid.status, 302);
    assert.equal(invalid.headers.location, expected);
    const forbidden = await check('login', { token: live({ role: 'user' }) });
    assert.equal(forbidden.status, 302);
    assert.equal(forbidden.headers.location, `${LOGIN}/forbidden?host=login.homelab.example.com`);
    const stale = await check('login', { token: live({ role: 'user' }, 3700) });
    assert.equal(stale.status, 302);
    assert.match(String(stale.headers.location), /return_to=/, 'a stale token goes to the unauthorized URL');
    const onlyUnauthorized = await check('loginonly', { token: live({ role: 'user' }) });
    assert.equal(onlyUnauthorized.status, 302);
    assert.match(String(onlyUnauthorized.headers.location), /return_to=/, 'without redirectForbidden, forbidden goes to redirectUnauthorized');
    const onlyForbidden = await check('forbiddenonly', { token: live({ role: 'user' }) });
    assert.equal(onlyForbidden.status, 403, 'redirectForbidden alone is ignored (jwt-middleware)');
  });

  test('redirects never happen on /oauth2/auth: 401 and 403 instead', async () => {
    const missing = await check('login', { endpoint: '/oauth2/auth' });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.location, undefined);
    const invalid = await check('login', { endpoint: '/oauth2/auth', token: expired() });
    assert.equal(invalid.status, 401);
    assert.equal(invalid.headers.location, undefined);
    const forbidden = await check('login', { endpoint: '/oauth2/auth', token: live({ role: 'user' }) });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.headers.location, undefined);
  });

  test('a redirect template that names a secret-looking variable fails closed (500), leaking nothing', async () => {
    const response = await check('leak');
    assert.equal(response.status, 500);
    assert.equal(response.headers.location, undefined);
    assert.equal(`${response.body}${JSON.stringify(response.headers)}`.includes('s3cr3t'), false);
    assert.equal(gatehouse.logs.join('\n').includes('s3cr3t'), false);
  });

  test('templates through gatehouse: {{.Host}} is the forwarded host, {{.TENANT}} the environment', async () => {
    assert.equal((await check('template', { token: live({ aud: 'template.homelab.example.com', tenant: 'home' }) })).status, 202);
    assert.equal((await check('template', { token: live({ aud: 'other.homelab.example.com', tenant: 'home' }) })).status, 403);
    assert.equal((await check('template', { token: live({ aud: 'template.homelab.example.com', tenant: 'away' }) })).status, 403);
  });

  test('sourceClaim: the token works only from the CIDRs it names (client address through the trusted proxy)', async () => {
    const bound = live({ cidr: '192.168.1.0/24' });
    assert.equal((await check('bound', { token: bound, clientIp: '192.168.1.20' })).status, 202);
    const elsewhere = await check('bound', { token: bound, clientIp: '203.0.113.9' });
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.headers['x-gatehouse-reason'], 'bearer-source-not-allowed');
    // A client-sent X-Forwarded-For entry in front of the real one is not believed.
    assert.equal((await check('bound', { token: bound, clientIp: '192.168.1.20, 203.0.113.9' })).status, 403);
  });

  test('denyList: a revoked jti or sub gets 401 bearer-revoked', async () => {
    for (const claims of [{ jti: 'lost-phone' }, { sub: 'old-sensor' }]) {
      const response = await check('revoked', { token: live(claims) });
      assert.equal(response.status, 401);
      assert.equal(response.headers['x-gatehouse-reason'], 'bearer-revoked');
      assert.equal(response.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="token revoked"');
    }
    assert.equal((await check('revoked', { token: live({ jti: 'kept' }) })).status, 202);
  });

  test('token sources: cookie, custom header, query parameter, each only where configured', async () => {
    const token = live();
    assert.equal((await check('cookie', { headers: { cookie: `other=1; device_token=${token}` } })).status, 202);
    assert.equal((await check('cookie', { token })).status, 401, 'headerName "" turns the header off');
    assert.equal((await check('header', { headers: { 'x-device-token': token } })).status, 202);
    assert.equal((await check('header', { headers: { 'x-device-token': `Bearer ${token}` } })).status, 202);
    assert.equal((await check('header', { token })).status, 401);
    assert.equal((await check('query', { uri: `/api/write?jwt=${token}` })).status, 202);
    assert.equal((await check('query', { token })).status, 401);
    assert.equal((await check('query', { uri: `/api/write?access_token=${token}` })).status, 401);
  });
});

describe('forwardToken with identityHeaders.authorization', () => {
  let gatehouse: ProfileGatehouse;
  before(async () => {
    const profiles = { forward: { ...KEYS }, blank: { ...KEYS, forwardToken: false } };
    const routes = Object.keys(profiles).map((name) => ({ name, hosts: [`${name}.homelab.example.com`], auth: [`bearer:${name}`] }));
    gatehouse = await startProfileGatehouse(JSON.stringify({ bearer: { profiles }, routes }), { configEnv: { GATEHOUSE_IDENTITY_HEADERS_AUTHORIZATION: 'true' } });
  });
  after(async () => {
    await gatehouse.close();
  });

  test('the token goes on to the application by default; forwardToken: false blanks it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = signJws({ alg: 'ES256', kid: 'k' }, { iss: ISS, sub: 'device-1', iat: now, exp: now + 600 }, privateKey, 'ES256');
    const forwarded = await gatehouse.check('forward.homelab.example.com', '/', { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(forwarded.status, 202);
    assert.equal(forwarded.headers.authorization, `Bearer ${jwt}`);
    const blanked = await gatehouse.check('blank.homelab.example.com', '/', { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(blanked.status, 202);
    assert.equal(blanked.headers.authorization, '');
  });
});
