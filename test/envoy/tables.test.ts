/**
 * The policy and bearer-token features work unchanged in Envoy's ext_authz mode, shown by running the
 * routes-and-policies table and the machine-token table through one real gatehouse twice: once as Traefik's
 * forwardAuth sends a check (`GET /` with X-Forwarded-Method/-Proto/-Host/-Uri/-For) and once as Envoy's
 * ext_authz does (the original method, `/ext-authz` + the original path, the original Host; see
 * ./support.ts). Each case must get the same decision both ways: an allow is 202 for Traefik and exactly 200
 * for Envoy, with the same identity headers; a denial has the same status, reason code
 * (X-Gatehouse-Reason), challenge and body; and the request log names the same route.
 *
 * The routes-and-policies cases are test/policy/routes.test.ts's (the catalogue's POL-01..POL-21 on the
 * policy fixture of test/policy/support.ts, whose `decide` is the expected outcome), minus the forms no
 * HTTP request can carry: raw non-Latin-1 characters, raw spaces and controls, lower-case methods and an
 * empty path, which Envoy's codec (and node's) refuses before any check. The machine-token cases are the
 * seed's (test/jwt/seed.test.ts): its `vmcluster-jwt` profile and token, another audience, expiry, another
 * key, no token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { stringify } from 'yaml';
import { startDevProvider, type DevProvider } from '../../src/devidp/index.js';
import { compilePolicySet } from '../../src/policy/routes.js';
import { login } from '../support/gatehouse-fixture.js';
import { Browser, send, type RawResponse } from '../support/http-client.js';
import { ADMIN, decide, FIXTURE_EMAIL_POLICY, FIXTURE_ROUTES, fixtureConfig, STATUS_OF, USER, type Outcome } from '../policy/support.js';
import { atEdge, checkAsEnvoy, cookiesOf, headerOf, requestLog, type YamlGatehouse, startYamlGatehouse } from './support.js';

const APP = 'app.homelab.example.com';
const VMINSERT = 'vminsert.homelab.example.com';
const SEED = { issuer: 'https://jwts.farcaller.net', kid: 'vicmet', sub: 'homekit', iat: 1719591241, exp: 2540042041 } as const;
const CLIENT = '198.51.100.23';
const FIXTURE = compilePolicySet(fixtureConfig());

/** One check of the original request `method host uri` with `headers`. */
interface Check {
  readonly method: string;
  readonly host: string;
  readonly uri: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** The same check both ways, with a request id each so their log lines can be compared. */
async function bothWays(gatehouse: YamlGatehouse, check: Check): Promise<{ traefik: RawResponse; envoy: RawResponse; traefikLog: Record<string, unknown>; envoyLog: Record<string, unknown> }> {
  const id = Math.random().toString(36).slice(2);
  const traefik = await send({
    port: gatehouse.port,
    path: '/',
    headers: {
      host: `127.0.0.1:${gatehouse.port}`,
      ...check.headers,
      // Traefik writes these itself, over anything the client sent.
      'x-forwarded-method': check.method,
      'x-forwarded-proto': 'https',
      'x-forwarded-host': check.host,
      'x-forwarded-uri': check.uri,
      'x-forwarded-for': CLIENT,
      'x-request-id': `traefik-${id}`,
    },
  });
  const envoy = await checkAsEnvoy(gatehouse.port, atEdge({ method: check.method, host: check.host, path: check.uri, headers: { ...check.headers, 'x-request-id': `envoy-${id}` } }, CLIENT));
  await new Promise((resolve) => setImmediate(resolve));
  const traefikLog = requestLog(gatehouse.logs, `traefik-${id}`);
  const envoyLog = requestLog(gatehouse.logs, `envoy-${id}`);
  assert.ok(traefikLog !== undefined && envoyLog !== undefined, 'both checks were logged');
  return { traefik, envoy, traefikLog, envoyLog };
}

const IDENTITY_HEADERS = ['x-auth-request-user', 'x-auth-request-email', 'x-auth-request-groups', 'x-auth-request-preferred-username', 'gap-auth', 'x-device'];

/** Asserts one decision both ways: 202 ↔ 200 with the same identity, or the same denial. */
function assertSameDecision(label: string, traefik: RawResponse, envoy: RawResponse): void {
  if (traefik.status === 202) {
    assert.equal(envoy.status, 200, `${label}: Traefik allowed (202), Envoy must get exactly 200; got ${envoy.status} ${envoy.body}`);
    for (const name of IDENTITY_HEADERS) assert.equal(headerOf(envoy, name), headerOf(traefik, name), `${label}: ${name}`);
    return;
  }
  assert.ok(traefik.status < 200 || traefik.status > 299, `${label}: Traefik got ${traefik.status}`);
  assert.equal(envoy.status, traefik.status, `${label}: status (${envoy.body})`);
  for (const name of ['x-gatehouse-reason', 'www-authenticate', 'location', 'content-type']) assert.equal(headerOf(envoy, name), headerOf(traefik, name), `${label}: ${name}`);
  if (!(headerOf(traefik, 'content-type') ?? '').startsWith('text/html')) assert.equal(envoy.body, traefik.body, `${label}: body`);
}

/** A routes-and-policies case: the original request, as in test/policy/routes.test.ts. */
interface RouteCase {
  readonly id: string;
  readonly uri: string;
  readonly method?: string;
  readonly host?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const ROUTE_CASES: readonly RouteCase[] = [
  { id: 'fixture', uri: '/public/index.html' },
  { id: 'fixture', uri: '/public' },
  { id: 'fixture', uri: '/api/v1/status' },
  { id: 'fixture', uri: '/admin' },
  { id: 'fixture', uri: '/admin/users?page=2' },
  { id: 'fixture', uri: '/dashboard' },
  { id: 'fixture', uri: '/' },
  { id: 'fixture', uri: '/publicity' },
  { id: 'fixture', uri: '/administrator' },
  { id: 'POL-01', uri: '/public/../admin/secrets' },
  { id: 'POL-01', uri: '/public/./../admin' },
  { id: 'POL-02', uri: '/public/%2e%2e/admin' },
  { id: 'POL-02', uri: '/public/%2E%2E/admin' },
  { id: 'POL-02', uri: '/public/..%2fadmin' },
  { id: 'POL-02', uri: '/public/%2e%2e%2fadmin' },
  { id: 'POL-02', uri: '/public/.%2e/admin' },
  { id: 'POL-02', uri: '/public/%252e%252e/admin' },
  { id: 'POL-03', uri: '/./admin/secret' },
  { id: 'POL-03', uri: '/admin/./secret' },
  { id: 'POL-03', uri: '/api%2e/admin/secret' },
  { id: 'POL-04', uri: '//admin/secret' },
  { id: 'POL-04', uri: '/admin//secret' },
  { id: 'POL-04', uri: '///admin' },
  { id: 'POL-04', uri: '//public/../admin' },
  { id: 'POL-05', uri: '/admin%2Fsecret' },
  { id: 'POL-05', uri: '/public%2F..%2Fadmin' },
  { id: 'POL-05', uri: '/admin%5Csecret' },
  { id: 'POL-05', uri: '/public\\..\\admin' },
  { id: 'POL-05', uri: '/public/..%5cadmin' },
  { id: 'POL-05', uri: '/admin%3Bx' },
  { id: 'POL-06', uri: '/Admin/secret' },
  { id: 'POL-06', uri: '/ADMIN' },
  { id: 'POL-06', uri: '/%61dmin' },
  { id: 'POL-06', uri: '/%41dmin' },
  { id: 'POL-06', uri: '/PUBLIC/../ADMIN' },
  { id: 'POL-07', uri: '/api/private/sensitive?path=/status' },
  { id: 'POL-07', uri: '/admin?x=/public/' },
  { id: 'POL-07', uri: '/admin?/public' },
  { id: 'POL-08', uri: '/admin#/public/' },
  { id: 'POL-08', uri: '/admin%23/public/x' },
  { id: 'POL-08', uri: '/public/secret%23/endpoint' },
  { id: 'POL-09', uri: '/admin;jsessionid=x' },
  { id: 'POL-09', uri: '/public/..;/admin' },
  { id: 'POL-09', uri: '/public..;/admin/' },
  { id: 'POL-09', uri: '/admin;/' },
  { id: 'POL-10', uri: '/admin%00' },
  { id: 'POL-10', uri: '/public%00/../admin' },
  { id: 'POL-10', uri: '/admin%20' },
  { id: 'POL-10', uri: '/admin%09' },
  { id: 'POL-10', uri: '/admin/%0d%0a' },
  { id: 'POL-11', uri: '/%c0%afadmin' },
  { id: 'POL-11', uri: '/public/%c0%ae%c0%ae/admin' },
  { id: 'POL-11', uri: '/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E' },
  { id: 'POL-13', uri: '/', host: 'new.homelab.example.com' },
  { id: 'POL-13', uri: '/public/x', host: 'new.homelab.example.com' },
  { id: 'POL-13', uri: '/', host: 'homelab.example.com' },
  { id: 'POL-14', uri: '/api/v1/status', method: 'HEAD' },
  { id: 'POL-14', uri: '/api/v1/status', method: 'POST' },
  { id: 'POL-14', uri: '/api/v1/status', method: 'PUT' },
  { id: 'POL-14', uri: '/api/v1/status', method: 'DELETE' },
  { id: 'POL-14', uri: '/api/v1/status?_method=GET', method: 'POST', headers: { 'x-http-method-override': 'GET', 'x-method-override': 'GET' } },
  { id: 'POL-14', uri: '/api/v1/status/' },
  { id: 'POL-21', uri: '/oauth2/callback/../../admin' },
  { id: 'POL-21', uri: '/oauth2/start/..%2fadmin' },
  { id: 'POL-21', uri: '/.well-known/../admin' },
  { id: 'POL-21', uri: '/oauth2/auth' },
];

/** A gatehouse with the catalogue's fixture routes and the seed's vminsert route, and its provider. */
async function startTables(pem: string): Promise<{ idp: DevProvider; gatehouse: YamlGatehouse }> {
  const idp = await startDevProvider({ redirectUris: [`https://${APP}/oauth2/callback`] });
  try {
    const gatehouse = await startYamlGatehouse(
      stringify({
        bearer: { profiles: { homekit: { issuers: [SEED.issuer], skipPrefetch: true, secrets: { [SEED.kid]: pem }, require: { aud: VMINSERT }, headerMap: { 'X-Device': 'sub' } } } },
        policies: { admins: { require: { groups: ['admins'] } } },
        routes: [...FIXTURE_ROUTES, { name: 'vminsert', hosts: [VMINSERT], auth: ['bearer:homekit'] }],
      }),
      idp,
    );
    return { idp, gatehouse };
  } catch (error) {
    await idp.close();
    throw error;
  }
}

/** Signs in through a Traefik-style browser (the session is the same whichever proxy is in front). */
async function signIn(gatehouse: YamlGatehouse, idp: DevProvider, account: { email: string; groups: string }): Promise<string> {
  const issuer = new URL(idp.issuer);
  const browser = new Browser((url) =>
    url.origin === issuer.origin
      ? { port: Number(issuer.port), headers: { host: url.host } }
      : { port: gatehouse.port, headers: { host: `127.0.0.1:${gatehouse.port}`, 'x-forwarded-proto': 'https', 'x-forwarded-host': url.host } },
  );
  const { final } = await login(browser, account, `https://${APP}/dashboard`);
  assert.equal(final.status, 202, final.body);
  return cookiesOf(browser, `https://${APP}`);
}

let privateKey: CryptoKey;
let other: CryptoKey;
let idp: DevProvider;
let gatehouse: YamlGatehouse;
const cookies: Record<'anonymous' | 'user' | 'admin', string | undefined> = { anonymous: undefined, user: undefined, admin: undefined };

before(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey;
  other = (await generateKeyPair('ES256')).privateKey;
  const pem = (await exportSPKI(pair.publicKey)).replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '-----$1 EC PUBLIC KEY-----');
  ({ idp, gatehouse } = await startTables(pem));
  cookies.user = await signIn(gatehouse, idp, { email: 'user@homelab.example.com', groups: 'staff' });
  cookies.admin = await signIn(gatehouse, idp, { email: 'admin@homelab.example.com', groups: 'admins' });
});
after(async () => {
  await gatehouse.close();
  await idp.close();
});

