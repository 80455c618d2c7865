/**
 * Routes and policies end to end (src/policy/routes.ts, requirements.ts): the catalogue's policy fixture
 * (security-cases.md §0) as gatehouse routes, and every routing and requirement case of POL-01..POL-21
 * run through normalizePath → compilePolicySet(config).select → authorizeIdentity / evaluatePolicy, then
 * cross-checked against the real forward-auth check (src/gateway/check.ts) in `/oauth2/auth` mode.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type PolicyConfig, type Problem } from '../../src/config/index.js';
import { parseEmail, readGroups, type Identity } from '../../src/identity/index.js';
import { authorizeIdentity } from '../../src/policy/email-policy.js';
import { compilePolicy, evaluatePolicy } from '../../src/policy/requirements.js';
import { compilePolicySet, PolicyCompileError } from '../../src/policy/routes.js';
import { ADMIN, APP, configOf, createTestGateway, decide, FIXTURE_EMAIL_POLICY, FIXTURE_ROUTES, fixtureConfig, identityOf, policyRequest, STATUS_OF, USER, type Outcome, type RequestOptions } from './support.js';

const FIXTURE = compilePolicySet(fixtureConfig());
const GATEWAY = createTestGateway(fixtureConfig(), { user: USER, admin: ADMIN });

/** What each selection means for an anonymous request, a non-admin user and an admin. */
const BY_LABEL: Readonly<Record<string, readonly [anonymous: Omit<Outcome, 'label'>, user: Omit<Outcome, 'label'>, admin: Omit<Outcome, 'label'>]>> = {
  'route:public': [
    { kind: 'allow', reason: 'route-public' },
    { kind: 'allow', reason: 'route-public' },
    { kind: 'allow', reason: 'route-public' },
  ],
  'route:api-status': [
    { kind: 'allow', reason: 'route-public' },
    { kind: 'allow', reason: 'route-public' },
    { kind: 'allow', reason: 'route-public' },
  ],
  'route:admin': [
    { kind: 'unauthenticated', reason: 'user-unauthenticated' },
    { kind: 'forbidden', reason: 'group-not-allowed' },
    { kind: 'allow', reason: 'session-valid' },
  ],
  'route:app': [
    { kind: 'unauthenticated', reason: 'user-unauthenticated' },
    { kind: 'allow', reason: 'session-valid' },
    { kind: 'allow', reason: 'session-valid' },
  ],
  'bad-path': [
    { kind: 'bad', reason: 'bad-path' },
    { kind: 'bad', reason: 'bad-path' },
    { kind: 'bad', reason: 'bad-path' },
  ],
  'default:deny': [
    { kind: 'forbidden', reason: 'no-route-matched' },
    { kind: 'forbidden', reason: 'no-route-matched' },
    { kind: 'forbidden', reason: 'no-route-matched' },
  ],
};

/** One request of the catalogue. `route`: the selection, or the acceptable selections. */
interface RouteCase {
  readonly id: string;
  readonly uri: string;
  readonly route: string | readonly string[];
  readonly options?: RequestOptions;
}

const ADMIN_RULE = 'route:admin';
const AUTHENTICATED = 'route:app';
const BAD = 'bad-path';

const CASES: readonly RouteCase[] = [
  // The fixture itself
  { id: 'fixture', uri: '/public/index.html', route: 'route:public' },
  { id: 'fixture', uri: '/public', route: 'route:public' },
  { id: 'fixture', uri: '/api/v1/status', route: 'route:api-status' },
  { id: 'fixture', uri: '/admin', route: ADMIN_RULE },
  { id: 'fixture', uri: '/admin/users?page=2', route: ADMIN_RULE },
  { id: 'fixture', uri: '/dashboard', route: AUTHENTICATED },
  { id: 'fixture', uri: '/', route: AUTHENTICATED },
  { id: 'fixture', uri: '/publicity', route: AUTHENTICATED },
  { id: 'fixture', uri: '/administrator', route: AUTHENTICATED },
  // POL-01 traversal
  { id: 'POL-01', uri: '/public/../admin/secrets', route: ADMIN_RULE },
  { id: 'POL-01', uri: '/public/./../admin', route: ADMIN_RULE },
  // POL-02 encoded traversal; the double-encoded form is BAD or the default authenticated rule.
  { id: 'POL-02', uri: '/public/%2e%2e/admin', route: ADMIN_RULE },
  { id: 'POL-02', uri: '/public/%2E%2E/admin', route: ADMIN_RULE },
  { id: 'POL-02', uri: '/public/..%2fadmin', route: BAD },
  { id: 'POL-02', uri: '/public/%2e%2e%2fadmin', route: BAD },
  { id: 'POL-02', uri: '/public/.%2e/admin', route: ADMIN_RULE },
  { id: 'POL-02', uri: '/public/%252e%252e/admin', route: [BAD, AUTHENTICATED] },
  // POL-03. `/api%2e/admin/secret` is the path /api./admin/secret: only a proxy that strips a prefix
  // after the check turns it into /admin/secret, and then the check sees `/./admin/secret` (below).
  { id: 'POL-03', uri: '/./admin/secret', route: ADMIN_RULE },
  { id: 'POL-03', uri: '/admin/./secret', route: ADMIN_RULE },
  { id: 'POL-03', uri: '/api%2e/admin/secret', route: BAD },
  // POL-04 slashes
  { id: 'POL-04', uri: '//admin/secret', route: ADMIN_RULE },
  { id: 'POL-04', uri: '/admin//secret', route: ADMIN_RULE },
  { id: 'POL-04', uri: '///admin', route: ADMIN_RULE },
  { id: 'POL-04', uri: '//public/../admin', route: ADMIN_RULE },
  // POL-05 encoded reserved characters
  { id: 'POL-05', uri: '/admin%2Fsecret', route: BAD },
  { id: 'POL-05', uri: '/public%2F..%2Fadmin', route: BAD },
  { id: 'POL-05', uri: '/admin%5Csecret', route: BAD },
  { id: 'POL-05', uri: '/public\\..\\admin', route: BAD },
  { id: 'POL-05', uri: '/public/..%5cadmin', route: BAD },
  { id: 'POL-05', uri: '/admin%3Bx', route: BAD },
  // POL-06 case and unreserved encoding
  { id: 'POL-06', uri: '/Admin/secret', route: ADMIN_RULE },
  { id: 'POL-06', uri: '/ADMIN', route: ADMIN_RULE },
  { id: 'POL-06', uri: '/%61dmin', route: ADMIN_RULE },
  { id: 'POL-06', uri: '/%41dmin', route: ADMIN_RULE },
  { id: 'POL-06', uri: '/PUBLIC/../ADMIN', route: ADMIN_RULE },
  // POL-07 query smuggling
  { id: 'POL-07', uri: '/api/private/sensitive?path=/status', route: AUTHENTICATED },
  { id: 'POL-07', uri: '/admin?x=/public/', route: ADMIN_RULE },
  { id: 'POL-07', uri: '/admin?/public', route: ADMIN_RULE },
  // POL-08 fragments
  { id: 'POL-08', uri: '/admin#/public/', route: ADMIN_RULE },
  { id: 'POL-08', uri: '/admin%23/public/x', route: BAD },
  { id: 'POL-08', uri: '/public/secret%23/endpoint', route: BAD },
  // POL-09 matrix parameters. `/public..;/admin/` is the segment `public..`, no traversal.
  { id: 'POL-09', uri: '/admin;jsessionid=x', route: ADMIN_RULE },
  { id: 'POL-09', uri: '/public/..;/admin', route: BAD },
  { id: 'POL-09', uri: '/public..;/admin/', route: BAD },
  { id: 'POL-09', uri: '/admin;/', route: ADMIN_RULE },
  // POL-10 NUL, controls, spaces: BAD or the admin rule
  { id: 'POL-10', uri: '/admin%00', route: BAD },
  { id: 'POL-10', uri: '/public%00/../admin', route: BAD },
  { id: 'POL-10', uri: '/admin%20', route: [BAD, ADMIN_RULE] },
  { id: 'POL-10', uri: '/admin%09', route: BAD },
  { id: 'POL-10', uri: '/admin/%0d%0a', route: [BAD, ADMIN_RULE] },
  // POL-11 Unicode and overlong forms: BAD or not public
  { id: 'POL-11', uri: '/%c0%afadmin', route: [BAD, AUTHENTICATED] },
  { id: 'POL-11', uri: '/public/%c0%ae%c0%ae/admin', route: [BAD, ADMIN_RULE] },
  { id: 'POL-11', uri: '/ａｄｍｉｎ', route: BAD },
  { id: 'POL-11', uri: '/adm\u0131n', route: BAD },
  { id: 'POL-11', uri: '/ADM\u0130N', route: BAD },
  // POL-13 default deny
  { id: 'POL-13', uri: '/', route: 'default:deny', options: { host: 'new.homelab.example.com' } },
  { id: 'POL-13', uri: '/public/x', route: 'default:deny', options: { host: 'new.homelab.example.com' } },
  { id: 'POL-13', uri: '/', route: 'default:deny', options: { host: 'homelab.example.com' } },
  { id: 'POL-13', uri: '', route: BAD },
  // POL-14 methods: the public status route is GET (and so HEAD) only; override headers are never read.
  { id: 'POL-14', uri: '/api/v1/status', route: 'route:api-status', options: { method: 'HEAD' } },
  { id: 'POL-14', uri: '/api/v1/status', route: AUTHENTICATED, options: { method: 'POST' } },
  { id: 'POL-14', uri: '/api/v1/status', route: AUTHENTICATED, options: { method: 'DELETE' } },
  { id: 'POL-14', uri: '/api/v1/status', route: AUTHENTICATED, options: { method: 'get' } },
  { id: 'POL-14', uri: '/api/v1/status?_method=GET', route: AUTHENTICATED, options: { method: 'POST', headers: { 'x-http-method-override': 'GET', 'x-method-override': 'GET', 'x-forwarded-method': 'GET' } } },
  { id: 'POL-14', uri: '/api/v1/status/', route: AUTHENTICATED },
  // POL-21 the gateway's own paths as gadgets
  { id: 'POL-21', uri: '/oauth2/callback/../../admin', route: ADMIN_RULE },
  { id: 'POL-21', uri: '/oauth2/start/..%2fadmin', route: BAD },
  { id: 'POL-21', uri: '/.well-known/../admin', route: ADMIN_RULE },
  { id: 'POL-21', uri: '/oauth2/auth', route: AUTHENTICATED },
];

