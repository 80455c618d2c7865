/**
 * Route selection, policy evaluation and the Envoy ext_authz mode against requests shaped so that gatehouse
 * would select a more permissive route than the application serves, or so that a client's own header would
 * reach the application next to an allowed check. Every test states the secure, documented behaviour
 * (docs/policy.md, docs/security.md, docs/proxies/envoy.md).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { stringify } from 'yaml';
import { startDevProvider, type DevProvider } from '../../src/devidp/index.js';
import { createProxyTrust, resolveRequest } from '../../src/http/forwarded.js';
import { compileHosts } from '../../src/policy/matchers/host.js';
import { compileMethods } from '../../src/policy/matchers/method.js';
import { compilePaths } from '../../src/policy/matchers/path.js';
import { normalizePath } from '../../src/policy/path.js';
import { compilePolicy, evaluatePolicy } from '../../src/policy/requirements.js';
import { compilePolicySet } from '../../src/policy/routes.js';
import { login } from '../support/gatehouse-fixture.js';
import { send } from '../support/http-client.js';
import { atEdge, browserThrough, checkAsEnvoy, cookiesOf, headerOf, interpretCheck, startEnvoy, startYamlGatehouse, type EchoBody, type EnvoyEdge, type OriginalRequest, type YamlGatehouse } from '../envoy/support.js';
import { ADMIN, APP, configOf, createTestGateway, decide, FIXTURE_EMAIL_POLICY, FIXTURE_ROUTES, fixtureConfig, identityOf, policyRequest, USER } from './support.js';

const FIXTURE = compilePolicySet(fixtureConfig());
const FIXTURE_GATEWAY = createTestGateway(fixtureConfig(), { user: USER, admin: ADMIN });

/** The fixture's routes behind one more protected route placed first, for the user and the admin. */
function gatewayWith(first: Record<string, unknown>) {
  const config = fixtureConfig({ routes: [first, ...FIXTURE_ROUTES] });
  return { set: compilePolicySet(config), gateway: createTestGateway(config, { user: USER, admin: ADMIN }) };
}

describe('a protected route with a trailing slash: "one trailing slash makes no difference" (policy.md)', () => {
  // After `**` too: a pattern with segments after `**` must not compare its last one with the empty
  // segment of a trailing slash.
  test('/api/**/delete (admins) also covers /api/items/delete/, which must not fall to the host-wide app rule', async () => {
    const { set, gateway } = gatewayWith({ name: 'api-delete', hosts: [APP], paths: ['/api/**/delete'], require: { groups: ['admins'] } });
    assert.equal(decide(set, FIXTURE_EMAIL_POLICY, '/api/items/delete', USER).label, 'route:api-delete', 'control: the spelling the rule names');
    const slash = decide(set, FIXTURE_EMAIL_POLICY, '/api/items/delete/', USER);
    assert.equal(slash.label, 'route:api-delete', 'the other trailing-slash spelling selects the same protected route');
    assert.equal(slash.reason, 'group-not-allowed');
    const verdict = await gateway.check('/api/items/delete/', { who: 'user' });
    assert.equal(verdict.status, 403, `a non-admin is refused on /api/items/delete/ (got ${verdict.status}, ${verdict.reason})`);
  });

  test('/static/**/*.css protected the same way with and without a trailing slash (matcher level)', () => {
    const protectedMatcher = compilePaths(['/static/**/*.css'], false, true);
    assert.equal(protectedMatcher('/static/a/site.css'), true);
    assert.equal(protectedMatcher('/static/a/site.css/'), true, 'one trailing slash makes no difference on a protected route');
  });

  // `*` matches an empty last segment (the public form of `/admin/*` matches `/admin/`), so the protected
  // form must too, or `/admin/` (often the admin index) would fall to the next, broader route.
  test('/admin/* (admins) covers /admin/ at least as a public route with the same pattern would', async () => {
    assert.equal(compilePaths(['/admin/*'], false, false)('/admin/'), true, 'control: the public form matches /admin/');
    assert.equal(compilePaths(['/admin/*'], false, true)('/admin/'), true, 'the protected form must not match less than the public one');
    const { gateway } = gatewayWith({ name: 'admin-pages', hosts: [APP], paths: ['/admin/*'], require: { groups: ['admins'] } });
    const verdict = await gateway.check('/admin/', { who: 'user' });
    assert.equal(verdict.status, 403, `a non-admin is refused on /admin/ (got ${verdict.status}, ${verdict.reason})`);
  });

  test('verified: /admin/** covers /admin, /admin/, case and encoding variants, traversal into it, doubled slashes', () => {
    for (const uri of ['/admin', '/admin/', '/ADMIN/x/', '/%61dmin/x', '/public/%2e%2e/admin/x', '//admin//x', '/public/./../admin', '/admin;jsessionid=1/x']) {
      const outcome = decide(FIXTURE, FIXTURE_EMAIL_POLICY, uri, USER);
      assert.equal(outcome.label, 'route:admin', uri);
      assert.equal(outcome.reason, 'group-not-allowed', uri);
    }
  });
});

