/**
 * Every configuration problem code, each triggered at least once with its code and path asserted; and the
 * promise that every problem from every source is reported in one go.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, formatProblems, loadConfig, type LoadOptions } from '../../src/config/index.js';
import { COOKIE_SECRET, COOKIE_SECRET_RAW_24, problemsOf, PROVIDER_ENV, tempDir } from './support.js';

const files = tempDir();

function withoutKey(env: Readonly<Record<string, string>>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([key]) => key !== name));
}

/** One way to trigger one problem. */
interface Case {
  readonly name: string;
  readonly code: string;
  readonly path: string;
  readonly options: () => LoadOptions;
  /** Expected `source` of the problem, when it has one. */
  readonly source?: string;
}

const CASES: readonly Case[] = [
  // validate.ts
  { name: 'listen is not host:port', code: 'ERR_CONFIG_LISTEN_INVALID', path: 'listen', options: () => ({ env: { GATEHOUSE_LISTEN: 'localhost' } }), source: 'env GATEHOUSE_LISTEN' },
  { name: 'listen port out of range', code: 'ERR_CONFIG_LISTEN_INVALID', path: 'listen', options: () => ({ env: { OAUTH2_PROXY_HTTP_ADDRESS: '127.0.0.1:70000' } }), source: 'env OAUTH2_PROXY_HTTP_ADDRESS' },
  { name: 'metrics.listen on the main port', code: 'ERR_CONFIG_LISTEN_CONFLICT', path: 'metrics.listen', options: () => ({ env: { GATEHOUSE_METRICS_LISTEN: '127.0.0.1:4180' } }), source: 'env GATEHOUSE_METRICS_LISTEN' },
  { name: 'a secret inline and from a file', code: 'ERR_CONFIG_SECRET_TWICE', path: 'provider.clientSecretFile', options: () => ({ env: {}, file: files.write('secret-twice.yaml', `provider:\n  clientSecret: inline\n  clientSecretFile: ${files.write('twice-secret', 'from-file\n')}\n`) }) },
  { name: 'metrics.listen is not host:port', code: 'ERR_CONFIG_LISTEN_INVALID', path: 'metrics.listen', options: () => ({ env: { GATEHOUSE_METRICS_LISTEN: 'metrics' } }) },
  { name: 'development provider on every interface', code: 'ERR_CONFIG_DEV_PROVIDER_EXPOSED', path: 'provider.issuer', options: () => ({ env: { GATEHOUSE_LISTEN: ':4180' } }) },
  { name: 'development provider on a public address', code: 'ERR_CONFIG_DEV_PROVIDER_EXPOSED', path: 'provider.issuer', options: () => ({ env: {}, flags: [{ name: 'http-address', text: '0.0.0.0:4180' }] }) },
  { name: 'issuer is not a URL', code: 'ERR_CONFIG_ISSUER_INVALID', path: 'provider.issuer', options: () => ({ env: { ...PROVIDER_ENV, GATEHOUSE_PROVIDER_ISSUER: 'example.eu.auth0.com' } }), source: 'env GATEHOUSE_PROVIDER_ISSUER' },
  { name: 'issuer over plain http', code: 'ERR_CONFIG_ISSUER_INSECURE', path: 'provider.issuer', options: () => ({ env: { ...PROVIDER_ENV, GATEHOUSE_PROVIDER_ISSUER: 'http://idp.example.com/' } }) },
  { name: 'client id missing', code: 'ERR_CONFIG_CLIENT_ID_MISSING', path: 'provider.clientId', options: () => ({ env: withoutKey(PROVIDER_ENV, 'GATEHOUSE_PROVIDER_CLIENT_ID') }) },
  { name: 'client secret missing', code: 'ERR_CONFIG_CLIENT_SECRET_MISSING', path: 'provider.clientSecret', options: () => ({ env: withoutKey(PROVIDER_ENV, 'GATEHOUSE_PROVIDER_CLIENT_SECRET') }) },
  { name: 'cookie secret missing', code: 'ERR_CONFIG_COOKIE_SECRET_MISSING', path: 'cookie.secrets', options: () => ({ env: withoutKey(PROVIDER_ENV, 'GATEHOUSE_COOKIE_SECRETS') }) },
  { name: 'nobody may sign in', code: 'ERR_CONFIG_EMAIL_POLICY_MISSING', path: 'authorization.emailDomains', options: () => ({ env: withoutKey(PROVIDER_ENV, 'GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS') }) },
  { name: 'scopes without openid', code: 'ERR_CONFIG_SCOPE_OPENID', path: 'provider.scopes', options: () => ({ env: { GATEHOUSE_PROVIDER_SCOPES: 'email,profile' } }) },
  { name: 'cookie secret of 5 bytes', code: 'ERR_CONFIG_COOKIE_SECRET_LENGTH', path: 'cookie.secrets[0]', options: () => ({ env: { OAUTH2_PROXY_COOKIE_SECRET: 'short' } }), source: 'env OAUTH2_PROXY_COOKIE_SECRET' },
  { name: 'second cookie secret of 34 raw bytes', code: 'ERR_CONFIG_COOKIE_SECRET_LENGTH', path: 'cookie.secrets[1]', options: () => ({ env: { GATEHOUSE_COOKIE_SECRETS: `${COOKIE_SECRET},${'x!'.repeat(17)}` } }) },
  { name: 'cookie name with a space', code: 'ERR_CONFIG_COOKIE_NAME_INVALID', path: 'cookie.name', options: () => ({ env: { OAUTH2_PROXY_COOKIE_NAME: 'my cookie' } }) },
  { name: 'cookie domain in upper case', code: 'ERR_CONFIG_COOKIE_DOMAIN_INVALID', path: 'cookie.domains[1]', options: () => ({ env: { OAUTH2_PROXY_COOKIE_DOMAINS: '.example.com,.Example.ORG' } }) },
  { name: 'cookie domain with a port', code: 'ERR_CONFIG_COOKIE_DOMAIN_INVALID', path: 'cookie.domains[0]', options: () => ({ env: { OAUTH2_PROXY_COOKIE_DOMAINS: 'example.com:443' } }) },
  { name: 'relative cookie path', code: 'ERR_CONFIG_COOKIE_PATH_INVALID', path: 'cookie.path', options: () => ({ env: { OAUTH2_PROXY_COOKIE_PATH: 'app' } }) },
  { name: 'cookie expire 0', code: 'ERR_CONFIG_COOKIE_EXPIRE_ZERO', path: 'cookie.expire', options: () => ({ env: { GATEHOUSE_COOKIE_EXPIRE: '0s' } }) },
  { name: 'refresh longer than expire', code: 'ERR_CONFIG_COOKIE_REFRESH_TOO_LONG', path: 'cookie.refresh', options: () => ({ env: { OAUTH2_PROXY_COOKIE_REFRESH: '200h' } }), source: 'env OAUTH2_PROXY_COOKIE_REFRESH' },
  { name: 'refresh equal to expire', code: 'ERR_CONFIG_COOKIE_REFRESH_TOO_LONG', path: 'cookie.refresh', options: () => ({ env: { OAUTH2_PROXY_COOKIE_REFRESH: '1h', OAUTH2_PROXY_COOKIE_EXPIRE: '60m' } }) },
  { name: 'SameSite=None without Secure', code: 'ERR_CONFIG_SAMESITE_NONE_INSECURE', path: 'cookie.sameSite', options: () => ({ env: { OAUTH2_PROXY_COOKIE_SAMESITE: 'none', OAUTH2_PROXY_COOKIE_SECURE: 'false' } }) },
  { name: 'CSRF expire under a minute', code: 'ERR_CONFIG_CSRF_EXPIRE_RANGE', path: 'cookie.csrfExpire', options: () => ({ env: { OAUTH2_PROXY_COOKIE_CSRF_EXPIRE: '30s' } }) },
  { name: 'CSRF expire over an hour', code: 'ERR_CONFIG_CSRF_EXPIRE_RANGE', path: 'cookie.csrfExpire', options: () => ({ env: { GATEHOUSE_COOKIE_CSRF_EXPIRE: '61m' } }) },
  { name: 'redis session store without a URL', code: 'ERR_CONFIG_REDIS_URL', path: 'session.redis.url', options: () => ({ env: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis' } }) },
  { name: 'redis URL of another scheme', code: 'ERR_CONFIG_REDIS_URL', path: 'session.redis.url', options: () => ({ env: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'http://127.0.0.1:6379' } }), source: 'env OAUTH2_PROXY_REDIS_CONNECTION_URL' },
  { name: 'sentinel and cluster at once', code: 'ERR_CONFIG_REDIS_MODE', path: 'session.redis.useSentinel', options: () => ({ env: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true', OAUTH2_PROXY_REDIS_USE_CLUSTER: 'true', OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME: 'm', OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: 'redis://127.0.0.1:26379', OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS: 'redis://127.0.0.1:7000' } }), source: 'env OAUTH2_PROXY_REDIS_USE_SENTINEL' },
  { name: 'sentinel without a master name', code: 'ERR_CONFIG_REDIS_SENTINEL', path: 'session.redis.sentinelUrls', options: () => ({ env: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true', OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: 'redis://127.0.0.1:26379' } }), source: 'env OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS' },
  { name: 'cluster without nodes', code: 'ERR_CONFIG_REDIS_CLUSTER', path: 'session.redis.clusterUrls', options: () => ({ env: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_CLUSTER: 'true' } }) },
  { name: 'a redis key prefix with spaces', code: 'ERR_CONFIG_REDIS_KEY_PREFIX', path: 'session.redis.keyPrefix', options: () => ({ env: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'redis://127.0.0.1:6379', GATEHOUSE_SESSION_REDIS_KEY_PREFIX: 'a b' } }), source: 'env GATEHOUSE_SESSION_REDIS_KEY_PREFIX' },
  { name: 'trusted proxy is a host name', code: 'ERR_CONFIG_TRUSTED_PROXY_INVALID', path: 'proxy.trusted[0]', options: () => ({ env: { OAUTH2_PROXY_TRUSTED_PROXY_IPS: 'traefik.kube-system' } }) },
  { name: 'trusted proxy prefix too long', code: 'ERR_CONFIG_TRUSTED_PROXY_INVALID', path: 'proxy.trusted[1]', options: () => ({ env: { GATEHOUSE_PROXY_TRUSTED: '10.0.0.0/8,10.0.0.0/33' } }) },
  { name: 'redirect URL with another scheme', code: 'ERR_CONFIG_REDIRECT_URL_INVALID', path: 'proxy.redirectUrl', options: () => ({ env: { OAUTH2_PROXY_REDIRECT_URL: 'ftp://auth.example.com/oauth2/callback' } }) },
  { name: 'protocol-relative redirect URL', code: 'ERR_CONFIG_REDIRECT_URL_INVALID', path: 'proxy.redirectUrl', options: () => ({ env: { OAUTH2_PROXY_REDIRECT_URL: '//evil.example.com/oauth2/callback' } }) },
  { name: 'redirect URL with a query', code: 'ERR_CONFIG_REDIRECT_URL_INVALID', path: 'proxy.redirectUrl', options: () => ({ env: { OAUTH2_PROXY_REDIRECT_URL: 'https://auth.example.com/oauth2/callback?x=1' } }) },
  { name: 'redirect URL with credentials', code: 'ERR_CONFIG_REDIRECT_URL_INVALID', path: 'proxy.redirectUrl', options: () => ({ env: { OAUTH2_PROXY_REDIRECT_URL: 'https://user@auth.example.com/oauth2/callback' } }) },
  { name: 'redirect domain with a scheme', code: 'ERR_CONFIG_REDIRECT_DOMAIN_INVALID', path: 'proxy.allowedRedirectDomains[0]', options: () => ({ env: { OAUTH2_PROXY_WHITELIST_DOMAINS: 'https://example.com' } }) },
  { name: 'redirect domain with port 0', code: 'ERR_CONFIG_REDIRECT_DOMAIN_INVALID', path: 'proxy.allowedRedirectDomains[1]', options: () => ({ env: { OAUTH2_PROXY_WHITELIST_DOMAINS: '.example.com,app.example.com:0' } }) },
  { name: 'API route is not RE2', code: 'ERR_CONFIG_REGEX_INVALID', path: 'forwardAuth.apiRoutes[0]', options: () => ({ env: { OAUTH2_PROXY_API_ROUTES: '^/api/(' } }) },
  { name: 'API route with a lookahead', code: 'ERR_CONFIG_REGEX_INVALID', path: 'forwardAuth.apiRoutes[1]', options: () => ({ env: { OAUTH2_PROXY_API_ROUTES: '^/api/,^/(?=x)' } }) },
  { name: 'an oauth2-proxy TOML file that does not parse', code: 'ERR_CONFIG_TOML_SYNTAX', path: 'FILE', options: () => ({ file: files.write('broken.cfg', 'email_domains = [ "*"\n'), env: {} }) },
  {
    name: 'a bearer profile with a weak HMAC secret',
    code: 'ERR_CONFIG_BEARER_PROFILE_INVALID',
    path: 'bearer.profiles.devices',
    options: () => ({ file: files.write('profile-weak.yaml', 'bearer:\n  profiles:\n    devices:\n      secret: changeme\n'), env: {} }),
  },
  { name: 'an envoy prefix under /oauth2', code: 'ERR_CONFIG_ENVOY_PREFIX', path: 'envoy.pathPrefix', options: () => ({ env: { GATEHOUSE_ENVOY_PATH_PREFIX: '/oauth2/authz' } }), source: 'env GATEHOUSE_ENVOY_PATH_PREFIX' },
  { name: 'an envoy prefix with a trailing slash', code: 'ERR_CONFIG_ENVOY_PREFIX', path: 'envoy.pathPrefix', options: () => ({ env: { GATEHOUSE_ENVOY_PATH_PREFIX: '/ext-authz/' } }), source: 'env GATEHOUSE_ENVOY_PATH_PREFIX' },
  { name: 'routes in an environment variable', code: 'ERR_CONFIG_FILE_ONLY', path: 'routes', options: () => ({ env: { GATEHOUSE_ROUTES: '[]' } }) },
  {
    name: 'a route with a CEL type error',
    code: 'ERR_CONFIG_ROUTE_INVALID',
    path: 'routes[0]',
    options: () => ({ file: files.write('route-cel.yaml', 'routes:\n  - name: r\n    allow: identity.emial == "x"\n'), env: {} }),
  },
  {
    name: 'a route with a bad host pattern',
    code: 'ERR_CONFIG_ROUTE_INVALID',
    path: 'routes[0].hosts',
    options: () => ({ file: files.write('route-host.yaml', 'routes:\n  - name: r\n    hosts: ["evil.com/x"]\n'), env: {} }),
  },
  {
    name: 'a route accepting an unconfigured bearer profile',
    code: 'ERR_CONFIG_BEARER_PROFILE_UNKNOWN',
    path: 'routes[0].auth',
    options: () => ({ file: files.write('route-bearer.yaml', 'routes:\n  - name: r\n    auth: [bearer:homekit]\n'), env: {} }),
  },
  { name: 'skip-auth route is not RE2', code: 'ERR_CONFIG_REGEX_INVALID', path: 'forwardAuth.skipAuthRoutes[0]', options: () => ({ env: { OAUTH2_PROXY_SKIP_AUTH_ROUTES: 'GET=^/health[' } }) },
  { name: 'empty allowed group', code: 'ERR_CONFIG_EMPTY_ENTRY', path: 'authorization.groups[1]', options: () => ({ env: {}, file: files.write('empty-group.yaml', 'authorization:\n  groups: [admins, "  "]\n') }) },
  { name: 'empty email domain', code: 'ERR_CONFIG_EMPTY_ENTRY', path: 'authorization.emailDomains[0]', options: () => ({ env: {}, file: files.write('empty-domain.yaml', 'authorization:\n  emailDomains: [""]\n') }) },
  { name: 'email with two @', code: 'ERR_CONFIG_EMAIL_INVALID', path: 'authorization.emails[0]', options: () => ({ env: { GATEHOUSE_AUTHORIZATION_EMAILS: 'a@b@example.com' } }) },
  { name: 'email without @', code: 'ERR_CONFIG_EMAIL_INVALID', path: 'authorization.emails[1]', options: () => ({ env: { GATEHOUSE_AUTHORIZATION_EMAILS: 'a@example.com,nobody' } }) },
  { name: 'extra issuer without audience', code: 'ERR_CONFIG_EXTRA_ISSUER_INVALID', path: 'bearer.extraIssuers[0]', options: () => ({ env: { OAUTH2_PROXY_EXTRA_JWT_ISSUERS: 'https://issuer.example.com' } }) },
  { name: 'extra issuer with empty audience', code: 'ERR_CONFIG_EXTRA_ISSUER_INVALID', path: 'bearer.extraIssuers[0]', options: () => ({ env: { OAUTH2_PROXY_EXTRA_JWT_ISSUERS: 'https://issuer.example.com=' } }) },
  { name: 'extra issuer with empty issuer', code: 'ERR_CONFIG_EXTRA_ISSUER_INVALID', path: 'bearer.extraIssuers[0]', options: () => ({ env: { OAUTH2_PROXY_EXTRA_JWT_ISSUERS: '=api' } }) },
  { name: 'access token header without X-Auth-Request', code: 'ERR_CONFIG_ACCESS_TOKEN_HEADER', path: 'identityHeaders.accessToken', options: () => ({ env: { GATEHOUSE_IDENTITY_HEADERS_ACCESS_TOKEN: 'true' } }) },
  { name: 'back-channel logout with the cookie store', code: 'ERR_CONFIG_BACKCHANNEL_LOGOUT_STORE', path: 'provider.backchannelLogout', options: () => ({ env: { GATEHOUSE_PROVIDER_BACKCHANNEL_LOGOUT: 'true' } }) },

  // sources.ts
  { name: 'configuration file missing', code: 'ERR_CONFIG_FILE_UNREADABLE', path: '--config', options: () => ({ env: {}, file: '/nonexistent/gatehouse.yaml' }), source: 'flag --config' },
  { name: 'native secret file missing', code: 'ERR_CONFIG_FILE_UNREADABLE', path: 'provider.clientSecret', options: () => ({ env: { GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE: '/nonexistent/secret' } }), source: 'env GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE' },
  { name: 'oauth2-proxy secret file missing', code: 'ERR_CONFIG_FILE_UNREADABLE', path: 'session.redis.password', options: () => ({ env: { OAUTH2_PROXY_REDIS_PASSWORD_FILE: '/nonexistent/secret' } }), source: 'env OAUTH2_PROXY_REDIS_PASSWORD_FILE' },
  { name: 'YAML secret file missing', code: 'ERR_CONFIG_FILE_UNREADABLE', path: 'cookie.secrets', options: () => ({ env: {}, file: files.write('missing-secret.yaml', 'cookie:\n  secretsFile: /nonexistent/cookie-secrets\n') }) },
  { name: 'native secret file flag missing', code: 'ERR_CONFIG_FILE_UNREADABLE', path: 'session.redis.url', options: () => ({ env: {}, flags: [{ name: 'session.redis.url-file', text: '/nonexistent/url' }] }), source: 'flag --session.redis.url-file' },
  { name: 'YAML syntax error', code: 'ERR_CONFIG_YAML_SYNTAX', path: 'FILE', options: () => ({ env: {}, file: files.write('syntax.yaml', 'listen: [127.0.0.1:4180\n') }) },
  { name: 'YAML duplicate key', code: 'ERR_CONFIG_YAML_SYNTAX', path: 'FILE', options: () => ({ env: {}, file: files.write('duplicate.yaml', 'listen: 127.0.0.1:4180\nlisten: 127.0.0.1:4181\n') }) },
  { name: 'YAML file is a list', code: 'ERR_CONFIG_YAML_SHAPE', path: 'FILE', options: () => ({ env: {}, file: files.write('list.yaml', '- listen\n- provider\n') }) },
  { name: 'YAML file is a scalar', code: 'ERR_CONFIG_YAML_SHAPE', path: 'FILE', options: () => ({ env: {}, file: files.write('scalar.yaml', 'just text\n') }) },
  { name: 'YAML refers to an unset variable', code: 'ERR_CONFIG_VARIABLE_UNSET', path: 'provider.clientId', options: () => ({ env: {}, file: files.write('unset.yaml', 'provider:\n  clientId: ${GATEHOUSE_TEST_UNSET_CLIENT_ID}\n') }) },
  { name: 'YAML section is a scalar', code: 'ERR_CONFIG_TYPE', path: 'cookie', options: () => ({ env: {}, file: files.write('section-scalar.yaml', 'cookie: _gatehouse\n') }) },
  { name: 'YAML secret file key is not a path', code: 'ERR_CONFIG_TYPE', path: 'provider.clientSecretFile', options: () => ({ env: {}, file: files.write('file-number.yaml', 'provider:\n  clientSecretFile: 42\n') }) },
  { name: 'YAML unknown key', code: 'ERR_CONFIG_UNKNOWN_KEY', path: 'cookie.secure_', options: () => ({ env: {}, file: files.write('unknown.yaml', 'cookie:\n  secure_: true\n') }) },
  { name: 'unknown GATEHOUSE_ variable', code: 'ERR_CONFIG_UNKNOWN_VARIABLE', path: 'GATEHOUSE_COOKIE_SECRET', options: () => ({ env: { GATEHOUSE_COOKIE_SECRET: COOKIE_SECRET } }), source: 'env GATEHOUSE_COOKIE_SECRET' },
  { name: 'unknown OAUTH2_PROXY_ variable', code: 'ERR_CONFIG_UNKNOWN_VARIABLE', path: 'OAUTH2_PROXY_FOO', options: () => ({ env: { OAUTH2_PROXY_FOO: 'bar' } }) },

  // assignments.ts
  { name: 'native boolean yes', code: 'ERR_CONFIG_NOT_BOOLEAN', path: 'cookie.secure', options: () => ({ env: { GATEHOUSE_COOKIE_SECURE: 'yes' } }), source: 'env GATEHOUSE_COOKIE_SECURE' },
  { name: 'boolean flag value on', code: 'ERR_CONFIG_NOT_BOOLEAN', path: 'forwardAuth.skipProviderButton', options: () => ({ env: {}, flags: [{ name: 'skip-provider-button', text: 'on' }] }), source: 'flag --skip-provider-button' },
  { name: 'integer with a unit', code: 'ERR_CONFIG_NOT_INTEGER', path: 'forwardAuth.status', options: () => ({ env: { GATEHOUSE_FORWARD_AUTH_STATUS: '202s' } }) },

  // load.ts (schema)
  { name: 'unknown enum member', code: 'ERR_CONFIG_TYPE', path: 'logging.level', options: () => ({ env: { GATEHOUSE_LOGGING_LEVEL: 'loud' } }), source: 'env GATEHOUSE_LOGGING_LEVEL' },
  { name: 'SameSite not an enum member', code: 'ERR_CONFIG_TYPE', path: 'cookie.sameSite', options: () => ({ env: { OAUTH2_PROXY_COOKIE_SAMESITE: 'Lax' } }) },
  { name: 'not a duration', code: 'ERR_CONFIG_TYPE', path: 'shutdownTimeout', options: () => ({ env: { GATEHOUSE_SHUTDOWN_TIMEOUT: '10' } }) },
  { name: 'a guessable diagnostics token', code: 'ERR_CONFIG_DIAGNOSTICS_TOKEN_SHORT', path: 'diagnostics.token', options: () => ({ env: { ...PROVIDER_ENV, GATEHOUSE_DIAGNOSTICS_TOKEN: 'short' } }) },
  { name: 'an emails file that cannot be read', code: 'ERR_CONFIG_EMAILS_FILE', path: 'authorization.emailsFile', options: () => ({ env: { ...PROVIDER_ENV, GATEHOUSE_AUTHORIZATION_EMAILS_FILE: '/nonexistent/emails.txt' } }) },
  { name: 'status above 299', code: 'ERR_CONFIG_TYPE', path: 'forwardAuth.status', options: () => ({ env: { GATEHOUSE_FORWARD_AUTH_STATUS: '302' } }) },
  { name: 'YAML string for a boolean', code: 'ERR_CONFIG_TYPE', path: 'proxy.reverseProxy', options: () => ({ env: {}, file: files.write('string-bool.yaml', 'proxy:\n  reverseProxy: "yes"\n') }) },
  { name: 'YAML number in a list', code: 'ERR_CONFIG_TYPE', path: 'cookie.domains[1]', options: () => ({ env: {}, file: files.write('number-in-list.yaml', 'cookie:\n  domains: [.example.com, 42]\n') }) },
  { name: 'YAML mapping for a string', code: 'ERR_CONFIG_TYPE', path: 'listen', options: () => ({ env: {}, file: files.write('map-for-string.yaml', 'listen:\n  host: 127.0.0.1\n') }) },

  // oauth2-proxy.ts
  { name: 'proxying upstream', code: 'ERR_CONFIG_UPSTREAM_UNSUPPORTED', path: 'forwardAuth.status', options: () => ({ env: { OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080' } }), source: 'env OAUTH2_PROXY_UPSTREAMS' },
  { name: 'two static codes', code: 'ERR_CONFIG_UPSTREAM_UNSUPPORTED', path: 'forwardAuth.status', options: () => ({ env: { OAUTH2_PROXY_UPSTREAMS: 'static://202,static://200' } }) },
  { name: 'github provider', code: 'ERR_CONFIG_PROVIDER_UNSUPPORTED', path: 'provider.type', options: () => ({ env: { OAUTH2_PROXY_PROVIDER: 'github' } }) },
  { name: 'PKCE method S512', code: 'ERR_CONFIG_PKCE_METHOD', path: 'provider.pkce', options: () => ({ env: { OAUTH2_PROXY_CODE_CHALLENGE_METHOD: 'S512' } }) },
  { name: 'proxy prefix /auth', code: 'ERR_CONFIG_OPTION_UNSUPPORTED', path: 'proxyPrefix', options: () => ({ env: { OAUTH2_PROXY_PROXY_PREFIX: '/auth' } }), source: 'env OAUTH2_PROXY_PROXY_PREFIX' },
  { name: 'ignored boolean option is still a boolean', code: 'ERR_CONFIG_NOT_BOOLEAN', path: 'skip_auth_strip_headers', options: () => ({ env: { OAUTH2_PROXY_SKIP_AUTH_STRIP_HEADERS: 'yes' } }) },
];

/** Problem codes appear in these files as string literals. */
const SOURCE_FILES = ['validate.ts', 'sources.ts', 'assignments.ts', 'load.ts', 'oauth2-proxy.ts'];

function codesInSources(): Set<string> {
  const codes = new Set<string>();
  for (const file of SOURCE_FILES) {
    const text = readFileSync(new URL(`../../src/config/${file}`, import.meta.url), 'utf8');
    for (const match of text.matchAll(/'(ERR_CONFIG_[A-Z_]+)'/g)) codes.add(match[1]!);
  }
  return codes;
}

test('every problem code in src/config is triggered by a case below', () => {
  const sourceCodes = codesInSources();
  assert.ok(sourceCodes.size >= 40, `only ${sourceCodes.size} codes found; did the files move?`);
  // The error's own code, asserted on every case through problemsOf.
  const covered = new Set([...CASES.map((entry) => entry.code), 'ERR_CONFIG_INVALID']);
  const missing = [...sourceCodes].filter((code) => !covered.has(code));
  // ERR_CONFIG_UNKNOWN_KEY in load.ts maps zod's unrecognized_keys; sources.ts reports unknown YAML keys first.
  assert.deepEqual(missing, []);
  const unknown = [...covered].filter((code) => !sourceCodes.has(code));
  assert.deepEqual(unknown, [], 'cases name codes that no source file emits');
});

describe('each problem code, with its path', () => {
  for (const entry of CASES) {
    test(`${entry.code}: ${entry.name}`, () => {
      const options = entry.options();
      const path = entry.path === 'FILE' ? options.file : entry.path;
      const problems = problemsOf(options);
      const found = problems.filter((problem) => problem.code === entry.code && problem.path === path);
      assert.equal(found.length, 1, `expected one ${entry.code} at ${String(path)}, got ${JSON.stringify(problems, null, 2)}`);
      const problem = found[0]!;
      assert.ok(problem.message.length > 0);
      assert.ok(problem.fix.length > 0, 'every problem says how to fix it');
      if (entry.source !== undefined) assert.equal(problem.source, entry.source);
      assert.match(formatProblems(problems), new RegExp(`\\[${entry.code}\\]`));
    });
  }
});

test('the base configurations used above are valid', () => {
  assert.doesNotThrow(() => loadConfig({ env: {} }));
  assert.doesNotThrow(() => loadConfig({ env: PROVIDER_ENV }));
  assert.doesNotThrow(() => loadConfig({ env: { ...PROVIDER_ENV, GATEHOUSE_PROVIDER_ISSUER: 'http://127.0.0.1:9000/' } }), 'http on loopback is allowed');
  assert.doesNotThrow(() => loadConfig({ env: { ...PROVIDER_ENV, GATEHOUSE_PROVIDER_ISSUER: 'http://[::1]:9000/' } }), 'http on IPv6 loopback is allowed');
  assert.doesNotThrow(() => loadConfig({ env: { GATEHOUSE_COOKIE_SECRETS: `${COOKIE_SECRET},${COOKIE_SECRET_RAW_24}` } }));
  assert.doesNotThrow(() => loadConfig({ env: { OAUTH2_PROXY_COOKIE_REFRESH: '1h', OAUTH2_PROXY_COOKIE_EXPIRE: '61m' } }));
});

test('problems from every source are reported in one ConfigError', () => {
  const file = files.write('all-at-once.yaml', 'cookie:\n  secrte: x\nprovider:\n  clientId: ${GATEHOUSE_TEST_UNSET_ID}\n');
  let error: unknown;
  try {
    loadConfig({
      file,
      env: { GATEHOUSE_PROXY_REVERSE_PROXY: 'maybe', OAUTH2_PROXY_FOO: '1', OAUTH2_PROXY_COOKIE_PATH: 'relative' },
      flags: [{ name: 'upstream', text: 'http://app:8080' }, { name: 'cookie.expire', text: 'forever' }],
    });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  const got = error.problems.map((problem) => [problem.code, problem.path, problem.source]);
  const expected = [
    ['ERR_CONFIG_UNKNOWN_KEY', 'cookie.secrte', `file ${file}`],
    ['ERR_CONFIG_VARIABLE_UNSET', 'provider.clientId', `file ${file}`],
    ['ERR_CONFIG_NOT_BOOLEAN', 'proxy.reverseProxy', 'env GATEHOUSE_PROXY_REVERSE_PROXY'],
    ['ERR_CONFIG_UNKNOWN_VARIABLE', 'OAUTH2_PROXY_FOO', 'env OAUTH2_PROXY_FOO'],
    ['ERR_CONFIG_UPSTREAM_UNSUPPORTED', 'forwardAuth.status', 'flag --upstream'],
    ['ERR_CONFIG_TYPE', 'cookie.expire', 'flag --cookie.expire'],
    ['ERR_CONFIG_COOKIE_PATH_INVALID', 'cookie.path', 'env OAUTH2_PROXY_COOKIE_PATH'],
  ];
  for (const entry of expected) assert.ok(got.some((problem) => JSON.stringify(problem) === JSON.stringify(entry)), `missing ${JSON.stringify(entry)} in ${JSON.stringify(got)}`);
  assert.equal(got.length, expected.length, JSON.stringify(got));
  assert.match(error.message, /7 problem/);
  assert.match(formatProblems(error.problems), /the configuration has 7 problems:/);
});

test('a configuration that fails the schema still gets its cross-field problems reported', () => {
  const problems = problemsOf({
    env: {
      GATEHOUSE_LOGGING_LEVEL: 'loud',
      GATEHOUSE_COOKIE_CSRF_EXPIRE: 'later',
      OAUTH2_PROXY_COOKIE_SAMESITE: 'none',
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      GATEHOUSE_IDENTITY_HEADERS_ACCESS_TOKEN: 'true',
      GATEHOUSE_LISTEN: '0.0.0.0:4180',
    },
  });
  const pairs = problems.map((problem) => [problem.code, problem.path]);
  assert.deepEqual(
    [...pairs].sort(),
    [
      ['ERR_CONFIG_ACCESS_TOKEN_HEADER', 'identityHeaders.accessToken'],
      ['ERR_CONFIG_DEV_PROVIDER_EXPOSED', 'provider.issuer'],
      ['ERR_CONFIG_SAMESITE_NONE_INSECURE', 'cookie.sameSite'],
      ['ERR_CONFIG_TYPE', 'cookie.csrfExpire'],
      ['ERR_CONFIG_TYPE', 'logging.level'],
    ],
  );
});

test('a broken value is reported once: not again by the cross-field checks', () => {
  // '1d' is not a duration; the refresh check must not also complain about the value it could not read.
  const problems = problemsOf({ env: { OAUTH2_PROXY_COOKIE_REFRESH: '1d' } });
  assert.deepEqual(
    problems.map((problem) => [problem.code, problem.path]),
    [['ERR_CONFIG_TYPE', 'cookie.refresh']],
  );
});

test('ConfigError is a GatewayError with code ERR_CONFIG_INVALID', () => {
  try {
    loadConfig({ env: { OAUTH2_PROXY_FOO: 'x' } });
    assert.fail('expected a ConfigError');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'ERR_CONFIG_INVALID');
    assert.equal(error.name, 'GatewayError');
    assert.equal(error.problems.length, 1);
  }
});