const WHO = [
  ['anonymous', undefined],
  ['user', USER],
  ['admin', ADMIN],
] as const;

describe('the policy fixture: selection and decisions', () => {
  for (const { id, uri, route, options = {} } of CASES) {
    const wanted = typeof route === 'string' ? [route] : route;
    const method = options.method === undefined ? '' : `${options.method} `;
    const host = options.host === undefined ? '' : ` on ${options.host}`;
    test(`${id} ${method}${JSON.stringify(uri)}${host} → ${wanted.join(' or ')}`, async () => {
      const label = decide(FIXTURE, FIXTURE_EMAIL_POLICY, uri, undefined, options).label;
      assert.ok(wanted.includes(label), `selected ${label}`);
      const expected = BY_LABEL[label];
      assert.ok(expected !== undefined, `no expectation for ${label}`);
      for (const [index, [name, identity]] of WHO.entries()) {
        const outcome = decide(FIXTURE, FIXTURE_EMAIL_POLICY, uri, identity, options);
        assert.deepEqual(outcome, { label, ...expected[index] }, name);
        const verdict = await GATEWAY.check(uri, { ...options, ...(identity === undefined ? {} : { who: name }) });
        assert.equal(verdict.status, STATUS_OF[outcome.kind], `gateway status for ${name}`);
        assert.equal(verdict.reason, outcome.reason, `gateway reason for ${name}`);
        if (label !== BAD) assert.equal(verdict.route, label, `gateway route for ${name}`);
      }
    });
  }
});

/** The fixture without its public routes, so skip-auth routes are the only way to be public. */
function skipConfig(skipAuthRoutes: readonly string[]) {
  return configOf({
    routes: FIXTURE_ROUTES.filter((route) => route.name === 'admin' || route.name === 'app'),
    authorization: { emailDomains: ['homelab.example.com'] },
    forwardAuth: { skipAuthRoutes },
  });
}

