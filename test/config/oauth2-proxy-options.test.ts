/**
 * Every oauth2-proxy option gatehouse accepts, set through `OAUTH2_PROXY_<KEY>` and through each of its flags,
 * and the oauth2-proxy parsing rules (comma lists, Go booleans, Go durations, `*_FILE` secrets).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  envNameOf,
  FIELD_BY_PATH,
  FIELDS,
  flagNamesOf,
  formatProblems,
  isBooleanFlag,
  isConfigFlag,
  loadConfig,
  OAUTH2_PROXY_OPTIONS,
  type LoadOptions,
} from '../../src/config/index.js';
import { COOKIE_SECRET, onlyProblem, problemsOf, PROVIDER_ENV, tempDir } from './support.js';

/** One option, one value, and what it must become. */
interface Row {
  readonly key: string;
  readonly text: string;
  /** Native path the value lands on; absent when the option maps onto nothing. */
  readonly path?: string;
  readonly value?: unknown;
  /** For options accepted but without effect: a phrase of the warning they log. */
  readonly warning?: string;
  /** Native variables the value needs to make a valid configuration. */
  readonly base?: Readonly<Record<string, string>>;
  /** The only valid value is the default (so only the origin shows the option was read). */
  readonly sameAsDefault?: true;
}

const { GATEHOUSE_PROVIDER_ISSUER: _issuer, ...PROVIDER_WITHOUT_ISSUER } = PROVIDER_ENV;

// An emails file that exists: validation reads it.
const EMAILS_FILE = tempDir('gatehouse-emails-').write('emails.txt', 'alice@example.com\n');

