/**
 * What a wrong configuration is told: the nearest key or variable for a misspelling, the allowed range of a
 * number, an empty choice written as "", the TOML line of a syntax error, and conflicts that would otherwise
 * surface only at start-up (one port twice) or be settled by a guess (a secret inline and from a file).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closest, editDistance } from '../../src/config/closest.js';
import type { Problem } from '../../src/config/index.js';
import { loadConfig } from '../../src/config/index.js';
import { PROVIDER_ENV, problemsOf, tempDir } from './support.js';

const files = tempDir('gatehouse-messages-');

/** The one problem at `path`. */
function problemAt(problems: readonly Problem[], path: string): Problem {
  const found = problems.filter((problem) => problem.path === path);
  assert.equal(found.length, 1, JSON.stringify(problems, null, 2));
  return found[0] as Problem;
}

describe('closest', () => {
  test('edit distance ignores case and counts insertions, deletions and substitutions', () => {
    assert.equal(editDistance('host', 'hosts'), 1);
    assert.equal(editDistance('HOSTS', 'hosts'), 0);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });

  test('a near name is suggested, a far one is not', () => {
    assert.equal(closest('host', ['hosts', 'paths', 'methods']), 'hosts');
    assert.equal(closest('requires', ['require', 'allow']), 'require');
    assert.equal(closest('zzz', ['hosts', 'paths']), undefined);
  });
});

describe('problem messages', () => {
  test('an unknown key in a route or a profile names the key and the nearest known one, and the page', () => {
    const file = files.write('keys.yaml', 'routes:\n  - name: a\n    host: [x.example.com]\n  - name: b\n    hosts: [y.example.com]\n    zzz: 1\nbearer:\n  profiles:\n    p:\n      issuer: [https://id.example.com]\n');
    const problems = problemsOf({ file, env: PROVIDER_ENV });
    const route = problemAt(problems, 'routes[0]');
    assert.equal(route.code, 'ERR_CONFIG_UNKNOWN_KEY');
    assert.equal(route.message, "has an unknown key 'host'");
    assert.equal(route.fix, "'host': did you mean 'hosts'? (docs/policy.md)");
    const far = problemAt(problems, 'routes[1]');
    assert.match(far.fix, /^the keys allowed here are name, hosts, paths/);
    assert.equal(problemAt(problems, 'bearer.profiles.p').fix, "'issuer': did you mean 'issuers'? (docs/bearer.md)");
  });

  test('a number out of range names its bound and the whole range', () => {
    const high = problemAt(problemsOf({ env: { GATEHOUSE_FORWARD_AUTH_STATUS: '404' } }), 'forwardAuth.status');
    assert.equal(high.message, 'must be at most 299');
    assert.match(high.fix, /^write a number from 200 to 299/);
    assert.equal(problemAt(problemsOf({ env: { GATEHOUSE_FORWARD_AUTH_STATUS: '100' } }), 'forwardAuth.status').message, 'must be at least 200');
  });

  test('an empty choice is written as "" in the fix, never as nothing after a comma', () => {
    const file = files.write('samesite.yaml', 'cookie:\n  sameSite: LAX\n');
    assert.equal(problemAt(problemsOf({ file, env: {} }), 'cookie.sameSite').fix, 'write one of: lax, strict, none, "" (empty)');
  });

  test('a number where text belongs: write it in quotes', () => {
    const file = files.write('listen.yaml', 'listen: 4180\n');
    assert.match(problemAt(problemsOf({ file, env: {} }), 'listen').fix, /in quotes.*listen: "…"/);
  });

  test('a TOML syntax error names its line and column', () => {
    const file = files.write('bad.cfg', 'client_id = "a"\nemail_domains = "example\u0001.com"\n');
    const problem = problemAt(problemsOf({ file, env: {} }), file);
    assert.equal(problem.code, 'ERR_CONFIG_TOML_SYNTAX');
    assert.match(problem.message, /\(line 2, column \d+\)$/);
    assert.equal(problem.fix, 'correct the TOML syntax at line 2');
  });

  test('a misspelt variable gets the nearest real one, in its own family', () => {
    const problems = problemsOf({ env: { GATEHOUSE_COOKIE_SECRET: 'x', OAUTH2_PROXY_COOKIE_SECRETS: 'y', GATEHOUSE_NOTHING_LIKE_IT: 'z' } });
    assert.equal(problemAt(problems, 'GATEHOUSE_COOKIE_SECRET').fix, 'did you mean GATEHOUSE_COOKIE_SECRETS?');
    assert.equal(problemAt(problems, 'OAUTH2_PROXY_COOKIE_SECRETS').fix, 'did you mean OAUTH2_PROXY_COOKIE_SECRET?');
    assert.match(problemAt(problems, 'GATEHOUSE_NOTHING_LIKE_IT').fix, /^remove it/);
  });
});