describe('oauth2-proxy skip-auth routes: regexes on the normalized path only (POL-07, POL-08, POL-12)', () => {
  const CASES: readonly { id: string; skip: string[]; uri: string; method?: string; route: string }[] = [
    { id: 'POL-07', skip: ['^/api/.*/status'], uri: '/api/v1/status', route: 'route:skip-auth-route-0' },
    { id: 'POL-07', skip: ['^/api/.*/status'], uri: '/api/private/sensitive?path=/status', route: AUTHENTICATED },
    { id: 'POL-07', skip: ['^/api/.*/status'], uri: '/api/private/sensitive#/status', route: AUTHENTICATED },
    { id: 'POL-07', skip: ['^/api/.*/status'], uri: '/api/private/sensitive%3F/status', route: BAD },
    { id: 'POL-08', skip: ['^/public/[^/]+/endpoint$'], uri: '/public/x/endpoint', route: 'route:skip-auth-route-0' },
    { id: 'POL-08', skip: ['^/public/[^/]+/endpoint$'], uri: '/public/secret%23/endpoint', route: BAD },
    { id: 'POL-08', skip: ['^/public/[^/]+/endpoint$'], uri: '/public/secret#/endpoint', route: AUTHENTICATED },
    { id: 'POL-08', skip: ['^/public/[^/]+/endpoint$'], uri: '/public/a/b/../endpoint', route: 'route:skip-auth-route-0' },
    { id: 'POL-08', skip: ['^/public/[^/]+/endpoint$'], uri: '/public/../admin/endpoint', route: ADMIN_RULE },
    // POL-12: unanchored, as in oauth2-proxy, so `/public` is public anywhere in the path, but only in
    // the path: never in the query or fragment, and never through an ambiguous escape.
    { id: 'POL-12', skip: ['/public'], uri: '/public', route: 'route:skip-auth-route-0' },
    { id: 'POL-12', skip: ['/public'], uri: '/admin/public', route: 'route:skip-auth-route-0' },
    { id: 'POL-12', skip: ['/public'], uri: '/admin?/public', route: ADMIN_RULE },
    { id: 'POL-12', skip: ['/public'], uri: '/admin?x=/public/', route: ADMIN_RULE },
    { id: 'POL-12', skip: ['/public'], uri: '/admin#/public', route: ADMIN_RULE },
    { id: 'POL-12', skip: ['/public'], uri: '/admin%3F/public', route: BAD },
    { id: 'POL-12', skip: ['/public'], uri: '/admin%23/public', route: BAD },
    { id: 'POL-12', skip: ['/public'], uri: '/admin;/public', route: 'route:skip-auth-route-0' },
    { id: 'POL-12', skip: ['/public'], uri: '/admin;x=%2Fpublic', route: ADMIN_RULE },
    { id: 'POL-12', skip: ['^/public(/|$)'], uri: '/admin/public', route: ADMIN_RULE },
    { id: 'POL-12', skip: ['^/public(/|$)'], uri: '/public/x', route: 'route:skip-auth-route-0' },
    { id: 'POL-12', skip: ['^/public(/|$)'], uri: '/publicity', route: AUTHENTICATED },
    // Skip-auth routes come before every configured route.
    { id: 'order', skip: ['^/admin/health$'], uri: '/admin/health', route: 'route:skip-auth-route-0' },
    { id: 'order', skip: ['^/admin/health$'], uri: '/admin/health/x', route: ADMIN_RULE },
    // POL-14: `METHOD=` is that method exactly (HEAD is not GET here, as oauth2-proxy), `METHOD!=` all others.
    { id: 'POL-14', skip: ['GET=^/api/'], uri: '/api/x', method: 'GET', route: 'route:skip-auth-route-0' },
    { id: 'POL-14', skip: ['GET=^/api/'], uri: '/api/x', method: 'POST', route: AUTHENTICATED },
    { id: 'POL-14', skip: ['GET=^/api/'], uri: '/api/x', method: 'HEAD', route: AUTHENTICATED },
    { id: 'POL-14', skip: ['get=^/api/'], uri: '/api/x', method: 'GET', route: 'route:skip-auth-route-0' },
    { id: 'POL-14', skip: ['POST!=^/upload'], uri: '/upload', method: 'GET', route: 'route:skip-auth-route-0' },
    { id: 'POL-14', skip: ['POST!=^/upload'], uri: '/upload', method: 'POST', route: AUTHENTICATED },
    { id: 'POL-14', skip: ['GET=^/a', 'POST=^/b'], uri: '/b', method: 'POST', route: 'route:skip-auth-route-1' },
  ];
  for (const { id, skip, uri, method = 'GET', route } of CASES) {
    test(`${id} ${JSON.stringify(skip)}: ${method} ${JSON.stringify(uri)} → ${route}`, () => {
      const set = compilePolicySet(skipConfig(skip));
      assert.equal(decide(set, FIXTURE_EMAIL_POLICY, uri, undefined, { method }).label, route);
    });
  }

  test('DOS-09: a skip-auth regex runs on RE2, linear on a maximum-length path', () => {
    const set = compilePolicySet(skipConfig(['^/(a+)+$', '^/(a|aa)+$', '(.*a){12}']));
    const path = `/${'a'.repeat(4093)}!`;
    assert.equal(decide(set, FIXTURE_EMAIL_POLICY, path, undefined).label, 'route:skip-auth-route-2');
    assert.equal(decide(set, FIXTURE_EMAIL_POLICY, `/${'b'.repeat(4094)}`, undefined).label, AUTHENTICATED);
  });
});

describe("oauth2-proxy's skip_auth_preflight: every OPTIONS request is public, nothing else", () => {
  const config = (skipAuthPreflight: boolean) =>
    configOf({ routes: FIXTURE_ROUTES.filter((route) => route.name === 'admin' || route.name === 'app'), authorization: { emailDomains: ['homelab.example.com'] }, forwardAuth: { skipAuthPreflight, skipAuthRoutes: ['GET=^/health$'] } });

  test('on: OPTIONS on any path, even an admin path, is public, before the skip-auth routes', async () => {
    const set = compilePolicySet(config(true));
    for (const uri of ['/admin/settings', '/', '/health']) {
      assert.deepEqual(decide(set, FIXTURE_EMAIL_POLICY, uri, undefined, { method: 'OPTIONS' }), { label: 'route:skip-auth-preflight', kind: 'allow', reason: 'route-public' });
    }
    const verdict = await createTestGateway(config(true), {}).check('/admin/settings', { method: 'OPTIONS', mode: 'proxy' });
    assert.equal(verdict.status, 202);
    assert.equal(verdict.route, 'route:skip-auth-preflight');
  });

  test('on: any other method still needs a login, and a lowercase method is not OPTIONS', () => {
    const set = compilePolicySet(config(true));
    for (const method of ['GET', 'POST', 'HEAD', 'options']) {
      assert.notEqual(decide(set, FIXTURE_EMAIL_POLICY, '/admin/settings', undefined, { method }).label, 'route:skip-auth-preflight', method);
    }
    assert.equal(decide(set, FIXTURE_EMAIL_POLICY, '/admin/settings', undefined, { method: 'GET' }).kind, 'unauthenticated');
  });

  test('off (the default): an OPTIONS request is checked like any other', () => {
    const set = compilePolicySet(config(false));
    assert.equal(set.routes.some((route) => route.name === 'skip-auth-preflight'), false);
    assert.equal(decide(set, FIXTURE_EMAIL_POLICY, '/admin/settings', undefined, { method: 'OPTIONS' }).kind, 'unauthenticated');
    assert.equal(configOf({}).forwardAuth.skipAuthPreflight, false);
  });
});

describe('POL-13: nothing matches', () => {
  const partial = configOf({ routes: FIXTURE_ROUTES.filter((route) => route.name !== 'app'), authorization: { emailDomains: ['homelab.example.com'] } });

  test('a path no route matches is denied by default (routeDefault auto with routes)', async () => {
    const set = compilePolicySet(partial);
    assert.equal(set.fallback, undefined);
    assert.equal(set.fallbackLabel, 'default:deny');
    for (const identity of [undefined, USER, ADMIN]) {
      assert.deepEqual(decide(set, FIXTURE_EMAIL_POLICY, '/other', identity), { label: 'default:deny', kind: 'forbidden', reason: 'no-route-matched' });
    }
    const gateway = createTestGateway(partial, { admin: ADMIN });
    for (const mode of ['auth', 'proxy'] as const) {
      const verdict = await gateway.check('/other', { who: 'admin', mode });
      assert.equal(verdict.status, 403);
      assert.equal(verdict.reason, 'no-route-matched');
      assert.equal(verdict.outcome, 'deny');
    }
  });

  test('routeDefault: authenticated is any signed-in user passing the global authorization', () => {
    const set = compilePolicySet({ ...partial, routeDefault: 'authenticated' });
    assert.deepEqual(decide(set, FIXTURE_EMAIL_POLICY, '/other', undefined), { label: 'default:authenticated', kind: 'unauthenticated', reason: 'user-unauthenticated' });
    assert.deepEqual(decide(set, FIXTURE_EMAIL_POLICY, '/other', USER), { label: 'default:authenticated', kind: 'allow', reason: 'session-valid' });
    const outsider = identityOf({ email: 'x@evil.test', email_verified: true });
    assert.deepEqual(decide(set, FIXTURE_EMAIL_POLICY, '/other', outsider), { label: 'default:authenticated', kind: 'forbidden', reason: 'email-not-allowed' });
  });

  test('a missing or empty X-Forwarded-Uri is a bad request in the gateway', async () => {
    const verdict = await GATEWAY.check('', { who: 'admin' });
    assert.equal(verdict.status, 400);
    assert.equal(verdict.reason, 'bad-path');
  });
});