describe('matrix parameters that turn a segment into a dot segment', () => {
  // `..;` is a dot segment only to servlet containers; Envoy's normalize_path, nginx, Node and Go
  // applications keep it as an ordinary segment and serve /admin/..;/public/x under /admin/. With two
  // readings, the path has no single safe one and is refused (as %2F is).
  for (const uri of ['/admin/..;/public/x', '/admin/..;x=1/public/x', '/admin/%2e%2e;/public/x', '/admin/.%2E;/public/x']) {
    test(`${uri} never selects the public route`, async () => {
      const outcome = decide(FIXTURE, FIXTURE_EMAIL_POLICY, uri, undefined);
      assert.notEqual(outcome.label, 'route:public', `${uri} normalized to ${JSON.stringify(normalizePath(uri))}`);
      assert.notEqual(outcome.kind, 'allow', 'an anonymous request is not let through');
      const verdict = await FIXTURE_GATEWAY.check(uri);
      assert.ok(verdict.status === 400 || verdict.status === 401, `bad-path or the admin rule, not ${verdict.status} ${verdict.reason}`);
    });
  }

  test('verified: `;` parameters on ordinary segments only narrow the match (/admin;x → /admin rule)', () => {
    assert.equal(decide(FIXTURE, FIXTURE_EMAIL_POLICY, '/admin;x=%2Fpublic', USER).label, 'route:admin');
    assert.equal(decide(FIXTURE, FIXTURE_EMAIL_POLICY, '/public..;/admin/', USER).kind, 'bad');
  });
});

describe('verified: path forms that must be refused or resolved before matching', () => {
  test('%2F, %5C, %25, %3B, %23, %3F, controls, raw backslash, non-ASCII and overlong UTF-8 are bad-path', () => {
    for (const uri of ['/public%2F..%2Fadmin', '/public/..%5cadmin', '/public/%252e%252e/admin', '/admin%3Bx', '/public/x%23/y', '/public%3F/../admin', '/admin%00', '/public\\..\\admin', '/ａｄｍｉｎ', '/public/%c0%ae%c0%ae/admin', '/%c0%afadmin', '/admin%20', '/admin.']) {
      assert.equal(normalizePath(uri).ok, false, uri);
    }
  });
});