const WHO = [
  ['anonymous', undefined],
  ['user', USER],
  ['admin', ADMIN],
] as const;

/** The status the fixture's outcome gets in each mode. */
const statusFor = (kind: Outcome['kind'], mode: 'traefik' | 'envoy') => (kind === 'allow' ? (mode === 'traefik' ? 202 : 200) : STATUS_OF[kind]);

describe('routes and policies: the same decision as a Traefik forward-auth check and as an Envoy ext_authz check', () => {
  for (const { id, uri, method = 'GET', host = APP, headers = {} } of ROUTE_CASES) {
    test(`${id} ${method} ${JSON.stringify(uri)}${host === APP ? '' : ` on ${host}`}`, async () => {
      for (const [who, identity] of WHO) {
        const expected = decide(FIXTURE, FIXTURE_EMAIL_POLICY, uri, identity, { method, host, headers });
        const cookie = cookies[who];
        const check: Check = { method, host, uri, headers: { ...headers, accept: 'application/json', 'sec-fetch-mode': 'cors', ...(cookie === undefined ? {} : { cookie }) } };
        const { traefik, envoy, traefikLog, envoyLog } = await bothWays(gatehouse, check);
        const label = `${who}: expected ${expected.kind} (${expected.reason}, ${expected.label})`;
        assert.equal(traefik.status, statusFor(expected.kind, 'traefik'), `${label}, Traefik got ${traefik.status} ${traefik.body}`);
        assert.equal(envoy.status, statusFor(expected.kind, 'envoy'), `${label}, Envoy got ${envoy.status} ${envoy.body}`);
        assertSameDecision(label, traefik, envoy);
        if (expected.kind !== 'allow') assert.equal(headerOf(envoy, 'x-gatehouse-reason'), expected.reason, label);
        for (const log of [traefikLog, envoyLog]) {
          assert.equal(log.reason, expected.reason, `${label}: logged reason`);
          if (expected.kind !== 'bad') assert.equal(log.route, expected.label, `${label}: logged route`);
        }
        if (expected.kind === 'unauthenticated') {
          // A person's page load: the same 302 to the sign-in on the original host either way.
          const page = await bothWays(gatehouse, { ...check, headers: { ...headers, accept: 'text/html', 'sec-fetch-mode': 'navigate' } });
          assert.equal(page.traefik.status, 302, `${who}: page load`);
          assertSameDecision(`${who}: page load`, page.traefik, page.envoy);
          assert.equal(new URL(headerOf(page.envoy, 'location') ?? '').host, host);
        }
      }
    });
  }
});