describe('routeDefault', () => {
  const CASES: readonly { routeDefault: 'auto' | 'deny' | 'authenticated'; withRoutes: boolean; label: string }[] = [
    { routeDefault: 'auto', withRoutes: true, label: 'default:deny' },
    { routeDefault: 'auto', withRoutes: false, label: 'default:authenticated' },
    { routeDefault: 'deny', withRoutes: true, label: 'default:deny' },
    { routeDefault: 'deny', withRoutes: false, label: 'default:deny' },
    { routeDefault: 'authenticated', withRoutes: true, label: 'default:authenticated' },
    { routeDefault: 'authenticated', withRoutes: false, label: 'default:authenticated' },
  ];
  for (const { routeDefault, withRoutes, label } of CASES) {
    test(`${routeDefault} ${withRoutes ? 'with' : 'without'} routes → ${label}`, () => {
      const set = compilePolicySet(configOf({ routeDefault, routes: withRoutes ? [{ name: 'elsewhere', hosts: ['elsewhere.test'] }] : [] }));
      const selection = set.select(policyRequest('/x'), undefined);
      assert.equal(selection.label, label);
      assert.equal(selection.route, undefined);
      if (label === 'default:deny') {
        assert.equal(selection.policy, undefined);
      } else {
        assert.deepEqual(selection.policy?.auth, { public: false, session: true, bearer: [] });
        assert.deepEqual(selection.policy.requirements, []);
      }
    });
  }

  test('the authenticated default also accepts provider bearer tokens when bearer.provider is on', () => {
    const set = compilePolicySet(configOf({ bearer: { provider: true } }));
    assert.deepEqual(set.fallback?.auth, { public: false, session: true, bearer: ['provider'] });
  });
});

describe('POL-15, POL-16: the email address as the identity holds it', () => {
  const CASES: readonly { id: string; email: string; parsed: string; global: string; route: string }[] = [
    { id: 'POL-15', email: 'attacker@evil.com@homelab.example.com', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'POL-15', email: 'attacker@homelab.example.com@evil.com', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'POL-15', email: 'a@b@c', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'POL-16', email: 'user@evilhomelab.example.com', parsed: 'user@evilhomelab.example.com', global: 'email-not-allowed', route: 'email-not-allowed' },
    { id: 'POL-16', email: 'user@homelab.example.com.evil.com', parsed: 'user@homelab.example.com.evil.com', global: 'email-not-allowed', route: 'email-not-allowed' },
    { id: 'POL-16', email: 'user@sub.homelab.example.com', parsed: 'user@sub.homelab.example.com', global: 'email-not-allowed', route: 'email-not-allowed' },
    { id: 'POL-16', email: 'user@HOMELAB.EXAMPLE.COM', parsed: 'user@homelab.example.com', global: 'allow', route: 'allow' },
    { id: 'POL-16', email: 'User.Name@homelab.example.com', parsed: 'User.Name@homelab.example.com', global: 'allow', route: 'allow' },
    { id: 'POL-16', email: 'user@homelab.example.com.', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'POL-16', email: 'user@homelab.ex\u0430mple.com', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'POL-16', email: '"user@evil.com"@homelab.example.com', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'POL-16', email: '"user"@homelab.example.com', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'POL-16', email: 'user@homelab.example.com ', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'POL-16', email: 'user\n@homelab.example.com', parsed: '', global: 'email-missing', route: 'email-not-allowed' },
    { id: 'DOS-09', email: `${'a'.repeat(10_000)}@`, parsed: '', global: 'email-missing', route: 'email-not-allowed' },
  ];
  const appPolicy = FIXTURE.routes.find((route) => route.name === 'app')!.policy;
  for (const { id, email, parsed, global, route } of CASES) {
    test(`${id} ${JSON.stringify(email.length > 60 ? `${email.slice(0, 20)}…` : email)}: identity email ${JSON.stringify(parsed)}, global ${global}, route ${route}`, async () => {
      const identity = identityOf({ email, email_verified: true, groups: ['admins'] });
      assert.equal(identity.email, parsed);
      assert.equal(parseEmail(email) ?? '', parsed);
      const globalDecision = authorizeIdentity(identity, FIXTURE_EMAIL_POLICY);
      assert.equal(globalDecision.allow ? 'allow' : globalDecision.reason, global);
      const routeDecision = evaluatePolicy(appPolicy, identity, {}, policyRequest('/dashboard'));
      assert.equal(routeDecision.allow ? 'allow' : routeDecision.reason, route);
      const verdict = await createTestGateway(fixtureConfig(), { who: identity }).check('/dashboard', { who: 'who' });
      assert.equal(verdict.status, global === 'allow' ? 202 : 403);
      assert.equal(verdict.reason, global === 'allow' ? 'session-valid' : global);
    });
  }

  test('POL-15: a route requirement refuses several @ even in an identity not built by parseEmail', () => {
    const forged: Identity = { ...USER, email: 'attacker@evil.com@homelab.example.com' };
    assert.deepEqual(evaluatePolicy(appPolicy, forged, {}, policyRequest('/dashboard')), { allow: false, reason: 'email-not-allowed', requirement: 'require.emails/emailDomains' });
    const byAddress = compilePolicy({ require: { emails: ['attacker@evil.com'] } }, { bearerProvider: false });
    assert.equal(evaluatePolicy(byAddress, forged, {}, policyRequest('/')).allow, false);
  });
});