const ROWS: readonly Row[] = [
  { key: 'provider', text: 'oidc' },
  { key: 'oidc_issuer_url', text: 'https://login.example.org/', path: 'provider.issuer', value: 'https://login.example.org/', base: PROVIDER_WITHOUT_ISSUER },
  { key: 'client_id', text: 'my-client', path: 'provider.clientId', value: 'my-client' },
  { key: 'client_secret', text: 'my-client-secret', path: 'provider.clientSecret', value: 'my-client-secret' },
  { key: 'provider_display_name', text: 'Auth0', path: 'provider.displayName', value: 'Auth0' },
  { key: 'scope', text: 'openid email groups', path: 'provider.scopes', value: ['openid', 'email', 'groups'] },
  { key: 'code_challenge_method', text: 'plain', path: 'provider.pkce', value: 'plain' },
  { key: 'oidc_email_claim', text: 'mail', path: 'provider.claims.email', value: 'mail' },
  { key: 'oidc_groups_claim', text: 'realm_access.roles', path: 'provider.claims.groups', value: 'realm_access.roles' },
  { key: 'oidc_extra_audiences', text: 'api,cli', path: 'provider.extraAudiences', value: ['api', 'cli'] },
  { key: 'insecure_oidc_allow_unverified_email', text: 'true', path: 'provider.insecureAllowUnverifiedEmail', value: true },
  { key: 'insecure_oidc_skip_nonce', text: 'true', warning: 'always sends and checks the OIDC nonce' },
  { key: 'https_address', text: '0.0.0.0:4443', warning: 'serves plain HTTP behind the proxy' },
  { key: 'cookie_secret', text: COOKIE_SECRET, path: 'cookie.secrets', value: [COOKIE_SECRET] },
  { key: 'cookie_name', text: '_oauth2_proxy', path: 'cookie.name', value: '_oauth2_proxy' },
  { key: 'cookie_domains', text: '.a.example.com,.example.com', path: 'cookie.domains', value: ['.a.example.com', '.example.com'] },
  { key: 'cookie_path', text: '/app', path: 'cookie.path', value: '/app' },
  { key: 'cookie_expire', text: '24h', path: 'cookie.expire', value: 86_400_000 },
  { key: 'cookie_refresh', text: '30m', path: 'cookie.refresh', value: 1_800_000 },
  { key: 'cookie_secure', text: 'false', path: 'cookie.secure', value: false },
  { key: 'cookie_httponly', text: 'false', path: 'cookie.httpOnly', value: false },
  { key: 'cookie_samesite', text: 'strict', path: 'cookie.sameSite', value: 'strict' },
  { key: 'cookie_csrf_expire', text: '5m', path: 'cookie.csrfExpire', value: 300_000 },
  { key: 'cookie_csrf_per_request', text: 'true', warning: 'its own transaction cookie' },
  { key: 'email_domains', text: 'example.com,.example.org', path: 'authorization.emailDomains', value: ['example.com', '.example.org'] },
  { key: 'authenticated_emails_file', text: EMAILS_FILE, path: 'authorization.emailsFile', value: EMAILS_FILE },
  { key: 'allowed_groups', text: 'admins,ops', path: 'authorization.groups', value: ['admins', 'ops'] },
  { key: 'whitelist_domains', text: '.example.com,app.example.org:8443', path: 'proxy.allowedRedirectDomains', value: ['.example.com', 'app.example.org:8443'] },
  { key: 'redirect_url', text: 'https://auth.example.com/oauth2/callback', path: 'proxy.redirectUrl', value: 'https://auth.example.com/oauth2/callback' },
  { key: 'reverse_proxy', text: 'true', path: 'proxy.reverseProxy', value: true },
  { key: 'trusted_proxy_ips', text: '10.0.0.0/8,192.168.1.1', path: 'proxy.trusted', value: ['10.0.0.0/8', '192.168.1.1'] },
  { key: 'http_address', text: '127.0.0.1:8080', path: 'listen', value: '127.0.0.1:8080' },
  { key: 'metrics_address', text: '127.0.0.1:9090', path: 'metrics.listen', value: '127.0.0.1:9090' },
  { key: 'upstreams', text: 'static://200', path: 'forwardAuth.status', value: 200 },
  { key: 'proxy_prefix', text: '/oauth2' },
  { key: 'set_authorization_header', text: 'true', path: 'identityHeaders.authorization', value: true },
  { key: 'set_xauthrequest', text: 'true', path: 'identityHeaders.xAuthRequest', value: true },
  { key: 'pass_access_token', text: 'true', path: 'identityHeaders.accessToken', value: true, base: { GATEHOUSE_IDENTITY_HEADERS_X_AUTH_REQUEST: 'true' } },
  { key: 'skip_auth_strip_headers', text: 'true', warning: 'does not proxy requests' },
  { key: 'skip_provider_button', text: 'true', path: 'forwardAuth.skipProviderButton', value: true },
  { key: 'force_json_errors', text: 'true', path: 'forwardAuth.forceJsonErrors', value: true },
  { key: 'skip_auth_routes', text: 'GET=^/health$,^/public/', path: 'forwardAuth.skipAuthRoutes', value: ['GET=^/health$', '^/public/'] },
  { key: 'skip_auth_preflight', text: 'true', path: 'forwardAuth.skipAuthPreflight', value: true },
  { key: 'api_routes', text: '^/api/,^/v2/', path: 'forwardAuth.apiRoutes', value: ['^/api/', '^/v2/'] },
  { key: 'skip_jwt_bearer_tokens', text: 'true', path: 'bearer.provider', value: true },
  { key: 'extra_jwt_issuers', text: 'https://issuer.example.com=api', path: 'bearer.extraIssuers', value: ['https://issuer.example.com=api'] },
  { key: 'session_store_type', text: 'cookie', path: 'session.store', value: 'cookie', sameAsDefault: true },
  { key: 'redis_connection_url', text: 'redis://redis.example.com:6379/0', path: 'session.redis.url', value: 'redis://redis.example.com:6379/0' },
  { key: 'redis_username', text: 'gatehouse', path: 'session.redis.username', value: 'gatehouse' },
  { key: 'redis_password', text: 'redis-pass', path: 'session.redis.password', value: 'redis-pass' },
  { key: 'redis_use_sentinel', text: 'true', path: 'session.redis.useSentinel', value: true },
  { key: 'redis_sentinel_master_name', text: 'mymaster', path: 'session.redis.sentinelMasterName', value: 'mymaster' },
  { key: 'redis_sentinel_connection_urls', text: 'redis://s1:26379,redis://s2:26379', path: 'session.redis.sentinelUrls', value: ['redis://s1:26379', 'redis://s2:26379'] },
  { key: 'redis_sentinel_password', text: 'sentinel-pass', path: 'session.redis.sentinelPassword', value: 'sentinel-pass' },
  { key: 'redis_use_cluster', text: 'true', path: 'session.redis.useCluster', value: true },
  { key: 'redis_cluster_connection_urls', text: 'redis://c1:6379,redis://c2:6379', path: 'session.redis.clusterUrls', value: ['redis://c1:6379', 'redis://c2:6379'] },
  { key: 'redis_ca_path', text: '/etc/ssl/redis-ca.pem', path: 'session.redis.caPath', value: '/etc/ssl/redis-ca.pem' },
  { key: 'redis_insecure_skip_tls_verify', text: 'true', path: 'session.redis.insecureSkipTlsVerify', value: true },
  { key: 'redis_connection_idle_timeout', text: '300', path: 'session.redis.idleTimeout', value: 300_000 },
  { key: 'auth_logging', text: 'false', path: 'logging.auth', value: false },
  { key: 'request_logging', text: 'false', path: 'logging.requests', value: false },
  { key: 'standard_logging', text: 'false', path: 'logging.standard', value: false },
  { key: 'silence_ping_logging', text: 'true', path: 'logging.silencePing', value: true },
];

