/** The three ways in (YAML file, environment, flags), their precedence and the origin of every value. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, FIELDS, loadConfig } from '../../src/config/index.js';
import { COOKIE_SECRET, COOKIE_SECRET_RAW_24, onlyProblem, problemsOf, tempDir } from './support.js';

const files = tempDir();

describe('YAML file', () => {
  test('nested keys land on their paths, with the file as origin', () => {
    const file = files.write(
      'nested.yaml',
      [
        'listen: 127.0.0.1:8080',
        'provider:',
        '  displayName: Auth0',
        '  claims:',
        '    groups: realm_access.roles',
        'session:',
        '  redis:',
        '    keyPrefix: "gh:"',
        '    idleTimeout: 90s',
        'cookie:',
        '  domains:',
        '    - .homelab.example.com',
        '    - .example.org',
        '  expire: 24h',
        'forwardAuth:',
        '  status: 200',
        'proxy:',
        '  reverseProxy: true',
        '  trusted: [10.0.0.0/8]',
        '',
      ].join('\n'),
    );
    const { config, origins } = loadConfig({ file, env: {} });
    assert.equal(config.listen, '127.0.0.1:8080');
    assert.equal(config.provider.displayName, 'Auth0');
    assert.equal(config.provider.claims.groups, 'realm_access.roles');
    assert.equal(config.provider.claims.email, 'email');
    assert.equal(config.session.redis.keyPrefix, 'gh:');
    assert.equal(config.session.redis.idleTimeout, 90_000);
    assert.deepEqual(config.cookie.domains, ['.homelab.example.com', '.example.org']);
    assert.equal(config.cookie.expire, 86_400_000);
    assert.equal(config.forwardAuth.status, 200);
    assert.equal(config.proxy.reverseProxy, true);
    assert.deepEqual(config.proxy.trusted, ['10.0.0.0/8']);
    for (const path of ['listen', 'provider.claims.groups', 'session.redis.keyPrefix', 'cookie.domains', 'forwardAuth.status']) {
      assert.deepEqual(origins.get(path), { kind: 'file', name: file }, path);
    }
    assert.deepEqual(origins.get('provider.claims.email'), { kind: 'default' });
  });

  test('an empty file and empty sections are the defaults', () => {
    const empty = loadConfig({ file: files.write('empty.yaml', ''), env: {} });
    const sections = loadConfig({ file: files.write('sections.yaml', 'provider:\ncookie:\n'), env: {} });
    assert.deepEqual(empty.config, loadConfig({ env: {} }).config);
    assert.deepEqual(sections.config, empty.config);
  });

  test('${VAR}, ${VAR:-default} and $$ are expanded from the environment', () => {
    const file = files.write(
      'interpolate.yaml',
      [
        'provider:',
        '  issuer: https://${IDP_HOST}/',
        '  clientId: ${CLIENT_ID:-fallback-client}',
        '  clientSecret: ${CLIENT_SECRET:-unused}',
        '  displayName: Costs $$5, not ${UNSET_NAME:-}$$${CURRENCY}',
        '  scopes: [openid, "${EXTRA_SCOPE}"]',
        'cookie:',
        '  secrets: ["${COOKIE_SECRET}"]',
        'authorization:',
        '  emailDomains: [example.com]',
        'proxy:',
        '  reverseProxy: ${REVERSE_PROXY:-true}',
        'forwardAuth:',
        '  status: ${STATUS:-202}',
        '',
      ].join('\n'),
    );
    const env = { IDP_HOST: 'idp.example.com', CLIENT_SECRET: 'from-env', CURRENCY: 'EUR', EXTRA_SCOPE: 'groups', COOKIE_SECRET, STATUS: '200' };
    const { config } = loadConfig({ file, env });
    assert.equal(config.provider.issuer, 'https://idp.example.com/');
    assert.equal(config.provider.clientId, 'fallback-client');
    assert.equal(config.provider.clientSecret, 'from-env');
    assert.equal(config.provider.displayName, 'Costs $5, not $EUR');
    assert.deepEqual(config.provider.scopes, ['openid', 'groups']);
    assert.deepEqual(config.cookie.secrets, [COOKIE_SECRET]);
    assert.equal(config.proxy.reverseProxy, true);
    assert.equal(config.forwardAuth.status, 200);
  });

  test('$${VAR} is a literal ${VAR}', () => {
    const file = files.write('escape.yaml', 'provider:\n  displayName: "$${NOT_EXPANDED}"\n');
    assert.equal(loadConfig({ file, env: { NOT_EXPANDED: 'oops' } }).config.provider.displayName, '${NOT_EXPANDED}');
  });

  test('an interpolated boolean that is not one is a problem at its path', () => {
    const file = files.write('bad-bool.yaml', 'proxy:\n  reverseProxy: ${REVERSE_PROXY}\n');
    onlyProblem({ file, env: { REVERSE_PROXY: 'yes' } }, 'ERR_CONFIG_NOT_BOOLEAN', 'proxy.reverseProxy');
  });

  test('an unset variable is a problem that names it, per use', () => {
    const file = files.write('unset.yaml', 'provider:\n  clientId: ${GH_TEST_CLIENT}\n  clientSecret: ${GH_TEST_SECRET}\n');
    // GH_TEST_SECRET is set but empty: like a shell, `${VAR}` keeps the empty value; only an unset one is a problem.
    const problems = problemsOf({ file, env: { GH_TEST_SECRET: '' } });
    assert.deepEqual(
      problems.map((problem) => [problem.code, problem.path]),
      [['ERR_CONFIG_VARIABLE_UNSET', 'provider.clientId']],
    );
    assert.match(problems[0]!.message, /\$\{GH_TEST_CLIENT\}/);
    assert.match(problems[0]!.fix, /GH_TEST_CLIENT/);
    assert.equal(problems[0]!.source, `file ${file}`);
  });

  test('an unknown key is a problem with a did-you-mean fix', () => {
    const file = files.write('typo.yaml', 'cookie:\n  httponly: false\nreverseProxy: true\nnonsense: 1\n');
    const problems = problemsOf({ file, env: {} });
    assert.deepEqual(
      problems.map((problem) => [problem.code, problem.path, problem.fix]),
      [
        ['ERR_CONFIG_UNKNOWN_KEY', 'cookie.httponly', "did you mean 'cookie.httpOnly'?"],
        ['ERR_CONFIG_UNKNOWN_KEY', 'reverseProxy', "did you mean 'proxy.reverseProxy'?"],
        ['ERR_CONFIG_UNKNOWN_KEY', 'nonsense', 'remove it; docs/configuration.md lists every key'],
      ],
    );
  });

  test('a syntax error is a problem naming the file and the line', () => {
    const file = files.write('broken.yaml', 'listen: 127.0.0.1:4180\ncookie:\n  name: [unclosed\n');
    const problems = problemsOf({ file, env: {} });
    assert.ok(problems.length >= 1);
    for (const problem of problems) {
      assert.equal(problem.code, 'ERR_CONFIG_YAML_SYNTAX');
      assert.equal(problem.path, file);
    }
    assert.match(problems[0]!.message, /line \d+/);
  });

  test('<secret>File siblings read secrets from files', () => {
    const clientSecret = files.write('client-secret', 'client-secret-from-file\n');
    const cookieSecrets = files.write('cookie-secrets', `${COOKIE_SECRET}\n\n${COOKIE_SECRET_RAW_24}\n`);
    const redisPassword = files.write('redis-password', 'redis-pass');
    const file = files.write(
      'secret-files.yaml',
      `provider:\n  clientSecretFile: ${clientSecret}\ncookie:\n  secretsFile: \${SECRETS_DIR}/cookie-secrets\nsession:\n  redis:\n    passwordFile: ${redisPassword}\n`,
    );
    const { config, origins } = loadConfig({ file, env: { SECRETS_DIR: files.dir } });
    assert.equal(config.provider.clientSecret, 'client-secret-from-file');
    assert.deepEqual(config.cookie.secrets, [COOKIE_SECRET, COOKIE_SECRET_RAW_24]);
    assert.equal(config.session.redis.password, 'redis-pass');
    assert.deepEqual(origins.get('provider.clientSecret'), { kind: 'file', name: `${file} (provider.clientSecretFile: ${clientSecret})` });
    assert.deepEqual(origins.get('cookie.secrets'), { kind: 'file', name: `${file} (cookie.secretsFile: ${cookieSecrets})` });
  });

  test('a File sibling is only understood for secrets', () => {
    const file = files.write('not-secret-file.yaml', 'provider:\n  clientIdFile: /tmp/x\n');
    onlyProblem({ file, env: {} }, 'ERR_CONFIG_UNKNOWN_KEY', 'provider.clientIdFile');
  });
});

describe('native environment', () => {
  test('GATEHOUSE_* variables set every kind of leaf', () => {
    const { config, origins } = loadConfig({
      env: {
        GATEHOUSE_LISTEN: '127.0.0.1:9999',
        GATEHOUSE_COOKIE_EXPIRE: '12h',
        GATEHOUSE_COOKIE_DOMAINS: '.a.example, .b.example',
        GATEHOUSE_COOKIE_SECRETS: `${COOKIE_SECRET},${COOKIE_SECRET_RAW_24}`,
        GATEHOUSE_COOKIE_SAME_SITE: 'strict',
        GATEHOUSE_FORWARD_AUTH_STATUS: '200',
        GATEHOUSE_PROXY_REVERSE_PROXY: 'true',
        GATEHOUSE_PROVIDER_CLAIMS_USERNAME: 'nickname',
        GATEHOUSE_SESSION_REDIS_KEY_PREFIX: 'x:',
        GATEHOUSE_CONFIG: '/ignored/here/read/by/the/cli.yaml',
      },
    });
    assert.equal(config.listen, '127.0.0.1:9999');
    assert.equal(config.cookie.expire, 43_200_000);
    assert.deepEqual(config.cookie.domains, ['.a.example', '.b.example']);
    assert.deepEqual(config.cookie.secrets, [COOKIE_SECRET, COOKIE_SECRET_RAW_24]);
    assert.equal(config.cookie.sameSite, 'strict');
    assert.equal(config.forwardAuth.status, 200);
    assert.equal(config.proxy.reverseProxy, true);
    assert.equal(config.provider.claims.username, 'nickname');
    assert.equal(config.session.redis.keyPrefix, 'x:');
    assert.deepEqual(origins.get('provider.claims.username'), { kind: 'env', name: 'GATEHOUSE_PROVIDER_CLAIMS_USERNAME' });
  });

  test('every leaf has a GATEHOUSE_ variable and a flag that set it', () => {
    const envNames = FIELDS.map((field) => field.env);
    assert.equal(new Set(envNames).size, envNames.length);
    for (const field of FIELDS) {
      assert.match(field.env, /^GATEHOUSE_[A-Z0-9_]+$/, field.path);
      assert.match(field.flag, /^--[a-z0-9.-]+$/, field.path);
    }
  });

  test('GATEHOUSE_*_FILE reads a secret from a file', () => {
    const secret = files.write('native-client-secret', 'native-file-secret\n');
    const cookies = files.write('native-cookie-secrets', `${COOKIE_SECRET}\n${COOKIE_SECRET_RAW_24}\n`);
    const { config, origins } = loadConfig({ env: { GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE: secret, GATEHOUSE_COOKIE_SECRETS_FILE: cookies } });
    assert.equal(config.provider.clientSecret, 'native-file-secret');
    assert.deepEqual(config.cookie.secrets, [COOKIE_SECRET, COOKIE_SECRET_RAW_24]);
    assert.deepEqual(origins.get('provider.clientSecret'), { kind: 'env', name: 'GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE' });
  });

  test('_FILE is not accepted for a non-secret leaf', () => {
    onlyProblem({ env: { GATEHOUSE_LISTEN_FILE: '/tmp/x' } }, 'ERR_CONFIG_UNKNOWN_VARIABLE', 'GATEHOUSE_LISTEN_FILE');
  });

  test('a native variable beats its OAUTH2_PROXY_ twin, whatever the order of the environment', () => {
    const forward = { OAUTH2_PROXY_COOKIE_NAME: '_oauth2_proxy', GATEHOUSE_COOKIE_NAME: '_native' };
    const backward = { GATEHOUSE_COOKIE_NAME: '_native', OAUTH2_PROXY_COOKIE_NAME: '_oauth2_proxy' };
    for (const env of [forward, backward]) {
      const { config, origins } = loadConfig({ env });
      assert.equal(config.cookie.name, '_native');
      assert.deepEqual(origins.get('cookie.name'), { kind: 'env', name: 'GATEHOUSE_COOKIE_NAME' });
    }
    const lists = loadConfig({ env: { OAUTH2_PROXY_EMAIL_DOMAINS: 'oauth2.example', GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS: 'native.example' } });
    assert.deepEqual(lists.config.authorization.emailDomains, ['native.example']);
  });
});

describe('precedence: flags > env > file > defaults', () => {
  test('each level wins over the ones below it, and origins say which', () => {
    const file = files.write(
      'precedence.yaml',
      'listen: 127.0.0.1:1001\ncookie:\n  name: _from_file\n  path: /file\n  domains: [.file.example]\nprovider:\n  displayName: File\n',
    );
    const { config, origins } = loadConfig({
      file,
      env: { GATEHOUSE_LISTEN: '127.0.0.1:1002', OAUTH2_PROXY_COOKIE_NAME: '_from_env', GATEHOUSE_COOKIE_DOMAINS: '.env.example' },
      flags: [
        { name: 'listen', text: '127.0.0.1:1003' },
        { name: 'cookie-domain', text: '.flag.example' },
      ],
    });
    // file only
    assert.equal(config.cookie.path, '/file');
    assert.deepEqual(origins.get('cookie.path'), { kind: 'file', name: file });
    assert.equal(config.provider.displayName, 'File');
    // file < env
    assert.equal(config.cookie.name, '_from_env');
    assert.deepEqual(origins.get('cookie.name'), { kind: 'env', name: 'OAUTH2_PROXY_COOKIE_NAME' });
    // file < env < flag
    assert.equal(config.listen, '127.0.0.1:1003');
    assert.deepEqual(origins.get('listen'), { kind: 'flag', name: '--listen' });
    // lists are replaced, not merged, across levels
    assert.deepEqual(config.cookie.domains, ['.flag.example']);
    assert.deepEqual(origins.get('cookie.domains'), { kind: 'flag', name: '--cookie-domain' });
    // default
    assert.equal(config.cookie.expire, 604_800_000);
    assert.deepEqual(origins.get('cookie.expire'), { kind: 'default' });
  });

  test('every leaf has an origin', () => {
    const { origins } = loadConfig({ env: {} });
    assert.deepEqual([...origins.keys()].sort(), FIELDS.map((field) => field.path).sort());
    for (const origin of origins.values()) assert.deepEqual(origin, { kind: 'default' });
  });

  test('env beats file without flags; the file beats defaults', () => {
    const file = files.write('two-levels.yaml', 'shutdownTimeout: 30s\nlogging:\n  level: debug\n');
    const { config, origins } = loadConfig({ file, env: { GATEHOUSE_LOGGING_LEVEL: 'warn' } });
    assert.equal(config.logging.level, 'warn');
    assert.deepEqual(origins.get('logging.level'), { kind: 'env', name: 'GATEHOUSE_LOGGING_LEVEL' });
    assert.equal(config.shutdownTimeout, 30_000);
    assert.deepEqual(origins.get('shutdownTimeout'), { kind: 'file', name: file });
  });

  test('native flags and oauth2-proxy flags both count as flags', () => {
    const { config, origins } = loadConfig({
      env: { OAUTH2_PROXY_REVERSE_PROXY: 'false' },
      flags: [
        { name: 'proxy.reverse-proxy', text: 'true' },
        { name: 'cookie-name', text: '_flag' },
      ],
    });
    assert.equal(config.proxy.reverseProxy, true);
    assert.deepEqual(origins.get('proxy.reverseProxy'), { kind: 'flag', name: '--proxy.reverse-proxy' });
    assert.equal(config.cookie.name, '_flag');
  });
});

test('the loaded configuration is deeply frozen', () => {
  const { config } = loadConfig({ env: { OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com' } });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.provider.claims));
  assert.ok(Object.isFrozen(config.session.redis));
  assert.ok(Object.isFrozen(config.authorization.emailDomains));
  assert.throws(() => {
    (config as { listen: string }).listen = '0.0.0.0:80';
  }, TypeError);
  assert.throws(() => {
    (config.cookie as { secure: boolean }).secure = false;
  }, TypeError);
  assert.throws(() => {
    config.authorization.emailDomains.push('evil.example');
  }, TypeError);
  assert.equal(config.listen, '127.0.0.1:4180');
  assert.deepEqual(config.authorization.emailDomains, ['example.com']);
});

test('two loads share nothing mutable', () => {
  const first = loadConfig({ env: {} });
  const second = loadConfig({ env: { GATEHOUSE_PROVIDER_SCOPES: 'openid,groups' } });
  assert.deepEqual(first.config.provider.scopes, ['openid', 'email', 'profile']);
  assert.deepEqual(second.config.provider.scopes, ['openid', 'groups']);
});

test("Kubernetes' service-link variables are passed over, but an option typo that looks like one is not", () => {
  const links = {
    GATEHOUSE_SERVICE_HOST: '10.43.0.10',
    GATEHOUSE_SERVICE_PORT: '4180',
    GATEHOUSE_SERVICE_PORT_METRICS: '9090',
    GATEHOUSE_PORT: 'tcp://10.43.0.10:4180',
    GATEHOUSE_PORT_4180_TCP: 'tcp://10.43.0.10:4180',
    GATEHOUSE_PORT_4180_TCP_PROTO: 'tcp',
    GATEHOUSE_PORT_4180_TCP_PORT: '4180',
    GATEHOUSE_PORT_4180_TCP_ADDR: '10.43.0.10',
    GATEHOUSE_REDIS_SERVICE_HOST: 'fd00::12',
    OAUTH2_PROXY_SERVICE_HOST: '10.43.0.11',
    OAUTH2_PROXY_PORT_80_TCP: 'tcp://10.43.0.11:80',
  };
  assert.doesNotThrow(() => loadConfig({ env: links }));
  assert.throws(
    () => loadConfig({ env: { ...links, GATEHOUSE_LISTEN_PORT: '4180', GATEHOUSE_PORT_4180_TCP_ADDR: 'not-an-address' } }),
    (error: unknown) => error instanceof ConfigError && error.problems.map((problem) => problem.path).sort().join() === 'GATEHOUSE_LISTEN_PORT,GATEHOUSE_PORT_4180_TCP_ADDR',
  );
});