describe('an unreadable configuration file', () => {
  test('is reported against what named it: --config by default, GATEHOUSE_CONFIG, or a cases file', () => {
    const byFlag = problemAt(problemsOf({ env: {}, file: '/nonexistent/gatehouse.yaml' }), '--config');
    assert.equal(byFlag.code, 'ERR_CONFIG_FILE_UNREADABLE');
    assert.equal(byFlag.source, 'flag --config');
    const byEnv = problemAt(problemsOf({ env: {}, file: '/nonexistent/gatehouse.yaml', fileOrigin: { kind: 'env', name: 'GATEHOUSE_CONFIG' } }), 'GATEHOUSE_CONFIG');
    assert.equal(byEnv.source, 'env GATEHOUSE_CONFIG');
    assert.match(byEnv.message, /\/nonexistent\/gatehouse\.yaml.*ENOENT/);
    const byToml = problemAt(problemsOf({ env: {}, file: '/nonexistent/oauth2_proxy.cfg', fileOrigin: { kind: 'file', name: 'cases.yaml' } }), 'config');
    assert.equal(byToml.source, 'file cases.yaml');
  });
});

describe('suggestions for the YAML file and variables', () => {
  test('a misspelt key gets the nearest key of its own section; a key of another section is said to be there', () => {
    const file = files.write('near.yaml', 'provider:\n  name: keycloak\n  issuerr: https://id.example.com/\ncookie:\n  secret: abc\n');
    const problems = problemsOf({ file, env: {} });
    assert.equal(problemAt(problems, 'provider.issuerr').fix, "did you mean 'provider.issuer'?");
    assert.equal(problemAt(problems, 'cookie.secret').fix, "did you mean 'cookie.secrets'?");
    assert.equal(problemAt(problems, 'provider.name').fix, "there is no such key in 'provider'; 'cookie.name' has that name");
  });

  test('a misspelt *_FILE variable is told the *_FILE name, never the inline one (its path would become the secret)', () => {
    const problems = problemsOf({ env: { OAUTH2_PROXY_COOKIE_SECRET_FLE: '/run/secrets/cookie', GATEHOUSE_PROVIDER_CLIENT_SECRET_FIL: '/run/secrets/client' } });
    assert.equal(problemAt(problems, 'OAUTH2_PROXY_COOKIE_SECRET_FLE').fix, 'did you mean OAUTH2_PROXY_COOKIE_SECRET_FILE?');
    assert.equal(problemAt(problems, 'GATEHOUSE_PROVIDER_CLIENT_SECRET_FIL').fix, 'did you mean GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE?');
  });
});