describe('POL-17: unverified email', () => {
  const CASES: readonly { name: string; claim: Record<string, unknown>; expected: string }[] = [
    { name: 'email_verified: true', claim: { email_verified: true }, expected: 'allow' },
    { name: 'email_verified: "true"', claim: { email_verified: 'true' }, expected: 'allow' },
    { name: 'email_verified: false', claim: { email_verified: false }, expected: 'email-unverified' },
    { name: 'email_verified: "false"', claim: { email_verified: 'false' }, expected: 'email-unverified' },
    { name: 'email_verified absent', claim: {}, expected: 'email-unverified' },
    { name: 'email_verified: 1', claim: { email_verified: 1 }, expected: 'email-unverified' },
    { name: 'email_verified: "TRUE"', claim: { email_verified: 'TRUE' }, expected: 'email-unverified' },
    { name: 'email_verified: ["true"]', claim: { email_verified: ['true'] }, expected: 'email-unverified' },
  ];
  for (const { name, claim, expected } of CASES) {
    test(`${name} → ${expected}, on every non-public route`, async () => {
      const identity = identityOf({ email: 'admin@homelab.example.com', groups: ['admins'], ...claim });
      const decision = authorizeIdentity(identity, FIXTURE_EMAIL_POLICY);
      assert.equal(decision.allow ? 'allow' : decision.reason, expected);
      const gateway = createTestGateway(fixtureConfig(), { who: identity });
      for (const uri of ['/dashboard', '/admin/x', '/api/v1/status?x']) {
        const verdict = await gateway.check(uri, { who: 'who', method: uri.startsWith('/api') ? 'POST' : 'GET' });
        assert.equal(verdict.status, expected === 'allow' ? 202 : 403, uri);
        assert.equal(verdict.reason, expected === 'allow' ? 'session-valid' : expected, uri);
      }
    });
  }

  test('provider.insecureAllowUnverifiedEmail: accepted, route requirements still apply', async () => {
    const config = fixtureConfig({ provider: { insecureAllowUnverifiedEmail: true } });
    const user = identityOf({ email: 'user@homelab.example.com', email_verified: false, groups: ['staff'] });
    const gateway = createTestGateway(config, { user });
    assert.equal((await gateway.check('/dashboard', { who: 'user' })).status, 202);
    const admin = await gateway.check('/admin', { who: 'user' });
    assert.equal(admin.status, 403);
    assert.equal(admin.reason, 'group-not-allowed');
  });
});

describe('POL-18: group claim type confusion (required: admins)', () => {
  const adminPolicy = FIXTURE.routes.find((route) => route.name === 'admin')!.policy;
  const CASES: readonly { groups: unknown; read: string[]; allowed: boolean }[] = [
    { groups: ['admins'], read: ['admins'], allowed: true },
    // A single string is the documented form of one group.
    { groups: 'admins', read: ['admins'], allowed: true },
    { groups: ['admins '], read: ['admins '], allowed: false },
    { groups: [' admins'], read: [' admins'], allowed: false },
    { groups: ['Admins'], read: ['Admins'], allowed: false },
    { groups: ['ADMINS'], read: ['ADMINS'], allowed: false },
    { groups: ['admins\u0000'], read: ['admins\u0000'], allowed: false },
    { groups: ['xadmins'], read: ['xadmins'], allowed: false },
    { groups: ['admins-readonly'], read: ['admins-readonly'], allowed: false },
    { groups: [{ name: 'admins' }], read: [], allowed: false },
    { groups: [['admins']], read: [], allowed: false },
    { groups: '/admins', read: ['/admins'], allowed: false },
    { groups: 'admins,staff', read: ['admins,staff'], allowed: false },
    { groups: { admins: true }, read: [], allowed: false },
    { groups: 1, read: [], allowed: false },
    { groups: true, read: [], allowed: false },
    { groups: null, read: [], allowed: false },
    { groups: '', read: [], allowed: false },
    { groups: [''], read: [], allowed: false },
    { groups: [], read: [], allowed: false },
  ];
  for (const { groups, read, allowed } of CASES) {
    test(`groups ${JSON.stringify(groups)} → ${JSON.stringify(read)}, ${allowed ? 'admin' : 'not admin'}`, async () => {
      assert.deepEqual(readGroups(groups), read);
      const identity = identityOf({ email: 'someone@homelab.example.com', email_verified: true, groups });
      assert.deepEqual(identity.groups, read);
      const decision = evaluatePolicy(adminPolicy, identity, {}, policyRequest('/admin'));
      assert.deepEqual(decision, allowed ? { allow: true } : { allow: false, reason: 'group-not-allowed', requirement: 'require.groups' });
      const verdict = await createTestGateway(fixtureConfig(), { who: identity }).check('/admin/x', { who: 'who' });
      assert.equal(verdict.status, allowed ? 202 : 403);
    });
  }

  test('at most 256 groups are read; a group beyond them does not count', () => {
    const many = [...Array.from({ length: 256 }, (_, index) => `g${index}`), 'admins'];
    assert.equal(readGroups(many).length, 256);
    assert.equal(evaluatePolicy(adminPolicy, identityOf({ email: 'someone@homelab.example.com', groups: many }), {}, policyRequest('/admin')).allow, false);
  });

  test('claims requirements compare exact strings; a list claim passes with one accepted value', () => {
    const policy = compilePolicy({ require: { claims: { role: ['admin', 'ops'], 'realm_access.roles': 'gatehouse' } } }, { bearerProvider: false });
    const CLAIMS: readonly { claims: Record<string, unknown>; expected: ReturnType<typeof evaluatePolicy> }[] = [
      { claims: { role: 'ops', realm_access: { roles: ['x', 'gatehouse'] } }, expected: { allow: true } },
      { claims: { role: ['viewer', 'admin'], realm_access: { roles: 'gatehouse' } }, expected: { allow: true } },
      { claims: { role: 'Ops', realm_access: { roles: ['gatehouse'] } }, expected: { allow: false, reason: 'claim-not-allowed', requirement: 'require.claims.role' } },
      { claims: { role: { name: 'ops' }, realm_access: { roles: ['gatehouse'] } }, expected: { allow: false, reason: 'claim-not-allowed', requirement: 'require.claims.role' } },
      { claims: { realm_access: { roles: ['gatehouse'] } }, expected: { allow: false, reason: 'claim-not-allowed', requirement: 'require.claims.role' } },
      { claims: { role: '', realm_access: { roles: ['gatehouse'] } }, expected: { allow: false, reason: 'claim-not-allowed', requirement: 'require.claims.role' } },
      { claims: { role: 'ops', 'realm_access.roles': 'gatehouse' }, expected: { allow: false, reason: 'claim-not-allowed', requirement: 'require.claims.realm_access.roles' } },
      { claims: { role: 'ops', realm_access: Object.create({ roles: ['gatehouse'] }) as object }, expected: { allow: false, reason: 'claim-not-allowed', requirement: 'require.claims.realm_access.roles' } },
    ];
    for (const { claims, expected } of CLAIMS) assert.deepEqual(evaluatePolicy(policy, USER, claims, policyRequest('/')), expected, JSON.stringify(claims));
  });
});

