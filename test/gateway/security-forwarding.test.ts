/**
 * What a trusted proxy passes on from a client, and what an anonymous crowd can make gatehouse do:
 * a forwarded Host that is not the deployment's own starts no login and gets no cookie (FWD-03); a
 * health-check User-Agent earns nothing (FWD-18); a CORS preflight authorises nothing and carries no
 * identity (FWD-19); a flood of anonymous navigations writes nothing to Redis (DOS-10).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { NAVIGATION_HEADERS, parseSetCookie, type RawResponse } from '../support/http-client.js';
import { API_HEADERS, APP_HOST, baseEnv, gatehouseForFile, identityHeadersOf, login, startGatehouse, type Gatehouse } from '../support/gatehouse-fixture.js';
import { startRedis, type StandaloneRedis } from '../support/redis.js';

const started = gatehouseForFile();
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-forwarding-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function assertRefusedHost(response: RawResponse, what: string, reason = 'host-not-allowed'): void {
  assert.equal(response.status, 403, `${what}: ${response.status} ${response.headers.location ?? ''}`);
  assert.equal(response.headers['x-gatehouse-reason'], reason, what);
  assert.equal(response.headers.location, undefined, `${what}: no redirect`);
  assert.equal(response.headers['x-gatehouse-login'], undefined, `${what}: no login address`);
  assert.deepEqual(response.setCookies, [], `${what}: no cookie`);
  assert.ok(!response.body.includes('evil'), `${what}: the body does not repeat the forwarded host`);
}

describe('FWD-03: a forwarded Host that is not the deployment’s own', () => {
  const foreign = ['evil.example.net', 'app.homelab.example.com.evil.example.net', 'homelab.example.com.evil.example.net', 'evilhomelab.example.com', 'evil.example.net:443'];

  for (const host of foreign) {
    test(`${host}: a navigation, an API call, /oauth2/auth, /oauth2/start and /oauth2/sign_in start no login and set no cookie`, async () => {
      const forwarded = { 'x-forwarded-host': host, 'x-forwarded-uri': '/admin' };
      assertRefusedHost(await started.gatehouse.request('/admin', { headers: { ...NAVIGATION_HEADERS, ...forwarded } }), 'navigation');
      const api = await started.gatehouse.request('/admin', { headers: { ...API_HEADERS, ...forwarded } });
      assertRefusedHost(api, 'API call');
      assert.deepEqual(JSON.parse(api.body), { error: 'forbidden', reason: 'host-not-allowed' });
      assertRefusedHost(await started.gatehouse.request('/oauth2/auth', { headers: { ...API_HEADERS, ...forwarded } }), '/oauth2/auth');
      assertRefusedHost(await started.gatehouse.request('/oauth2/start?rd=%2F', { headers: { ...NAVIGATION_HEADERS, ...forwarded } }), '/oauth2/start');
      assertRefusedHost(await started.gatehouse.request('/oauth2/sign_in?rd=%2F', { headers: { ...NAVIGATION_HEADERS, ...forwarded } }), '/oauth2/sign_in');
    });
  }

  test('the deployment’s own hosts, in any case and with a port, still start a login on themselves (control)', async () => {
    for (const host of [APP_HOST, 'APP.Homelab.Example.COM', 'grafana.homelab.example.com:8443']) {
      const response = await started.gatehouse.request('/admin', { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-host': host, 'x-forwarded-uri': '/admin' } });
      assert.equal(response.status, 302, host);
      const location = new URL(response.headers.location ?? '');
      assert.equal(location.host, host.toLowerCase(), `${host}: the login starts on the host asked for, port kept`);
      assert.equal(location.pathname, '/oauth2/start');
    }
  });

  test('the signed-in page the refused host would have shown is not reachable with a real session either', async () => {
    const browser = started.gatehouse.browser();
    await login(browser, { email: 'fwd03@homelab.example.com' });
    const cookie = browser.cookie('_gatehouse', `https://${APP_HOST}/`);
    assert.ok(cookie !== undefined);
    // A session cookie replayed toward a foreign host (the browser would never send it there).
    const response = await started.gatehouse.request('/admin', { headers: { ...API_HEADERS, cookie: `_gatehouse=${cookie}`, 'x-forwarded-host': 'evil.example.net' } });
    assert.notEqual(response.status, 302);
    for (const setCookie of response.setCookies.map(parseSetCookie)) assert.notEqual(setCookie.attributes.get('domain'), 'evil.example.net');
  });

  test('a host named by a route, outside the cookie domains, is the deployment’s own', async () => {
    const file = join(dir, 'routes.yaml');
    writeFileSync(file, 'routes:\n  - name: wiki\n    hosts: [wiki.example.org]\n');
    const withRoute = await startGatehouse({ devProvider: started.idp, file });
    try {
      const named = await withRoute.request('/', { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-host': 'wiki.example.org', 'x-forwarded-uri': '/' } });
      assert.equal(named.status, 302);
      assert.equal(new URL(named.headers.location ?? '').host, 'wiki.example.org');
      // With routes, a host none of them matches is refused by the routes' default before any login is considered.
      assertRefusedHost(await withRoute.request('/', { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-host': 'evil.example.org', 'x-forwarded-uri': '/' } }), 'a host no route names', 'no-route-matched');
      assertRefusedHost(await withRoute.request('/oauth2/start?rd=%2F', { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-host': 'evil.example.org' } }), 'a login started on a host no route names');
    } finally {
      await withRoute.close();
    }
  });

  test('with no cookie domains, redirect domains or route hosts there is nothing to tell by: every host is served, and a warning says so', () => {
    const provider = { issuer: started.idp.issuer, clientId: started.idp.clientId, clientSecret: started.idp.clientSecret };
    const bare = loadConfig({ env: { ...baseEnv(provider), GATEHOUSE_COOKIE_DOMAINS: '', GATEHOUSE_PROXY_ALLOWED_REDIRECT_DOMAINS: '' } });
    assert.deepEqual(bare.config.cookie.domains, []);
    assert.ok(bare.warnings.some((warning) => warning.startsWith('neither cookie.domains, proxy.allowedRedirectDomains nor a route names your hosts')), JSON.stringify(bare.warnings));
    const named = loadConfig({ env: baseEnv(provider) });
    assert.ok(!named.warnings.some((warning) => warning.startsWith('neither cookie.domains')), 'no warning once hosts are named');
  });
});

describe('POL-13: /oauth2/auth without the original URI', () => {
  test('is 400 missing-forwarded-uri, never a decision about gatehouse\'s own URL; with it, the route decides', async () => {
    const without = await started.gatehouse.request('/oauth2/auth', { headers: { ...API_HEADERS } });
    assert.equal(without.status, 400);
    assert.equal(without.headers['x-gatehouse-reason'], 'missing-forwarded-uri');
    assert.deepEqual(identityHeadersOf(without), {});
    const withUri = await started.gatehouse.request('/oauth2/auth', { headers: { ...API_HEADERS, 'x-forwarded-uri': '/admin' } });
    assert.equal(withUri.status, 401);
  });
});

describe('FWD-18 and FWD-19: health-check agents and CORS preflights get nothing for free', () => {
  test('a health-check User-Agent on a protected path is authenticated like anyone; /ping answers on its exact path only', async () => {
    for (const agent of ['kube-probe/1.29', 'GoogleHC/1.0', 'ELB-HealthChecker/2.0', 'Consul Health Check']) {
      const navigation = await started.gatehouse.request('/admin', { headers: { ...NAVIGATION_HEADERS, 'user-agent': agent, 'x-forwarded-uri': '/admin' } });
      assert.equal(navigation.status, 302, agent);
      const api = await started.gatehouse.request('/admin', { headers: { ...API_HEADERS, 'user-agent': agent, 'x-forwarded-uri': '/admin' } });
      assert.equal(api.status, 401, agent);
      assert.deepEqual(identityHeadersOf(api), {}, agent);
      const ping = await started.gatehouse.request('/ping', { headers: { 'user-agent': agent }, proxied: false });
      assert.equal(ping.status, 200, agent);
    }
  });

  test('a preflight (OPTIONS with Origin and Access-Control-Request-Method) without a session is 401 and carries no identity', async () => {
    const preflight = {
      ...API_HEADERS,
      origin: 'https://evil.example.net',
      'access-control-request-method': 'DELETE',
      'access-control-request-headers': 'authorization',
      'x-forwarded-method': 'OPTIONS',
      'x-forwarded-uri': '/admin',
      'x-auth-request-user': 'admin',
      'x-auth-request-email': 'admin@homelab.example.com',
    };
    const response = await started.gatehouse.request('/admin', { method: 'OPTIONS', headers: preflight });
    assert.equal(response.status, 401);
    assert.deepEqual(identityHeadersOf(response), {});
    assert.equal(response.headers['access-control-allow-origin'], undefined, 'gatehouse grants no CORS access of its own');
    const viaAuth = await started.gatehouse.request('/oauth2/auth', { method: 'OPTIONS', headers: preflight });
    assert.equal(viaAuth.status, 401);
    assert.deepEqual(identityHeadersOf(viaAuth), {});
  });
});

describe('DOS-10: a flood of anonymous navigations keeps no state on the server', () => {
  let redis: StandaloneRedis;
  let withRedis: Gatehouse;

  before(async () => {
    redis = await startRedis();
    withRedis = await startGatehouse({ devProvider: started.idp, env: { GATEHOUSE_SESSION_STORE: 'redis', GATEHOUSE_SESSION_REDIS_URL: redis.url } });
  });
  after(async () => {
    await withRedis.close();
    await redis.stop();
  });

  test('2 000 navigations without a session: each a redirect with one small transaction cookie, and not one Redis key written', async () => {
    const starts = 2000;
    let next = 0;
    const sizes: number[] = [];
    const worker = async () => {
      while (next < starts) {
        const index = next++;
        const response = await withRedis.request(`/oauth2/start?rd=${encodeURIComponent(`/page/${index}`)}`, { headers: NAVIGATION_HEADERS });
        assert.equal(response.status, 302, `start ${index}`);
        assert.equal(response.setCookies.length, 1, `start ${index}: one transaction cookie`);
        sizes.push(response.setCookies[0]!.length);
      }
    };
    await Promise.all(Array.from({ length: 25 }, worker));
    assert.equal(sizes.length, starts);
    assert.ok(Math.max(...sizes) < 1024, `largest transaction cookie ${Math.max(...sizes)} bytes`);
    assert.equal(await redis.cli('DBSIZE'), '0', 'nothing is stored before a callback');
  });
});