describe('a secret both inline and from a file is a problem in every source', () => {
  const secretFile = files.write('both-secret', 'file-secret\n');
  const twice = (options: Parameters<typeof problemsOf>[0]) => problemsOf(options).filter((problem) => problem.code === 'ERR_CONFIG_SECRET_TWICE').map((problem) => problem.path);

  test('oauth2-proxy TOML, in either order', () => {
    for (const text of [`client_secret_file = "${secretFile}"\nclient_secret = "inline-secret"\n`, `client_secret = "inline-secret"\nclient_secret_file = "${secretFile}"\n`]) {
      assert.deepEqual(twice({ file: files.write('both.cfg', text), env: PROVIDER_ENV }), ['provider.clientSecret']);
    }
  });

  test('variables of either family, and flags', () => {
    assert.deepEqual(twice({ env: { ...PROVIDER_ENV, OAUTH2_PROXY_CLIENT_SECRET: 'inline-secret', OAUTH2_PROXY_CLIENT_SECRET_FILE: secretFile } }), ['provider.clientSecret']);
    assert.deepEqual(twice({ env: { ...PROVIDER_ENV, GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE: secretFile } }), ['provider.clientSecret'], 'PROVIDER_ENV sets the secret inline');
    assert.deepEqual(twice({ env: PROVIDER_ENV, flags: [{ name: 'client-secret', text: 'inline-secret' }, { name: 'client-secret-file', text: secretFile }] }), ['provider.clientSecret']);
  });

  test('a file in one source and the inline secret in another is precedence, not a problem', () => {
    const loaded = loadConfig({ env: { ...PROVIDER_ENV, GATEHOUSE_PROVIDER_CLIENT_SECRET: 'from-env' }, flags: [{ name: 'client-secret-file', text: secretFile }] });
    assert.equal(loaded.config.provider.clientSecret, 'file-secret', 'the flag wins over the variable');
  });
});

describe('conflicts', () => {
  test('metrics.listen on the port gatehouse listens on is a problem naming both', () => {
    for (const [listen, metrics] of [
      ['127.0.0.1:4180', '127.0.0.1:4180'],
      [':4180', '127.0.0.1:4180'],
      ['127.0.0.1:4180', '0.0.0.0:4180'],
      ['localhost:4180', '127.0.0.1:4180'],
      ['[0:0:0:0:0:0:0:0]:4180', '127.0.0.1:4180'],
      ['[::0]:4180', '[::1]:4180'],
    ] as const) {
      const problem = problemAt(problemsOf({ env: { GATEHOUSE_LISTEN: listen, GATEHOUSE_METRICS_LISTEN: metrics, ...(listen.startsWith(':') ? PROVIDER_ENV : {}) } }), 'metrics.listen');
      assert.equal(problem.code, 'ERR_CONFIG_LISTEN_CONFLICT', `${listen} / ${metrics}`);
      assert.ok(problem.message.includes(listen), problem.message);
    }
  });

  test('another port, another address, or port 0 is fine', () => {
    for (const [listen, metrics] of [
      ['127.0.0.1:4180', '127.0.0.1:9090'],
      ['127.0.0.1:4180', '127.0.0.2:4180'],
      ['127.0.0.1:0', '127.0.0.1:0'],
    ] as const) {
      assert.ok(!problemsOf({ env: { GATEHOUSE_LISTEN: listen, GATEHOUSE_METRICS_LISTEN: metrics, GATEHOUSE_LOGGING_LEVEL: 'nope' } }).some((problem) => problem.code === 'ERR_CONFIG_LISTEN_CONFLICT'), `${listen} / ${metrics}`);
    }
  });

  test('a secret both inline and from a file is a problem, not a guess', () => {
    const secretFile = files.write('client-secret', 'from-file\n');
    const file = files.write('twice.yaml', `provider:\n  issuer: https://id.example.com/\n  clientId: a\n  clientSecret: inline\n  clientSecretFile: ${secretFile}\n`);
    const problem = problemAt(problemsOf({ file, env: {} }), 'provider.clientSecretFile');
    assert.equal(problem.code, 'ERR_CONFIG_SECRET_TWICE');
    assert.equal(problem.fix, "keep one of 'clientSecret' and 'clientSecretFile'");
  });
});
