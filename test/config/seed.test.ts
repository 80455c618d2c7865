/**
 * The seed deployment: the oauth2-proxy Helm chart's `extraEnv` block, verbatim, plus the three variables its
 * `existingSecret` supplies (client-id, client-secret, cookie-secret). It must load unchanged into the
 * native model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.js';
import { COOKIE_SECRET } from './support.js';

/** The seed's `extraEnv`, in the seed's order. */
const SEED_EXTRA_ENV: Readonly<Record<string, string>> = {
  OAUTH2_PROXY_AUTH_LOGGING: 'true',
  OAUTH2_PROXY_REQUEST_LOGGING: 'true',
  OAUTH2_PROXY_STANDARD_LOGGING: 'true',
  OAUTH2_PROXY_SILENCE_PING_LOGGING: 'true',
  OAUTH2_PROXY_PROVIDER: 'oidc',
  OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://example.eu.auth0.com/',
  OAUTH2_PROXY_EMAIL_DOMAINS: 'farcaller.net',
  OAUTH2_PROXY_COOKIE_HTTPONLY: 'true',
  OAUTH2_PROXY_COOKIE_REFRESH: '1h',
  OAUTH2_PROXY_COOKIE_SECURE: 'true',
  OAUTH2_PROXY_COOKIE_DOMAINS: '.homelab.example.com',
  OAUTH2_PROXY_SET_AUTHORIZATION_HEADER: 'true',
  OAUTH2_PROXY_SKIP_PROVIDER_BUTTON: 'true',
  OAUTH2_PROXY_SKIP_AUTH_STRIP_HEADERS: 'false',
  OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true',
  OAUTH2_PROXY_UPSTREAMS: 'static://202',
  OAUTH2_PROXY_REVERSE_PROXY: 'true',
  OAUTH2_PROXY_REDIRECT_URL: '/oauth2/callback',
  OAUTH2_PROXY_CODE_CHALLENGE_METHOD: 'S256',
};

/** What the chart's `existingSecret: auth0-secrets` maps in (proxyVarsAsSecrets). */
const EXISTING_SECRET_ENV: Readonly<Record<string, string>> = {
  OAUTH2_PROXY_CLIENT_ID: 'auth0-client-id',
  OAUTH2_PROXY_CLIENT_SECRET: 'auth0-client-secret',
  OAUTH2_PROXY_COOKIE_SECRET: COOKIE_SECRET,
};

const SEED_ENV = { ...SEED_EXTRA_ENV, ...EXISTING_SECRET_ENV };

test('the seed environment loads into the expected native configuration', () => {
  const loaded = loadConfig({ env: SEED_ENV });
  assert.deepEqual(loaded.config, {
    listen: '127.0.0.1:4180',
    metrics: { listen: '' },
    shutdownTimeout: 10_000,
    provider: {
      type: 'oidc',
      issuer: 'https://example.eu.auth0.com/',
      clientId: 'auth0-client-id',
      clientSecret: 'auth0-client-secret',
      scopes: ['openid', 'email', 'profile'],
      pkce: 'S256',
      claims: { email: 'email', groups: 'groups', username: 'preferred_username' },
      extraAudiences: [],
      insecureAllowUnverifiedEmail: false,
      displayName: '',
      endSessionRedirect: false,
      backchannelLogout: false,
      timeout: 5_000,
    },
    cookie: {
      name: '_gatehouse',
      secrets: [COOKIE_SECRET],
      domains: ['.homelab.example.com'],
      path: '/',
      expire: 604_800_000,
      refresh: 3_600_000,
      secure: true,
      httpOnly: true,
      sameSite: 'lax',
      csrfExpire: 900_000,
    },
    session: {
      store: 'cookie',
      redis: {
        url: '',
        username: '',
        password: '',
        useSentinel: false,
        sentinelMasterName: '',
        sentinelUrls: [],
        sentinelPassword: '',
        useCluster: false,
        clusterUrls: [],
        caPath: '',
        insecureSkipTlsVerify: false,
        idleTimeout: 0,
        keyPrefix: 'gatehouse:',
      },
    },
    proxy: {
      reverseProxy: true,
      trusted: [],
      headers: 'x-forwarded',
      redirectUrl: '/oauth2/callback',
      allowedRedirectDomains: [],
    },
    forwardAuth: {
      status: 202,
      skipProviderButton: true,
      forceJsonErrors: false,
      apiRoutes: [],
      skipAuthRoutes: [],
      skipAuthPreflight: false,
      reasonHeader: true,
    },
    identityHeaders: { authorization: true, xAuthRequest: false, accessToken: false },
    authorization: { emailDomains: ['farcaller.net'], emails: [], emailsFile: '', groups: [] },
    bearer: { provider: true, extraIssuers: [], profiles: {}, publishKeys: [] },
    logging: { format: 'auto', level: 'info', auth: true, requests: true, standard: true, silencePing: true },
    diagnostics: { token: '' },
    tracing: { endpoint: '', serviceName: 'gatehouse', samplePercent: 100 },
    envoy: { pathPrefix: '' },
    routes: [],
    policies: {},
    routeDefault: 'auto',
  });
});