describe('POL-20: bearer and cookie parity on /admin/**', () => {
  const TOKENS: Readonly<Record<string, Record<string, unknown>>> = {
    'admin-token': { sub: 'a', email: 'admin@homelab.example.com', email_verified: true, groups: ['admins'] },
    'user-token': { sub: 'u', email: 'user@homelab.example.com', email_verified: true, groups: ['staff'] },
    'unverified-token': { sub: 'v', email: 'admin@homelab.example.com', email_verified: false, groups: ['admins'] },
    'foreign-token': { sub: 'f', email: 'admin@evil.test', email_verified: true, groups: ['admins'] },
  };
  // Stands in for the JWT verifier (audience, signature and expiry are test/jwt's business).
  const bearer = {
    warm: () => undefined,
    close: () => undefined,
    verify: (token: string) => {
      const claims = TOKENS[token];
      return claims === undefined ? Promise.reject(new Error('signature verification failed')) : Promise.resolve(claims);
    },
  };
  const config = fixtureConfig({
    bearer: { provider: true },
    routes: [
      { name: 'admin', hosts: [APP], paths: ['/admin/**'], auth: ['session', 'bearer:provider'], require: { groups: ['admins'] } },
      { name: 'api', hosts: [APP], paths: ['/api/**'], auth: ['bearer:provider'] },
    ],
  });
  const gateway = createTestGateway(config, { user: USER, admin: ADMIN }, { bearer });
  const CASES: readonly { name: string; uri?: string; token?: string; who?: string; status: number; reason: string }[] = [
    { name: 'an admin token', token: 'admin-token', status: 202, reason: 'bearer-valid' },
    { name: 'a non-admin token', token: 'user-token', status: 403, reason: 'group-not-allowed' },
    { name: 'a non-admin cookie', who: 'user', status: 403, reason: 'group-not-allowed' },
    { name: 'a token with an unverified email', token: 'unverified-token', status: 403, reason: 'email-unverified' },
    { name: 'a token of a domain not allowed', token: 'foreign-token', status: 403, reason: 'email-not-allowed' },
    { name: 'an invalid token with a valid admin cookie (no fall-back)', token: 'forged', who: 'admin', status: 401, reason: 'bearer-invalid' },
    { name: 'a valid admin cookie alone', who: 'admin', status: 202, reason: 'session-valid' },
    { name: 'a bearer-only route with a cookie only', uri: '/api/x', who: 'admin', status: 401, reason: 'bearer-missing' },
    { name: 'a bearer-only route with a token', uri: '/api/x', token: 'user-token', status: 202, reason: 'bearer-valid' },
  ];
  for (const { name, uri = '/admin/x', token, who, status, reason } of CASES) {
    test(`${name} → ${status} ${reason}`, async () => {
      const verdict = await gateway.check(uri, { ...(who === undefined ? {} : { who }), ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }) });
      assert.deepEqual([verdict.status, verdict.reason], [status, reason]);
      if (status === 401 && token !== undefined) assert.match(String(verdict.headers['www-authenticate']), /^Bearer error="invalid_token"/);
    });
  }
});

describe('POL-19: empty or disabled configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  let counter = 0;
  function problemsOf(yaml: string): readonly Problem[] {
    const file = join(dir, `config-${++counter}.yaml`);
    writeFileSync(file, yaml);
    try {
      loadConfig({ file, env: {} });
    } catch (error) {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      return error.problems;
    }
    assert.fail(`the configuration was accepted:\n${yaml}`);
  }

  const CASES: readonly { name: string; yaml: string; problems: [code: string | readonly string[], path: string][] }[] = [
    { name: 'authorization.groups: [""]', yaml: 'authorization:\n  groups: [""]\n', problems: [['ERR_CONFIG_EMPTY_ENTRY', 'authorization.groups[0]']] },
    { name: 'authorization.groups: ["admins", " "]', yaml: 'authorization:\n  groups: ["admins", " "]\n', problems: [['ERR_CONFIG_EMPTY_ENTRY', 'authorization.groups[1]']] },
    { name: 'authorization.emails: [""]', yaml: 'authorization:\n  emails: [""]\n', problems: [['ERR_CONFIG_EMPTY_ENTRY', 'authorization.emails[0]'], ['ERR_CONFIG_EMAIL_INVALID', 'authorization.emails[0]']] },
    { name: 'authorization.emailDomains: [""]', yaml: 'authorization:\n  emailDomains: [""]\n', problems: [['ERR_CONFIG_EMPTY_ENTRY', 'authorization.emailDomains[0]']] },
    { name: 'a route requiring the group ""', yaml: 'routes:\n  - name: r\n    require:\n      groups: [""]\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].require.groups[0]']] },
    { name: 'a route requiring the email ""', yaml: 'routes:\n  - name: r\n    require:\n      emails: [""]\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].require.emails[0]']] },
    { name: 'a route requiring the email domain ""', yaml: 'routes:\n  - name: r\n    require:\n      emailDomains: [""]\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].require.emailDomains[0]']] },
    { name: 'a required claim value ""', yaml: 'routes:\n  - name: r\n    require:\n      claims:\n        role: ""\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].require.claims.role']] },
    { name: 'a required claim value [""]', yaml: 'routes:\n  - name: r\n    require:\n      claims:\n        role: [""]\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].require.claims.role[0]']] },
    { name: 'a required claim with no values', yaml: 'routes:\n  - name: r\n    require:\n      claims:\n        role: []\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].require.claims.role']] },
    { name: 'a named policy requiring the group ""', yaml: 'policies:\n  p:\n    require:\n      groups: [""]\n', problems: [['ERR_CONFIG_TYPE', 'policies.p.require.groups[0]']] },
    { name: 'an empty allow expression', yaml: 'routes:\n  - name: r\n    allow: ""\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].allow']] },
    { name: 'an empty host', yaml: 'routes:\n  - name: r\n    hosts: [""]\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].hosts[0]']] },
    { name: 'an empty path', yaml: 'routes:\n  - name: r\n    paths: [""]\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].paths[0]']] },
    { name: 'a path pattern without /', yaml: 'routes:\n  - name: r\n    paths: [admin]\n', problems: [['ERR_CONFIG_ROUTE_INVALID', 'routes[0].paths']] },
    { name: 'a route with a CEL typo', yaml: 'routes:\n  - name: r\n    deny: identity.emial == "x"\n', problems: [['ERR_CONFIG_ROUTE_INVALID', 'routes[0]']] },
    { name: 'a source that is not a range', yaml: 'routes:\n  - name: r\n    sources: [intranet]\n', problems: [['ERR_CONFIG_ROUTE_INVALID', 'routes[0].sources']] },
    { name: 'an unknown auth method', yaml: 'routes:\n  - name: r\n    auth: [cookie]\n', problems: [['ERR_CONFIG_TYPE', 'routes[0].auth[0]']] },
    // An empty regex matches every path: the whole site would be public.
    { name: 'an empty skip-auth route', yaml: 'forwardAuth:\n  skipAuthRoutes: [""]\n', problems: [[['ERR_CONFIG_EMPTY_ENTRY', 'ERR_CONFIG_REGEX_INVALID'], 'forwardAuth.skipAuthRoutes[0]']] },
    { name: 'a skip-auth route that is not RE2', yaml: 'forwardAuth:\n  skipAuthRoutes: ["GET=^/x("]\n', problems: [['ERR_CONFIG_REGEX_INVALID', 'forwardAuth.skipAuthRoutes[0]']] },
  ];
  for (const { name, yaml, problems: expected } of CASES) {
    test(`${name} is a start-up error`, () => {
      const problems = problemsOf(yaml);
      assert.equal(problems.length, expected.length, JSON.stringify(problems, null, 2));
      for (const [index, [code, path]] of expected.entries()) {
        const problem = problems[index]!;
        assert.equal(problem.path, path);
        assert.ok((typeof code === 'string' ? [code] : code).includes(problem.code), `${problem.code} at ${problem.path}`);
      }
    });
  }

  test('the valid form of the same configuration loads', () => {
    const file = join(dir, 'valid.yaml');
    writeFileSync(file, 'authorization:\n  groups: [admins]\nroutes:\n  - name: r\n    paths: ["/admin/**"]\n    require:\n      groups: [admins]\n      claims:\n        role: ops\n');
    assert.equal(loadConfig({ file, env: {} }).config.routes.length, 1);
  });

  test('requirements nobody can meet deny everyone, never allow everyone', () => {
    const CASES: readonly NonNullable<PolicyConfig['require']>[] = [{ groups: [] }, { emailDomains: [] }, { emails: [] }, { emailDomains: [], emails: [] }, { groups: ['admins'] }, { claims: { role: 'ops' } }];
    const nobody = identityOf({ email: 'admin@homelab.example.com', email_verified: true });
    for (const require of CASES) {
      const policy = compilePolicy({ require }, { bearerProvider: false });
      for (const identity of [nobody, USER, ADMIN]) {
        if ((require.groups?.length ?? 0) > 0 && identity === ADMIN) continue;
        assert.equal(evaluatePolicy(policy, identity, {}, policyRequest('/')).allow, false, `${JSON.stringify(require)} allowed ${identity.email}`);
      }
    }
  });

  test('paths: [] and hosts: [] match nothing', () => {
    const set = compilePolicySet(configOf({ routes: [{ name: 'nothing', paths: [], auth: 'public' }, { name: 'nowhere', hosts: [], auth: 'public' }] }));
    assert.equal(set.select(policyRequest('/'), undefined).label, 'default:deny');
  });
});