describe('verified: hosts', () => {
  const wildcard = compileHosts(['*.homelab.example.com']);

  test('*.domain covers subdomains at any depth, never the domain itself nor a look-alike', () => {
    assert.equal(wildcard('a.homelab.example.com'), true);
    assert.equal(wildcard('a.b.homelab.example.com'), true);
    for (const host of ['homelab.example.com', 'evil-homelab.example.com', 'evilhomelab.example.com', 'homelab.example.com.evil.net', '.homelab.example.com']) assert.equal(wildcard(host), false, host);
  });

  test('upper case, a trailing dot and the default port select the same route; look-alikes are refused before matching', () => {
    const trust = createProxyTrust({ reverseProxy: true, trusted: ['127.0.0.1/32'] });
    const resolve = (host: string) => resolveRequest({ method: 'GET', url: '/admin/x', headers: { host, 'x-forwarded-proto': 'https' }, peerAddress: '127.0.0.1', encrypted: false }, trust);
    for (const host of ['APP.HOMELAB.EXAMPLE.COM', 'app.homelab.example.com.', 'App.Homelab.Example.Com.:443', 'app.homelab.example.com:8443']) {
      const resolved = resolve(host);
      assert.ok(resolved.ok, host);
      assert.equal(FIXTURE.select(policyRequest('/admin/x', { host: resolved.request.host }), undefined).label, 'route:admin', host);
    }
    for (const host of ['app.homelab.example.com..', '\uff41pp.homelab.example.com', 'app.homelab.example.com@evil.net', '0x7f.1', 'app homelab']) assert.equal(resolve(host).ok, false, host);
    // A Cyrillic look-alike is another host (punycode), which the app's routes do not name.
    const cyrillic = resolve('\u0430pp.homelab.example.com');
    assert.ok(cyrillic.ok && cyrillic.request.host.startsWith('xn--'));
    assert.equal(FIXTURE.select(policyRequest('/public/x', { host: cyrillic.request.host }), undefined).label, 'default:deny');
  });
});

describe('verified: methods and sources', () => {
  test('GET covers HEAD; OPTIONS, POST and lower-case spellings are not GET; X-HTTP-Method-Override is not read', () => {
    const get = compileMethods(['get']);
    assert.equal(get('GET'), true);
    assert.equal(get('HEAD'), true);
    for (const method of ['OPTIONS', 'POST', 'get']) assert.equal(get(method), false, method);
    const trust = createProxyTrust({ reverseProxy: true, trusted: ['127.0.0.1/32'] });
    const resolved = resolveRequest({ method: 'GET', url: '/', headers: { host: APP, 'x-forwarded-method': 'post', 'x-http-method-override': 'GET' }, peerAddress: '127.0.0.1', encrypted: false }, trust);
    assert.ok(resolved.ok);
    assert.equal(resolved.request.method, 'POST');
    assert.equal(FIXTURE.select(policyRequest('/api/v1/status', { method: 'OPTIONS' }), undefined).label, 'route:app', 'a preflight is not the GET-only public route');
  });

  test('X-Forwarded-For written by the client left of the trusted hop is not believed for sources', () => {
    const set = compilePolicySet(configOf({ routes: [{ name: 'lan', hosts: [APP], sources: ['192.168.1.0/24'], auth: 'public' }] }));
    const trust = createProxyTrust({ reverseProxy: true, trusted: ['127.0.0.1/32', '10.244.0.0/16'] });
    const resolved = resolveRequest({ method: 'GET', url: '/', headers: { host: APP, 'x-forwarded-for': '192.168.1.20, 203.0.113.9, 10.244.1.17' }, peerAddress: '127.0.0.1', encrypted: false }, trust);
    assert.ok(resolved.ok);
    assert.equal(resolved.request.clientIp, '203.0.113.9');
    assert.equal(set.select(policyRequest('/', { ip: resolved.request.clientIp }), undefined).label, 'default:deny');
    assert.equal(set.select(policyRequest('/', { ip: 'unknown' }), undefined).label, 'default:deny', 'an unknown client matches no source');
  });
});

describe('verified: requirements', () => {
  test('groups are exact and case-sensitive; route emails compare case-insensitively; several @ never pass', () => {
    const groups = compilePolicy({ require: { groups: ['admins'] } }, { bearerProvider: false });
    for (const group of ['Admins', 'admins ', 'xadmins', 'admins-readonly']) {
      assert.equal(evaluatePolicy(groups, identityOf({ email: 'a@homelab.example.com', email_verified: true, groups: [group] }), {}, policyRequest('/')).allow, false, group);
    }
    const emails = compilePolicy({ require: { emails: ['Boss@Homelab.example.com'], emailDomains: ['homelab.example.com'] } }, { bearerProvider: false });
    assert.equal(evaluatePolicy(emails, identityOf({ email: 'boss@homelab.example.com', email_verified: true }), {}, policyRequest('/')).allow, true);
    const several = { sub: 's', email: 'attacker@evil.com@homelab.example.com', emailVerified: true, groups: [], username: '', issuer: '', authMethod: 'session' as const };
    assert.equal(evaluatePolicy(emails, several, {}, policyRequest('/')).allow, false);
  });

  test('a CEL expression that fails to evaluate, or yields no boolean, denies for allow and deny alike', () => {
    const identity = identityOf({ email: 'a@homelab.example.com', email_verified: true });
    const cases: [Record<string, string>, Record<string, unknown>][] = [
      [{ allow: 'request.headers["x-device"] == "homekit"' }, {}],
      [{ deny: 'request.headers["x-blocked"] == "1"' }, {}],
      [{ deny: 'identity.claims.disabled' }, { disabled: 'true' }],
      [{ allow: 'ipInCidr(request.ip, "10.0.0.0/8") || identity.claims.x' }, { x: 1 }],
    ];
    for (const [rule, claims] of cases) {
      const decision = evaluatePolicy(compilePolicy(rule, { bearerProvider: false }), identity, claims, policyRequest('/', { ip: 'unknown' }));
      assert.deepEqual(decision.allow ? 'allow' : decision.reason, 'expression-error', JSON.stringify(rule));
    }
  });
});