function valueAt(root: unknown, path: string): unknown {
  let node = root;
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  return node;
}

const SPEC_BY_KEY = new Map(OAUTH2_PROXY_OPTIONS.map((spec) => [spec.key, spec]));

test('the table covers every oauth2-proxy option exactly once', () => {
  const tableKeys = ROWS.map((row) => row.key);
  assert.equal(new Set(tableKeys).size, tableKeys.length, 'duplicate rows');
  assert.deepEqual([...tableKeys].sort(), OAUTH2_PROXY_OPTIONS.map((spec) => spec.key).sort());
});

test('option env and flag names are unique and never collide with native names', () => {
  const envNames = OAUTH2_PROXY_OPTIONS.map(envNameOf);
  assert.equal(new Set(envNames).size, envNames.length, 'duplicate env names');
  const flags = OAUTH2_PROXY_OPTIONS.flatMap(flagNamesOf);
  assert.equal(new Set(flags).size, flags.length, 'duplicate flag names');
  const nativeEnv = new Set(FIELDS.map((field) => field.env));
  const nativeFlags = new Set(FIELDS.map((field) => field.flag.slice(2)));
  for (const name of envNames) assert.ok(!nativeEnv.has(name), name);
  for (const flag of flags) assert.ok(!nativeFlags.has(flag), flag);
  for (const spec of OAUTH2_PROXY_OPTIONS) {
    assert.equal(envNameOf(spec), `OAUTH2_PROXY_${spec.key.toUpperCase()}`);
    assert.equal(flagNamesOf(spec)[0], spec.key.replaceAll('_', '-'));
  }
});

test('every option path is a schema leaf of the same kind, and secret leaves are secret options', () => {
  for (const spec of OAUTH2_PROXY_OPTIONS) {
    assert.ok(spec.path !== undefined || spec.map !== undefined, `${spec.key} has neither a path nor a mapping`);
    if (spec.path === undefined) continue;
    const field = FIELD_BY_PATH.get(spec.path);
    assert.ok(field !== undefined, `${spec.key}: ${spec.path} is not in FIELD_BY_PATH`);
    if (spec.map === undefined) assert.equal(spec.kind, field.kind, spec.key);
    assert.equal(spec.secret === true, field.secret, `${spec.key}: secret flag disagrees with ${spec.path}`);
  }
  for (const row of ROWS) if (row.path !== undefined) assert.ok(FIELD_BY_PATH.has(row.path), row.path);
});

describe('every option, through env and every flag', () => {
  for (const row of ROWS) {
    test(row.key, () => {
      const spec = SPEC_BY_KEY.get(row.key);
      assert.ok(spec !== undefined);
      const base = row.base ?? {};
      const reference = loadConfig({ env: base });
      const envName = envNameOf(spec);
      const cases: { options: LoadOptions; origin: { kind: 'env' | 'flag'; name: string } }[] = [
        { options: { env: { ...base, [envName]: row.text } }, origin: { kind: 'env', name: envName } },
        ...flagNamesOf(spec).map((flag) => ({
          options: { env: base, flags: [{ name: flag, text: row.text }] },
          origin: { kind: 'flag' as const, name: `--${flag}` },
        })),
      ];
      assert.ok(cases.length >= 2);
      for (const { options, origin } of cases) {
        const loaded = loadConfig(options);
        if (row.path !== undefined) {
          assert.deepEqual(valueAt(loaded.config, row.path), row.value, `${origin.name} → ${row.path}`);
          if (row.sameAsDefault === undefined) assert.notDeepEqual(valueAt(reference.config, row.path), row.value, `${row.key}: pick a value other than the default`);
          const { option: _option, ...seen } = loaded.origins.get(row.path) ?? { kind: 'default' };
          assert.deepEqual(seen, origin);
        } else if (row.warning !== undefined) {
          assert.deepEqual(loaded.config, reference.config, `${origin.name} must not change the configuration`);
          const warning = loaded.warnings.find((text) => text.includes(row.warning ?? ''));
          assert.ok(warning !== undefined, `${origin.name}: no warning containing '${row.warning}' in ${JSON.stringify(loaded.warnings)}`);
          assert.ok(warning.startsWith(origin.name), warning);
        } else {
          assert.deepEqual(loaded.config, reference.config, `${origin.name} must be a no-op`);
          assert.deepEqual(loaded.warnings, reference.warnings);
        }
      }
      for (const flag of flagNamesOf(spec)) {
        assert.ok(isConfigFlag(flag), flag);
        assert.equal(isBooleanFlag(flag), spec.kind === 'boolean', flag);
        if (spec.secret === true) assert.ok(isConfigFlag(`${flag}-file`), `${flag}-file`);
      }
    });
  }
});