describe('audit mode', () => {
  const audited = [
    { name: 'audited', hosts: [APP], paths: ['/admin/**'], mode: 'audit', require: { groups: ['admins'] } },
    { name: 'app', hosts: [APP], require: { emailDomains: ['homelab.example.com'] } },
  ];

  test('compilePolicy: audit only with mode: audit', () => {
    assert.equal(compilePolicy({ mode: 'audit' }, { bearerProvider: false }).audit, true);
    assert.equal(compilePolicy({ mode: 'enforce' }, { bearerProvider: false }).audit, false);
    assert.equal(compilePolicy({}, { bearerProvider: false }).audit, false);
  });

  test('evaluatePolicy still reports the would-be denial', () => {
    const set = compilePolicySet(configOf({ routes: audited }));
    const selection = set.select(policyRequest('/admin/x'), undefined);
    assert.equal(selection.label, 'route:audited');
    assert.equal(selection.policy?.audit, true);
    assert.deepEqual(evaluatePolicy(selection.policy, USER, {}, policyRequest('/admin/x')), { allow: false, reason: 'group-not-allowed', requirement: 'require.groups' });
  });

  test('the gateway allows and logs the would-be denial', async () => {
    const gateway = createTestGateway(fixtureConfig({ routes: audited }), { user: USER });
    const verdict = await gateway.check('/admin/x', { who: 'user' });
    assert.equal(verdict.status, 202);
    assert.equal(verdict.reason, 'session-valid');
    const line = gateway.logs.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msg === 'audit: this request would be denied');
    assert.ok(line !== undefined, gateway.logs.join('\n'));
    assert.equal(line.reason, 'group-not-allowed');
    assert.equal(line.policy, 'route:audited');
    assert.equal(line.user, USER.email);
  });

  test('audit relaxes only the route policy: authentication and the global allow-list still apply', async () => {
    const outsider = identityOf({ email: 'x@evil.test', email_verified: true, groups: ['admins'] });
    const unverified = identityOf({ email: 'user@homelab.example.com', email_verified: false });
    const gateway = createTestGateway(fixtureConfig({ routes: audited }), { outsider, unverified });
    const anonymous = await gateway.check('/admin/x');
    assert.deepEqual([anonymous.status, anonymous.reason], [401, 'user-unauthenticated']);
    const foreign = await gateway.check('/admin/x', { who: 'outsider' });
    assert.deepEqual([foreign.status, foreign.reason], [403, 'email-not-allowed']);
    const notVerified = await gateway.check('/admin/x', { who: 'unverified' });
    assert.deepEqual([notVerified.status, notVerified.reason], [403, 'email-unverified']);
  });
});

describe('?policy=NAME: the proxy names the policy', () => {
  test('select returns that policy whatever the routes say', () => {
    for (const path of ['/public/x', '/admin', '/dashboard']) {
      const selection = FIXTURE.select(policyRequest(path), 'admins');
      assert.equal(selection.route, undefined);
      assert.equal(selection.label, 'policy:admins');
      assert.equal(selection.policy, FIXTURE.policies.get('admins'));
    }
    assert.deepEqual(decide(FIXTURE, FIXTURE_EMAIL_POLICY, '/public/x', USER, { policyName: 'admins' }), { label: 'policy:admins', kind: 'forbidden', reason: 'group-not-allowed' });
    assert.deepEqual(decide(FIXTURE, FIXTURE_EMAIL_POLICY, '/public/x', undefined, { policyName: 'admins' }), { label: 'policy:admins', kind: 'unauthenticated', reason: 'user-unauthenticated' });
    assert.deepEqual(decide(FIXTURE, FIXTURE_EMAIL_POLICY, '/public/x', ADMIN, { policyName: 'admins' }), { label: 'policy:admins', kind: 'allow', reason: 'session-valid' });
  });

  test('an unknown name selects no policy (deny), never the routes', () => {
    for (const name of ['nope', '', '__proto__', 'constructor', 'toString']) {
      const selection = FIXTURE.select(policyRequest('/public/x'), name);
      assert.equal(selection.policy, undefined, name);
      assert.equal(selection.label, 'policy:unknown', 'labels feed metrics: a client-chosen name never becomes one');
    }
  });

  const GATEWAY_CASES: readonly { search: string; who: string; status: number; reason: string; route: string }[] = [
    { search: '?policy=admins', who: 'user', status: 403, reason: 'group-not-allowed', route: 'policy:admins' },
    { search: '?policy=admins', who: 'admin', status: 202, reason: 'session-valid', route: 'policy:admins' },
    { search: '?policy=nope', who: 'admin', status: 403, reason: 'policy-unknown', route: 'policy:unknown' },
    { search: '?policy=', who: 'admin', status: 403, reason: 'policy-unknown', route: 'policy:unknown' },
    { search: '?policy=admins&policy=admins', who: 'admin', status: 403, reason: 'policy-unknown', route: 'policy:unknown' },
    { search: '?other=1', who: 'user', status: 202, reason: 'route-public', route: 'route:public' },
  ];
  for (const { search, who, status, reason, route } of GATEWAY_CASES) {
    test(`gateway: /oauth2/auth${search} for ${who} on /public/x → ${status} ${reason}`, async () => {
      const verdict = await GATEWAY.check('/public/x', { who, endpointSearch: search });
      assert.deepEqual([verdict.status, verdict.reason, verdict.route], [status, reason, route]);
    });
  }
});