// --- Envoy ext_authz, end to end against a real gatehouse -------------------------------------------------

const OPEN_HOST = 'open.homelab.example.com';
const DEVICES_HOST = 'devices.homelab.example.com';
const SEED_ISSUER = 'https://jwts.farcaller.net';
const CLIENT = '198.51.100.23';
const API: Readonly<Record<string, string>> = { accept: 'application/json', 'sec-fetch-mode': 'cors' };

function original(method: string, host: string, path: string, headers: Readonly<Record<string, string>> = {}): OriginalRequest {
  return atEdge({ method, host, path, headers }, CLIENT);
}

describe('Envoy ext_authz: what reaches the application next to an allowed check', () => {
  let idp: DevProvider;
  let gatehouse: YamlGatehouse;
  let edge: EnvoyEdge;
  let privateKey: CryptoKey;
  let userCookie = '';

  before(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const pem = (await exportSPKI(pair.publicKey)).replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '-----$1 EC PUBLIC KEY-----');
    idp = await startDevProvider({ redirectUris: [`https://${APP}/oauth2/callback`], postLogoutRedirectUris: [`https://${APP}/`] });
    const yaml = stringify({
      identityHeaders: { authorization: true },
      bearer: {
        provider: true,
        // The recipe's profile: X-Device names the device to the application (envoy.md).
        profiles: { homekit: { issuers: [SEED_ISSUER], skipPrefetch: true, secrets: { vicmet: pem }, require: { aud: DEVICES_HOST }, headerMap: { 'X-Device': 'sub' } } },
      },
      routes: [
        ...FIXTURE_ROUTES,
        { name: 'open', hosts: [OPEN_HOST], auth: 'public' },
        { name: 'devices', hosts: [DEVICES_HOST], auth: ['session', 'bearer:homekit'] },
      ],
    });
    gatehouse = await startYamlGatehouse(yaml, idp);
    edge = await startEnvoy(gatehouse.port);
    const browser = browserThrough(edge, idp);
    const signedIn = await login(browser, { email: 'user@homelab.example.com', groups: 'staff' }, `https://${APP}/dashboard`);
    assert.equal(signedIn.final.status, 200, signedIn.final.body);
    userCookie = cookiesOf(browser, `https://${APP}`);
    assert.match(userCookie, /^_gatehouse=/);
  });
  after(async () => {
    await edge.close();
    await gatehouse.close();
    await idp.close();
  });

  const throughEdge = async (host: string, path: string, headers: Record<string, string>): Promise<EchoBody> => {
    const response = await send({ port: edge.port, path, headers: { host, ...headers } });
    assert.equal(response.status, 200, `${host}${path}: ${response.status} ${response.body}`);
    return JSON.parse(response.body) as EchoBody;
  };

  test('control: the device token sets X-Device from its own sub, overwriting the client', async () => {
    const token = await new SignJWT({ iss: SEED_ISSUER, sub: 'homekit', aud: DEVICES_HOST, iat: 1719591241, exp: 2540042041 }).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'vicmet' }).sign(privateKey);
    const echo = await throughEdge(DEVICES_HOST, '/api/v1/import', { ...API, authorization: `Bearer ${token}`, 'x-device': 'front-door' });
    assert.equal(echo.headers['x-device'], 'homekit');
  });

  test('verified: on a public route without a session every identity header is emitted empty, so Envoy overwrites the client', async () => {
    const response = await checkAsEnvoy(gatehouse.port, original('GET', OPEN_HOST, '/', { ...API, 'x-auth-request-email': 'admin@homelab.example.com', 'gap-auth': 'admin' }));
    assert.equal(response.status, 200);
    for (const name of ['gap-auth', 'x-auth-request-user', 'x-auth-request-email', 'x-auth-request-groups', 'x-auth-request-preferred-username', 'authorization']) assert.equal(headerOf(response, name), '', name);
    const echo = await throughEdge(OPEN_HOST, '/', { ...API, 'x-auth-request-email': 'admin@homelab.example.com', 'x-auth-request-groups': 'admins', authorization: 'Bearer forged' });
    assert.equal(echo.headers['x-auth-request-email'], '');
    assert.equal(echo.headers['x-auth-request-groups'], '');
    assert.equal(echo.headers.authorization, '');
  });

  // The recipe lists a profile's headerMap headers in allowed_upstream_headers for every host, and Envoy
  // replaces a listed header only when the answer has it, so every allowed check carries them, empty when
  // that profile did not authenticate the request (envoy.md).
  test('a session on a route that also takes the device token: the client cannot name the device', async () => {
    const response = await checkAsEnvoy(gatehouse.port, original('GET', DEVICES_HOST, '/api/v1/query', { ...API, cookie: userCookie, 'x-device': 'front-door' }));
    assert.equal(response.status, 200, response.body);
    assert.equal(headerOf(response, 'x-device'), '', 'the headerMap header is in the allowed answer, empty');
    const echo = await throughEdge(DEVICES_HOST, '/api/v1/query', { ...API, cookie: userCookie, 'x-device': 'front-door' });
    assert.notEqual(echo.headers['x-device'], 'front-door', 'the application never sees the client-chosen device');
  });

  test('a public route: the client cannot name the device either', async () => {
    const response = await checkAsEnvoy(gatehouse.port, original('GET', OPEN_HOST, '/', { ...API, 'x-device': 'front-door' }));
    assert.equal(response.status, 200);
    assert.equal(headerOf(response, 'x-device'), '', 'the headerMap header is in the allowed answer, empty');
    const outcome = interpretCheck(response);
    assert.ok(outcome.kind === 'allow');
    assert.equal(outcome.upstream['x-device'], '', 'Envoy would set it, replacing the client value');
  });

  test('the matrix-parameter dot segment through Envoy: the application would get /admin/..;/public/x, so the check must not allow it', async () => {
    const response = await checkAsEnvoy(gatehouse.port, original('GET', APP, '/admin/..;/public/x', API));
    assert.notEqual(response.status, 200, `reason ${headerOf(response, 'x-gatehouse-reason') ?? ''}`);
  });

  test('verified: a Host in upper case, with a trailing dot or the default port is the same route through Envoy', async () => {
    for (const host of ['APP.HOMELAB.EXAMPLE.COM', `${APP}.`, `${APP}:443`]) {
      const response = await checkAsEnvoy(gatehouse.port, original('GET', host, '/admin/x', { ...API, cookie: userCookie }));
      assert.equal(response.status, 403, host);
      assert.equal(headerOf(response, 'x-gatehouse-reason'), 'group-not-allowed', host);
    }
  });

  test('verified: a denial reaches the client with only the allowed headers and no identity', async () => {
    const response = await checkAsEnvoy(gatehouse.port, original('GET', APP, '/admin/x', { ...API, cookie: userCookie }));
    const outcome = interpretCheck(response);
    assert.ok(outcome.kind === 'deny');
    assert.equal(outcome.status, 403);
    for (const name of Object.keys(outcome.headers)) assert.ok(['content-type', 'cache-control', 'x-gatehouse-reason', 'content-length', 'location', 'www-authenticate', 'set-cookie'].includes(name), name);
    assert.equal(outcome.headers['x-auth-request-email'], undefined);
  });
});