describe('comma lists', () => {
  test('env lists split on commas, trim spaces and drop empty items', () => {
    const { config } = loadConfig({ env: { OAUTH2_PROXY_EMAIL_DOMAINS: ' example.com , ,.example.org,, ', OAUTH2_PROXY_COOKIE_DOMAINS: '' } });
    assert.deepEqual(config.authorization.emailDomains, ['example.com', '.example.org']);
    assert.deepEqual(config.cookie.domains, []);
  });

  test('repeated list flags accumulate, across aliases and comma-joined values', () => {
    const { config, origins } = loadConfig({
      env: { OAUTH2_PROXY_EMAIL_DOMAINS: 'from-env.example' },
      flags: [
        { name: 'email-domain', text: 'a.example' },
        { name: 'email-domains', text: 'b.example,c.example' },
        { name: 'email-domain', text: 'd.example' },
        { name: 'allowed-group', text: 'admins' },
        { name: 'allowed-group', text: 'ops' },
      ],
    });
    assert.deepEqual(config.authorization.emailDomains, ['a.example', 'b.example', 'c.example', 'd.example']);
    assert.deepEqual(config.authorization.groups, ['admins', 'ops']);
    assert.deepEqual(origins.get('authorization.emailDomains'), { kind: 'flag', name: '--email-domain' });
  });

  test('repeated upstream flags accumulate: the same static code is fine, different codes are an error', () => {
    const same = loadConfig({ env: {}, flags: [{ name: 'upstream', text: 'static://202' }, { name: 'upstreams', text: 'static://202' }] });
    assert.equal(same.config.forwardAuth.status, 202);
    onlyProblem({ env: {}, flags: [{ name: 'upstream', text: 'static://200' }, { name: 'upstream', text: 'static://202' }] }, 'ERR_CONFIG_UPSTREAM_UNSUPPORTED', 'forwardAuth.status');
    onlyProblem({ env: {}, flags: [{ name: 'upstream', text: 'static://202' }, { name: 'upstream', text: 'http://app:8080' }] }, 'ERR_CONFIG_UPSTREAM_UNSUPPORTED', 'forwardAuth.status');
  });
});

describe('Go booleans', () => {
  const truthy = ['1', 't', 'T', 'TRUE', 'true', 'True'];
  const falsy = ['0', 'f', 'F', 'FALSE', 'false', 'False'];
  for (const [text, expected] of [...truthy.map((t) => [t, true] as const), ...falsy.map((t) => [t, false] as const)]) {
    test(`'${text}' is ${expected}`, () => {
      assert.equal(loadConfig({ env: { OAUTH2_PROXY_REVERSE_PROXY: text } }).config.proxy.reverseProxy, expected);
      assert.equal(loadConfig({ env: {}, flags: [{ name: 'reverse-proxy', text }] }).config.proxy.reverseProxy, expected);
      assert.equal(loadConfig({ env: { GATEHOUSE_PROXY_REVERSE_PROXY: text } }).config.proxy.reverseProxy, expected);
    });
  }

  for (const text of ['yes', 'no', 'on', 'tRuE', '']) {
    test(`'${text}' is not a boolean`, () => {
      const problem = onlyProblem({ env: { OAUTH2_PROXY_REVERSE_PROXY: text } }, 'ERR_CONFIG_NOT_BOOLEAN', 'proxy.reverseProxy');
      assert.equal(problem.source, 'env OAUTH2_PROXY_REVERSE_PROXY');
      onlyProblem({ env: {}, flags: [{ name: 'reverse-proxy', text }] }, 'ERR_CONFIG_NOT_BOOLEAN', 'proxy.reverseProxy');
    });
  }

  test("'yes' is an error even for options that are accepted without effect", () => {
    for (const key of ['insecure_oidc_skip_nonce', 'cookie_csrf_per_request', 'skip_auth_strip_headers']) {
      const name = `OAUTH2_PROXY_${key.toUpperCase()}`;
      const problem = onlyProblem({ env: { [name]: 'yes' } }, 'ERR_CONFIG_NOT_BOOLEAN', key);
      assert.equal(problem.source, `env ${name}`);
    }
  });

  test('false for an ignored option that only matters when true logs nothing', () => {
    const { warnings } = loadConfig({ env: { OAUTH2_PROXY_INSECURE_OIDC_SKIP_NONCE: 'false' } });
    assert.ok(!warnings.some((warning) => warning.includes('NONCE')), warnings.join('\n'));
  });
});