describe('route order, matchers together, named policies', () => {
  test('the first matching route wins', () => {
    const first = { name: 'first', paths: ['/x/**'], auth: 'public' };
    const second = { name: 'second', paths: ['/x/y'], require: { groups: ['admins'] } };
    const forward = compilePolicySet(configOf({ routes: [first, second] }));
    assert.equal(forward.select(policyRequest('/x/y'), undefined).label, 'route:first');
    const backward = compilePolicySet(configOf({ routes: [second, first] }));
    assert.equal(backward.select(policyRequest('/x/y'), undefined).label, 'route:second');
    assert.equal(backward.select(policyRequest('/x/z'), undefined).label, 'route:first');
    assert.deepEqual(
      backward.routes.map((route) => [route.name, route.index]),
      [
        ['second', 0],
        ['first', 1],
      ],
    );
  });

  test('hosts, paths, methods and sources must all match', () => {
    const set = compilePolicySet(
      configOf({
        routes: [
          { name: 'lan-get', hosts: ['*.homelab.example.com'], paths: ['/cam/**'], methods: ['GET'], sources: ['192.168.0.0/16', 'fd00::/8'], auth: 'public' },
          { name: 'rest', require: { groups: ['admins'] } },
        ],
      }),
    );
    const CASES: readonly { request: Parameters<typeof policyRequest>[1] & { path: string }; label: string }[] = [
      { request: { path: '/cam/1', ip: '192.168.1.5' }, label: 'route:lan-get' },
      { request: { path: '/cam/1', ip: '::ffff:192.168.1.5' }, label: 'route:lan-get' },
      { request: { path: '/cam/1', ip: 'fd00::5', method: 'HEAD' }, label: 'route:lan-get' },
      { request: { path: '/cam/1', ip: '10.0.0.5' }, label: 'route:rest' },
      { request: { path: '/cam/1', ip: 'unknown' }, label: 'route:rest' },
      { request: { path: '/cam/1', ip: '192.168.1.5', method: 'POST' }, label: 'route:rest' },
      { request: { path: '/cam/1', ip: '192.168.1.5', host: 'homelab.example.com' }, label: 'route:rest' },
      { request: { path: '/camera', ip: '192.168.1.5' }, label: 'route:rest' },
    ];
    for (const { request, label } of CASES) assert.equal(set.select(policyRequest(request.path, request), undefined).label, label, JSON.stringify(request));
  });

  test('policy: NAME applies the named policy', () => {
    const set = compilePolicySet(configOf({ policies: { admins: { require: { groups: ['admins'] } } }, routes: [{ name: 'r', paths: ['/p/**'], policy: 'admins' }] }));
    const selection = set.select(policyRequest('/p/x'), undefined);
    assert.equal(selection.label, 'route:r');
    assert.equal(selection.route?.policyName, 'admins');
    assert.equal(selection.policy, set.policies.get('admins'));
    assert.equal(evaluatePolicy(selection.policy!, USER, {}, policyRequest('/p/x')).allow, false);
    assert.equal(evaluatePolicy(selection.policy!, ADMIN, {}, policyRequest('/p/x')).allow, true);
  });

  /**
   * `auth: public` answers before any requirement is evaluated, so requirements on a public route would
   * be silently ignored: an `allow: request.ip in cidr(...)` meant to keep a route LAN-only would let
   * everyone in. Either the configuration is refused or the requirements hold.
   */
  for (const [field, value] of [
    ['allow', 'request.ip in cidr("192.168.0.0/16")'],
    ['deny', '!(request.ip in cidr("192.168.0.0/16"))'],
    ['require', { groups: ['admins'] }],
  ] as const) {
    test(`a public route with ${field} is refused at load, or enforces it`, async () => {
      const config = configOf({ routes: [{ name: 'lan-only', paths: ['/cam/**'], auth: 'public', [field]: value }, { name: 'rest' }] });
      try {
        compilePolicySet(config);
      } catch (error) {
        assert.ok(error instanceof PolicyCompileError, String(error));
        assert.ok(error.problems.some((problem) => problem.path.startsWith('routes[0]')), error.message);
        return;
      }
      const verdict = await createTestGateway(config, { user: USER }).check('/cam/1');
      assert.notEqual(verdict.status, 202, `a request from 10.0.0.7 was allowed: ${verdict.reason}`);
    });
  }

  test('a public route accepts no credentials; the default accepts the session', () => {
    const publicRoute = FIXTURE.routes.find((route) => route.name === 'public')!;
    assert.deepEqual(publicRoute.policy.auth, { public: true, session: false, bearer: [] });
    const bearerOnly = compilePolicy({ auth: ['bearer:provider'] }, { bearerProvider: true });
    assert.deepEqual(bearerOnly.auth, { public: false, session: false, bearer: ['provider'] });
  });
});

describe('compile problems', () => {
  function problemsOf(input: Record<string, unknown>): readonly { path: string; message: string }[] {
    try {
      compilePolicySet(configOf(input));
    } catch (error) {
      assert.ok(error instanceof PolicyCompileError, String(error));
      return error.problems;
    }
    assert.fail('compiled');
  }

  for (const [field, value] of [
    ['auth', 'public'],
    ['require', { groups: ['admins'] }],
    ['allow', 'true'],
    ['deny', 'false'],
    ['mode', 'audit'],
  ] as const) {
    test(`naming a policy and setting ${field} inline`, () => {
      const problems = problemsOf({ policies: { p: {} }, routes: [{ name: 'r', policy: 'p', [field]: value }] });
      assert.equal(problems.length, 1);
      assert.equal(problems[0]?.path, 'routes[0].policy');
      assert.match(problems[0].message, new RegExp(`names a policy and also sets ${field}`));
    });
  }

  test('naming a policy that does not exist', () => {
    assert.deepEqual(problemsOf({ routes: [{ name: 'r', policy: 'nope' }] }), [{ path: 'routes[0].policy', message: "names the policy 'nope', which is not defined in policies" }]);
  });

  test('duplicate route names', () => {
    const problems = problemsOf({ routes: [{ name: 'r' }, { name: 'other' }, { name: 'r' }] });
    assert.deepEqual(
      problems.map((problem) => problem.path),
      ['routes[2].name'],
    );
  });

  test('every problem at once, each with its path', () => {
    const problems = problemsOf({
      policies: { p: { allow: 'identity.emial == "x"' } },
      forwardAuth: { skipAuthRoutes: ['^/ok$', '^/bad('] },
      routes: [
        { name: 'a', hosts: ['bad host'] },
        { name: 'b', paths: ['/a/**/b/**'], methods: ['G T'], sources: ['nowhere'] },
        { name: 'c', deny: '1 + 2' },
        { name: 'a' },
      ],
    });
    assert.deepEqual(
      problems.map((problem) => problem.path),
      ['policies.p', 'forwardAuth.skipAuthRoutes[1]', 'routes[0].hosts', 'routes[1].paths', 'routes[1].methods', 'routes[1].sources', 'routes[2]', 'routes[3].name'],
    );
    assert.match(problems.find((problem) => problem.path === 'policies.p')?.message ?? '', /^allow: .*emial/s);
  });
});