/** A machine-token case of the seed's vminsert route. */
interface TokenCase {
  readonly name: string;
  readonly token: () => Promise<string | undefined>;
  readonly status: number;
  readonly reason?: string;
  readonly challenge?: RegExp;
  readonly headers?: Readonly<Record<string, string>>;
}

const now = () => Math.floor(Date.now() / 1000);
const seedPayload = (extra: Record<string, unknown> = {}) => ({ iss: SEED.issuer, sub: SEED.sub, aud: VMINSERT, iat: SEED.iat, exp: SEED.exp, ...extra });
const signWith = (key: CryptoKey, payload: Record<string, unknown>, kid: string = SEED.kid) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(key);

const TOKEN_CASES: readonly TokenCase[] = [
  { name: "the seed's token", token: () => signWith(privateKey, seedPayload()), status: 200 },
  {
    name: 'another audience, freshly issued: 403 insufficient_scope',
    token: () => signWith(privateKey, seedPayload({ aud: 'vmselect.homelab.example.com', iat: now() })),
    status: 403,
    reason: 'bearer-claim-not-allowed',
    challenge: /^Bearer error="insufficient_scope", error_description="claim aud is not valid"$/,
  },
  {
    name: "another audience with the seed's 2024 iat (older than freshness): 401",
    token: () => signWith(privateKey, seedPayload({ aud: 'vmselect.homelab.example.com' })),
    status: 401,
    reason: 'bearer-claim-not-allowed',
    challenge: /^Bearer error="invalid_token"/,
  },
  { name: 'expired: 401', token: () => signWith(privateKey, seedPayload({ iat: now() - 7200, exp: now() - 3600 })), status: 401, reason: 'bearer-invalid', challenge: /^Bearer error="invalid_token", error_description="token expired"$/ },
  { name: 'signed by another key: 401', token: () => signWith(other, seedPayload()), status: 401, reason: 'bearer-invalid', challenge: /^Bearer error="invalid_token"/ },
  { name: 'an unknown kid: 401', token: () => signWith(privateKey, seedPayload(), 'other-kid'), status: 401, reason: 'bearer-invalid', challenge: /^Bearer error="invalid_token"/ },
  { name: 'another issuer: 401', token: () => signWith(privateKey, seedPayload({ iss: 'https://jwts.example.com' })), status: 401, reason: 'bearer-invalid', challenge: /^Bearer error="invalid_token"/ },
  { name: 'not a JWT: 401', token: () => Promise.resolve('not-a-jwt'), status: 401, reason: 'bearer-invalid', challenge: /^Bearer error="invalid_token"/ },
  { name: 'no token: 401 bearer-missing', token: () => Promise.resolve(undefined), status: 401, reason: 'bearer-missing', challenge: /^Bearer realm="gatehouse"$/ },
  { name: 'no token, a page load: 401, never a redirect', token: () => Promise.resolve(undefined), status: 401, reason: 'bearer-missing', challenge: /^Bearer realm="gatehouse"$/, headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } },
];