describe('durations', () => {
  for (const [text, ms] of [
    ['1h', 3_600_000],
    ['168h0m0s', 604_800_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
  ] as const) {
    test(`cookie_expire '${text}' is ${ms} ms`, () => {
      assert.equal(loadConfig({ env: { OAUTH2_PROXY_COOKIE_EXPIRE: text } }).config.cookie.expire, ms);
      assert.equal(loadConfig({ env: {}, flags: [{ name: 'cookie-expire', text }] }).config.cookie.expire, ms);
    });
  }

  test("'0' switches cookie_refresh off, and is refused for cookie_expire", () => {
    assert.equal(loadConfig({ env: { OAUTH2_PROXY_COOKIE_REFRESH: '0' } }).config.cookie.refresh, 0);
    onlyProblem({ env: { OAUTH2_PROXY_COOKIE_EXPIRE: '0' } }, 'ERR_CONFIG_COOKIE_EXPIRE_ZERO', 'cookie.expire');
  });

  test('a duration without a unit, or in days, is a type problem naming its source', () => {
    for (const text of ['1d', '3600', 'soon']) {
      const problem = onlyProblem({ env: { OAUTH2_PROXY_COOKIE_EXPIRE: text } }, 'ERR_CONFIG_TYPE', 'cookie.expire');
      assert.equal(problem.source, 'env OAUTH2_PROXY_COOKIE_EXPIRE');
      assert.match(problem.fix, /Go duration/);
    }
  });
});

describe('upstreams', () => {
  test('static://202 and static://200 set the allowed-check status', () => {
    assert.equal(loadConfig({ env: { OAUTH2_PROXY_UPSTREAMS: 'static://202' } }).config.forwardAuth.status, 202);
    assert.equal(loadConfig({ env: { OAUTH2_PROXY_UPSTREAMS: 'static://200' } }).config.forwardAuth.status, 200);
    assert.equal(loadConfig({ env: { OAUTH2_PROXY_UPSTREAMS: 'static://204/' } }).config.forwardAuth.status, 204);
  });

  test('an http:// upstream is an error: gatehouse does not proxy', () => {
    const problem = onlyProblem({ env: { OAUTH2_PROXY_UPSTREAMS: 'http://app.default.svc:8080/' } }, 'ERR_CONFIG_UPSTREAM_UNSUPPORTED', 'forwardAuth.status');
    assert.match(problem.message, /http:\/\/app\.default\.svc:8080\//);
    assert.match(problem.fix, /static:\/\/202/);
  });

  test('a status outside 2xx is refused by the schema', () => {
    onlyProblem({ env: { OAUTH2_PROXY_UPSTREAMS: 'static://404' } }, 'ERR_CONFIG_TYPE', 'forwardAuth.status');
  });
});

test('a provider other than oidc or keycloak-oidc is an error', () => {
  for (const provider of ['google', 'github', 'keycloak', 'Keycloak-OIDC', '']) {
    const problem = onlyProblem({ env: { OAUTH2_PROXY_PROVIDER: provider } }, 'ERR_CONFIG_PROVIDER_UNSUPPORTED', 'provider.type');
    assert.equal(problem.source, 'env OAUTH2_PROXY_PROVIDER');
  }
  onlyProblem({ env: {}, flags: [{ name: 'provider', text: 'google' }] }, 'ERR_CONFIG_PROVIDER_UNSUPPORTED', 'provider.type');
});

test('keycloak-oidc is read as oidc, with a warning that Keycloak roles are not added to the groups', () => {
  const loaded = loadConfig({ env: { ...PROVIDER_ENV, OAUTH2_PROXY_PROVIDER: 'keycloak-oidc' } });
  assert.equal(loaded.config.provider.issuer, PROVIDER_ENV.GATEHOUSE_PROVIDER_ISSUER);
  const keycloak = loaded.warnings.filter((warning) => warning.includes('keycloak-oidc'));
  assert.equal(keycloak.length, 1, loaded.warnings.join('\n'));
  assert.match(keycloak[0] ?? '', /^OAUTH2_PROXY_PROVIDER keycloak-oidc is read as oidc: .*roles \(role:…\).*oidc_groups_claim/);
  assert.equal(loadConfig({ env: PROVIDER_ENV }).warnings.length, loaded.warnings.length - 1, 'oidc itself warns of nothing more');
});

describe('oauth2-proxy options gatehouse knows and does not implement say what to do instead', () => {
  const files = tempDir('gatehouse-unsupported-');
  const CASES: readonly { key: string; toml: string; env: string; fix: RegExp }[] = [
    { key: 'skip_auth_regex', toml: '["^/public/"]', env: '^/public/', fix: /rename it skip_auth_routes/ },
    { key: 'allowed_roles', toml: '["admin"]', env: 'admin', fix: /oidc_groups_claim .*realm_access\.roles.*allowed_groups/ },
    { key: 'provider_ca_files', toml: '["/etc/ssl/ca.pem"]', env: '/etc/ssl/ca.pem', fix: /NODE_EXTRA_CA_CERTS/ },
    { key: 'ssl_insecure_skip_verify', toml: 'true', env: 'true', fix: /NODE_EXTRA_CA_CERTS/ },
    { key: 'htpasswd_file', toml: '"/etc/htpasswd"', env: '/etc/htpasswd', fix: /bearer tokens/ },
    { key: 'skip_oidc_discovery', toml: 'true', env: 'true', fix: /oidc_issuer_url.*openid-configuration/ },
    { key: 'oidc_jwks_url', toml: '"https://id.example.com/jwks"', env: 'https://id.example.com/jwks', fix: /oidc_issuer_url/ },
  ];
  for (const { key, toml, env, fix } of CASES) {
    test(`${key}: in the TOML file, as a variable and as a flag`, () => {
      const file = files.write(`${key}.cfg`, `${key} = ${toml}\n`);
      const fromFile = onlyProblem({ env: PROVIDER_ENV, file }, 'ERR_CONFIG_UNKNOWN_KEY', key);
      assert.match(fromFile.fix, fix);
      assert.doesNotMatch(fromFile.fix, /docs\/oauth2-proxy\.md lists/);
      const name = `OAUTH2_PROXY_${key.toUpperCase()}`;
      const fromEnv = onlyProblem({ env: { ...PROVIDER_ENV, [name]: env } }, 'ERR_CONFIG_UNKNOWN_VARIABLE', name);
      assert.equal(fromEnv.message, fromFile.message);
      assert.equal(fromEnv.fix, fromFile.fix);
    });
  }

  test('an option that is nothing of the sort keeps the general message', () => {
    const file = files.write('other.cfg', 'no_such_option = true\n');
    assert.match(onlyProblem({ env: PROVIDER_ENV, file }, 'ERR_CONFIG_UNKNOWN_KEY', 'no_such_option').fix, /docs\/oauth2-proxy\.md lists the supported options/);
    assert.equal(problemsOf({ env: PROVIDER_ENV, file: files.write('proto.cfg', '__proto__ = true\n') }).length, 1);
  });
});

test('scope is space-separated, as oauth2-proxy writes it', () => {
  const { config } = loadConfig({ env: { OAUTH2_PROXY_SCOPE: '  openid email\tprofile   groups ' } });
  assert.deepEqual(config.provider.scopes, ['openid', 'email', 'profile', 'groups']);
  onlyProblem({ env: { OAUTH2_PROXY_SCOPE: 'email profile' } }, 'ERR_CONFIG_SCOPE_OPENID', 'provider.scopes');
});

describe('code_challenge_method', () => {
  test("'' keeps the S256 default", () => {
    const { config, origins } = loadConfig({ env: { OAUTH2_PROXY_CODE_CHALLENGE_METHOD: '' } });
    assert.equal(config.provider.pkce, 'S256');
    assert.deepEqual(origins.get('provider.pkce'), { kind: 'default' });
  });

  test('S256 is taken as is', () => {
    const { config, origins, warnings } = loadConfig({ env: { OAUTH2_PROXY_CODE_CHALLENGE_METHOD: 'S256' } });
    assert.equal(config.provider.pkce, 'S256');
    assert.deepEqual(origins.get('provider.pkce'), { kind: 'env', name: 'OAUTH2_PROXY_CODE_CHALLENGE_METHOD' });
    assert.ok(!warnings.some((warning) => warning.includes('pkce')));
  });

  test('plain is accepted with a warning', () => {
    const { config, warnings } = loadConfig({ env: { OAUTH2_PROXY_CODE_CHALLENGE_METHOD: 'plain' } });
    assert.equal(config.provider.pkce, 'plain');
    assert.ok(warnings.some((warning) => warning.includes("provider.pkce is 'plain'")), warnings.join('\n'));
  });

  test('anything else is an error', () => {
    for (const text of ['bogus', 's256', 'S512']) onlyProblem({ env: { OAUTH2_PROXY_CODE_CHALLENGE_METHOD: text } }, 'ERR_CONFIG_PKCE_METHOD', 'provider.pkce');
  });
});

describe('redis_connection_idle_timeout', () => {
  test('takes whole seconds', () => {
    assert.equal(loadConfig({ env: { OAUTH2_PROXY_REDIS_CONNECTION_IDLE_TIMEOUT: '30' } }).config.session.redis.idleTimeout, 30_000);
    assert.equal(loadConfig({ env: { OAUTH2_PROXY_REDIS_CONNECTION_IDLE_TIMEOUT: '0' } }).config.session.redis.idleTimeout, 0);
  });

  test('a Go duration or a fraction is not whole seconds', () => {
    for (const text of ['1m', '1.5', 'abc']) {
      const problem = onlyProblem({ env: { OAUTH2_PROXY_REDIS_CONNECTION_IDLE_TIMEOUT: text } }, 'ERR_CONFIG_NOT_INTEGER', 'session.redis.idleTimeout');
      assert.match(problem.fix, /seconds/);
    }
  });

  test('a negative number of seconds is refused', () => {
    onlyProblem({ env: { OAUTH2_PROXY_REDIS_CONNECTION_IDLE_TIMEOUT: '-5' } }, 'ERR_CONFIG_TYPE', 'session.redis.idleTimeout');
  });
});

describe('secrets from files', () => {
  const files = tempDir();

  test('OAUTH2_PROXY_CLIENT_SECRET_FILE is read, one trailing newline dropped', () => {
    const path = files.write('client-secret', 'from-a-file\n');
    const { config, origins } = loadConfig({ env: { OAUTH2_PROXY_CLIENT_SECRET_FILE: path } });
    assert.equal(config.provider.clientSecret, 'from-a-file');
    assert.deepEqual(origins.get('provider.clientSecret'), { kind: 'env', name: 'OAUTH2_PROXY_CLIENT_SECRET_FILE' });
  });

  test('OAUTH2_PROXY_COOKIE_SECRET_FILE is read, a CRLF dropped', () => {
    const path = files.write('cookie-secret', `${COOKIE_SECRET}\r\n`);
    const { config, origins } = loadConfig({ env: { OAUTH2_PROXY_COOKIE_SECRET_FILE: path } });
    assert.deepEqual(config.cookie.secrets, [COOKIE_SECRET]);
    assert.deepEqual(origins.get('cookie.secrets'), { kind: 'env', name: 'OAUTH2_PROXY_COOKIE_SECRET_FILE' });
  });

  test('only one trailing newline is dropped', () => {
    const path = files.write('two-newlines', 'value\n\n');
    assert.equal(loadConfig({ env: { OAUTH2_PROXY_CLIENT_SECRET_FILE: path } }).config.provider.clientSecret, 'value\n');
  });

  test('--client-secret-file and --cookie-secret-file read files too', () => {
    const secretPath = files.write('flag-client-secret', 'flag-file-secret\n');
    const cookiePath = files.write('flag-cookie-secret', `${COOKIE_SECRET}\n`);
    const { config, origins } = loadConfig({
      env: {},
      flags: [
        { name: 'client-secret-file', text: secretPath },
        { name: 'cookie-secret-file', text: cookiePath },
      ],
    });
    assert.equal(config.provider.clientSecret, 'flag-file-secret');
    assert.deepEqual(config.cookie.secrets, [COOKIE_SECRET]);
    assert.deepEqual(origins.get('provider.clientSecret'), { kind: 'flag', name: '--client-secret-file' });
  });

  test('a missing secret file is a problem naming the file', () => {
    const problem = onlyProblem({ env: { OAUTH2_PROXY_CLIENT_SECRET_FILE: '/nonexistent/gatehouse/secret' } }, 'ERR_CONFIG_FILE_UNREADABLE', 'provider.clientSecret');
    assert.match(problem.message, /\/nonexistent\/gatehouse\/secret/);
    assert.match(problem.message, /ENOENT/);
  });

  test('client_secret_file and cookie_secret_file in an oauth2-proxy TOML file are read', () => {
    const secretPath = files.write('toml-client-secret', 'toml-file-secret\n');
    const cookiePath = files.write('toml-cookie-secret', `${COOKIE_SECRET}\n`);
    const toml = files.write(
      'oauth2_proxy.cfg',
      `oidc_issuer_url = "https://id.example.com/"\nclient_id = "grafana"\nemail_domains = ["example.com"]\nclient_secret_file = "${secretPath}"\ncookie_secret_file = "${cookiePath}"\n`,
    );
    const { config, origins } = loadConfig({ env: {}, file: toml });
    assert.equal(config.provider.clientSecret, 'toml-file-secret');
    assert.deepEqual(config.cookie.secrets, [COOKIE_SECRET]);
    assert.deepEqual(origins.get('provider.clientSecret'), { kind: 'file', name: `${toml} (client_secret_file: ${secretPath})` });
  });

  test('a TOML secret file that is missing, or not a path, is a problem naming the key', () => {
    const toml = files.write('broken.cfg', 'oidc_issuer_url = "https://id.example.com/"\nclient_id = "grafana"\nclient_secret_file = "/nonexistent/gatehouse/secret"\ncookie_secret_file = 5\n');
    const problems = problemsOf({ env: {}, file: toml });
    const unreadable = problems.find((problem) => problem.code === 'ERR_CONFIG_FILE_UNREADABLE');
    assert.ok(unreadable !== undefined, JSON.stringify(problems));
    assert.equal(unreadable.path, 'client_secret_file');
    assert.match(unreadable.message, /\/nonexistent\/gatehouse\/secret.*ENOENT/);
    assert.ok(problems.some((problem) => problem.code === 'ERR_CONFIG_TYPE' && problem.path === 'cookie_secret_file'), JSON.stringify(problems));
  });

  test('_file in a TOML file is only understood for secret options', () => {
    const toml = files.write('id-file.cfg', 'client_id_file = "/tmp/x"\n');
    assert.ok(problemsOf({ env: PROVIDER_ENV, file: toml }).some((problem) => problem.code === 'ERR_CONFIG_UNKNOWN_KEY' && problem.path === 'client_id_file'));
  });

  test('_FILE is only understood for secret options', () => {
    onlyProblem({ env: { OAUTH2_PROXY_CLIENT_ID_FILE: '/tmp/x' } }, 'ERR_CONFIG_UNKNOWN_VARIABLE', 'OAUTH2_PROXY_CLIENT_ID_FILE');
    assert.equal(isConfigFlag('client-id-file'), false);
  });
});

describe('pass_access_token', () => {
  test('without set_xauthrequest it is accepted with a warning and sends nothing, as in oauth2-proxy', () => {
    for (const options of [{ env: { OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true' } }, { env: {}, flags: [{ name: 'pass-access-token', text: 'true' }] }]) {
      const loaded = loadConfig(options);
      assert.equal(loaded.config.identityHeaders.accessToken, false);
      assert.ok(loaded.warnings.some((warning) => warning.startsWith('pass_access_token has no effect without set_xauthrequest')), JSON.stringify(loaded.warnings));
    }
  });

  test('with set_xauthrequest it sends the token, with no warning', () => {
    const loaded = loadConfig({ env: { OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true', OAUTH2_PROXY_SET_XAUTHREQUEST: 'true' } });
    assert.equal(loaded.config.identityHeaders.accessToken, true);
    assert.ok(!loaded.warnings.some((warning) => warning.includes('pass_access_token')));
  });

  test('the native key without xAuthRequest stays an error', () => {
    onlyProblem({ env: { GATEHOUSE_IDENTITY_HEADERS_ACCESS_TOKEN: 'true' } }, 'ERR_CONFIG_ACCESS_TOKEN_HEADER', 'identityHeaders.accessToken');
  });

  test('a value the boolean check accepts with spaces around it is read the same way', () => {
    const loaded = loadConfig({ env: { OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true ', OAUTH2_PROXY_SET_XAUTHREQUEST: ' true' } });
    assert.equal(loaded.config.identityHeaders.accessToken, true);
  });

  test("'yes' is still not a boolean", () => {
    onlyProblem({ env: { OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'yes' } }, 'ERR_CONFIG_NOT_BOOLEAN', 'identityHeaders.accessToken');
  });
});

describe('unknown options', () => {
  test('an unknown OAUTH2_PROXY_ variable is an error that names it', () => {
    const problem = onlyProblem({ env: { OAUTH2_PROXY_FOO: 'bar' } }, 'ERR_CONFIG_UNKNOWN_VARIABLE', 'OAUTH2_PROXY_FOO');
    assert.equal(problem.source, 'env OAUTH2_PROXY_FOO');
    assert.match(formatProblems([problem]), /OAUTH2_PROXY_FOO/);
  });

  test('a real oauth2-proxy option gatehouse does not implement is an error too', () => {
    const problems = problemsOf({ env: { OAUTH2_PROXY_HTPASSWD_FILE: '/etc/htpasswd', OAUTH2_PROXY_GITHUB_ORG: 'acme' } });
    assert.deepEqual(
      problems.map((problem) => [problem.code, problem.path]),
      [
        ['ERR_CONFIG_UNKNOWN_VARIABLE', 'OAUTH2_PROXY_GITHUB_ORG'],
        ['ERR_CONFIG_UNKNOWN_VARIABLE', 'OAUTH2_PROXY_HTPASSWD_FILE'],
      ],
    );
  });

  test('a proxy prefix other than /oauth2 is unsupported', () => {
    onlyProblem({ env: { OAUTH2_PROXY_PROXY_PREFIX: '/auth' } }, 'ERR_CONFIG_OPTION_UNSUPPORTED', 'proxyPrefix');
  });

  test('unrelated environment variables are ignored', () => {
    const { config } = loadConfig({ env: { PATH: '/usr/bin', HOME: '/root', OAUTH2_PROXY: 'x', GATEHOUSE: 'y' } });
    assert.equal(config.listen, '127.0.0.1:4180');
  });
});