test('the seed environment yields exactly the two expected warnings', () => {
  const { warnings } = loadConfig({ env: SEED_ENV });
  assert.equal(warnings.length, 2, warnings.join('\n'));
  const [strip, proxy] = warnings;
  assert.match(strip!, /^OAUTH2_PROXY_SKIP_AUTH_STRIP_HEADERS is accepted for oauth2-proxy compatibility and has no effect/);
  assert.match(proxy!, /proxy\.reverseProxy is on and proxy\.trusted is empty/);
  assert.match(proxy!, /loopback and private networks/);
  assert.match(proxy!, /OAUTH2_PROXY_TRUSTED_PROXY_IPS/);
});

test('every seed value is attributed to the variable that set it', () => {
  const { origins } = loadConfig({ env: SEED_ENV });
  const expected: Record<string, string> = {
    'logging.auth': 'OAUTH2_PROXY_AUTH_LOGGING',
    'logging.requests': 'OAUTH2_PROXY_REQUEST_LOGGING',
    'logging.standard': 'OAUTH2_PROXY_STANDARD_LOGGING',
    'logging.silencePing': 'OAUTH2_PROXY_SILENCE_PING_LOGGING',
    'provider.issuer': 'OAUTH2_PROXY_OIDC_ISSUER_URL',
    'provider.clientId': 'OAUTH2_PROXY_CLIENT_ID',
    'provider.clientSecret': 'OAUTH2_PROXY_CLIENT_SECRET',
    'provider.pkce': 'OAUTH2_PROXY_CODE_CHALLENGE_METHOD',
    'authorization.emailDomains': 'OAUTH2_PROXY_EMAIL_DOMAINS',
    'cookie.httpOnly': 'OAUTH2_PROXY_COOKIE_HTTPONLY',
    'cookie.refresh': 'OAUTH2_PROXY_COOKIE_REFRESH',
    'cookie.secure': 'OAUTH2_PROXY_COOKIE_SECURE',
    'cookie.domains': 'OAUTH2_PROXY_COOKIE_DOMAINS',
    'cookie.secrets': 'OAUTH2_PROXY_COOKIE_SECRET',
    'identityHeaders.authorization': 'OAUTH2_PROXY_SET_AUTHORIZATION_HEADER',
    'forwardAuth.skipProviderButton': 'OAUTH2_PROXY_SKIP_PROVIDER_BUTTON',
    'bearer.provider': 'OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS',
    'forwardAuth.status': 'OAUTH2_PROXY_UPSTREAMS',
    'proxy.reverseProxy': 'OAUTH2_PROXY_REVERSE_PROXY',
    'proxy.redirectUrl': 'OAUTH2_PROXY_REDIRECT_URL',
  };
  for (const [path, name] of Object.entries(expected)) assert.deepEqual(origins.get(path), { kind: 'env', name }, path);
  for (const [path, origin] of origins) {
    if (!(path in expected)) assert.deepEqual(origin, { kind: 'default' }, path);
  }
});