describe("machine tokens (the seed's vminsert profile): the same answer as a Traefik forward-auth check and as an Envoy ext_authz check", () => {
  for (const { name, token, status, reason, challenge, headers = {} } of TOKEN_CASES) {
    test(name, async () => {
      const value = await token();
      for (const method of ['POST', 'GET']) {
        const check: Check = { method, host: VMINSERT, uri: '/api/v1/import/prometheus', headers: { 'content-type': 'text/plain', ...headers, ...(value === undefined ? {} : { authorization: `Bearer ${value}` }) } };
        const { traefik, envoy, traefikLog, envoyLog } = await bothWays(gatehouse, check);
        const label = `${method} ${name}`;
        assert.equal(envoy.status, status, `${label}: Envoy got ${envoy.status} ${envoy.body}`);
        assert.equal(traefik.status, status === 200 ? 202 : status, `${label}: Traefik got ${traefik.status}`);
        assertSameDecision(label, traefik, envoy);
        assert.equal(traefikLog.route, 'route:vminsert');
        assert.equal(envoyLog.route, 'route:vminsert');
        if (status === 200) {
          assert.equal(headerOf(envoy, 'x-auth-request-user'), SEED.sub);
          assert.equal(headerOf(envoy, 'x-device'), SEED.sub);
          continue;
        }
        assert.equal(headerOf(envoy, 'x-gatehouse-reason'), reason, label);
        assert.match(headerOf(envoy, 'www-authenticate') ?? '', challenge ?? /^Bearer/, label);
        assert.equal(headerOf(envoy, 'location'), undefined, label);
        assert.equal(headerOf(envoy, 'x-auth-request-user'), undefined, label);
      }
    });
  }
});
