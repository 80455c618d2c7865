/**
 * The `gatehouse` executable, driven as operators drive it: `node dist/cli/bin.js` in a child process with a
 * controlled environment. Exit codes: 0 ok, 2 usage, 78 invalid configuration.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { FIELDS, loadConfig } from '../../src/config/index.js';
import { ROOT } from '../e2e/support/build.js';
import { cliHarness } from './support.js';
import { Served } from '../support/served.js';

const COOKIE_SECRET = 'Aj8lBvYV4xw2m6n0ZPpTQ9Jg3rKcXe7WfH1sLdNuUqE';
const CLIENT_SECRET = 'cli-client-secret-7f3a9c';

const cli = cliHarness('gatehouse-cli-');
const { dir } = cli;

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const start = (args: readonly string[], env: Record<string, string> = {}): ChildProcess => cli.spawn(args, env);

/**
 * oidc-provider warns on stderr at import time on Node.js 20 (it wants 22+), and the CLI imports it eagerly.
 * That line is not gatehouse's output; it is stripped so the tests check what gatehouse itself writes.
 */
const OIDC_PROVIDER_RUNTIME_WARNING = /^oidc-provider WARNING: Unsupported runtime\..*\n/m;

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion. */
function run(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Result> {
  const child = start(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr: stderr.replace(OIDC_PROVIDER_RUNTIME_WARNING, '') });
    });
  });
}

/** A running `serve` whose listening line names the address it bound. */
class CliServed extends Served {
  /** Waits for the listening line and returns the bound port. */
  override async port(): Promise<number> {
    const record = await this.listening();
    const port = Number(/:(\d+)$/.exec(record.msg)?.[1]);
    assert.ok(port > 0 && port < 65536, record.msg);
    assert.equal(record.address, `http://127.0.0.1:${port}`);
    return port;
  }
}

/** GET over a fresh connection (no keep-alive, so nothing outlives the test). */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path, agent: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${path} timed out`)));
    request.on('error', reject);
  });
}

function isPingAnswer(answer: { status: number; body: string }): boolean {
  return answer.status === 200 && answer.body === 'OK';
}

const JSON_LOGS = { GATEHOUSE_LOGGING_FORMAT: 'json' };

describe('version and help', () => {
  test('--version, -V and version print the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const arg of ['--version', '-V', 'version']) {
      const result = await run([arg]);
      assert.equal(result.code, 0, arg);
      assert.equal(result.stdout, `${version}\n`, arg);
      assert.equal(result.stderr, '');
    }
  });

  for (const args of [['--help'], ['-h'], ['help'], ['serve', '--help'], ['help', 'serve'], ['config', '--help'], ['config', 'check', '--help'], ['help', 'config'], ['secret', '--help'], ['secret', 'generate', '--help'], ['help', 'secret']]) {
    test(`gatehouse ${args.join(' ')} shows help with examples, exit 0`, async () => {
      const result = await run(args);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /^Usage: gatehouse/m);
      assert.match(result.stdout, /^Examples:$/m);
      assert.equal(result.stderr, '');
    });
  }

  test('each command has its own help', async () => {
    const serve = await run(['serve', '--help']);
    const config = await run(['config', '--help']);
    const secret = await run(['secret', '--help']);
    const main = await run(['--help']);
    assert.match(serve.stdout, /Usage: gatehouse serve/);
    assert.match(serve.stdout, /SIGHUP/);
    assert.match(config.stdout, /Usage: gatehouse config check/);
    assert.match(secret.stdout, /Usage: gatehouse secret generate/);
    assert.match(main.stdout, /Commands:/);
  });

  test('no arguments at all is a usage error with the help on stderr', async () => {
    const result = await run([]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /Usage: gatehouse <command>/);
  });
});

describe('usage errors: exit 2, one line, then usage, on stderr', () => {
  const cases: { args: string[]; error: string; usage: RegExp }[] = [
    { args: ['bogus'], error: "gatehouse: unknown command 'bogus'", usage: /^Usage: gatehouse <command>/ },
    { args: ['--bogus'], error: "gatehouse: unknown flag '--bogus'", usage: /^Usage: gatehouse <command>/ },
    { args: ['serve', '--bogus=1'], error: "gatehouse: unknown flag '--bogus'", usage: /^Usage: gatehouse serve/ },
    { args: ['serve', 'extra'], error: "gatehouse: unexpected argument 'extra'", usage: /^Usage: gatehouse serve/ },
    { args: ['config', 'check', '--cookie.nope=1'], error: "gatehouse: unknown flag '--cookie.nope'", usage: /^Usage: gatehouse config check/ },
    // A known oauth2-proxy flag gatehouse does not implement says what to do instead.
    { args: ['config', 'check', '--skip-auth-regex=^/x'], error: "gatehouse: unknown flag '--skip-auth-regex': it is oauth2-proxy's deprecated form of skip_auth_routes; rename it skip_auth_routes (OAUTH2_PROXY_SKIP_AUTH_ROUTES, --skip-auth-route): an entry without METHOD= applies to every method, as a skip_auth_regex entry did", usage: /^Usage: gatehouse config check/ },
    { args: ['serve', '--ssl-insecure-skip-verify'], error: "gatehouse: unknown flag '--ssl-insecure-skip-verify': it would turn off TLS verification, which gatehouse never does; remove it, and trust the provider's certificate authority with NODE_EXTRA_CA_CERTS (the path of a PEM file)", usage: /^Usage: gatehouse serve/ },
    { args: ['config', 'lint'], error: "gatehouse: unknown command 'config lint'", usage: /^Usage: gatehouse config check/ },
    { args: ['secret', 'rotate'], error: "gatehouse: unknown command 'secret rotate'", usage: /^Usage: gatehouse secret generate/ },
    { args: ['secret', 'generate', '--length', '32'], error: "gatehouse: unknown flag '--length'", usage: /^Usage: gatehouse secret generate/ },
    { args: ['secret', 'generate', '--bytes', '0x10'], error: "gatehouse: --bytes must be 16, 24 or 32, not '0x10'", usage: /^Usage: gatehouse secret generate/ },
    { args: ['secret', 'generate', '--bytes', '1.6e1'], error: "gatehouse: --bytes must be 16, 24 or 32, not '1.6e1'", usage: /^Usage: gatehouse secret generate/ },
    { args: ['serve', '--upstream'], error: "gatehouse: flag '--upstream' needs a value", usage: /^Usage: gatehouse serve/ },
    { args: ['help', 'bogus'], error: "gatehouse: no help for unknown command 'bogus'", usage: /^Usage: gatehouse <command>/ },
    // A sub-command's own usage line, not the command's first one.
    { args: ['token', 'revoke'], error: 'gatehouse: give exactly one of --jti and --sub', usage: /^Usage: gatehouse token revoke {3}--jti ID \| --sub S/ },
    { args: ['token', 'revoke', '--jti', 'a\nb'], error: 'gatehouse: --jti holds a control character', usage: /^Usage: gatehouse token revoke / },
    { args: ['token', 'unrevoke', '--sub='], error: 'gatehouse: --sub is empty', usage: /^Usage: gatehouse token unrevoke / },
    { args: ['token', 'revoked', '--jti', 'x'], error: "gatehouse: unknown flag '--jti'", usage: /^Usage: gatehouse token revoked {2}\[--profile NAME\]/ },
    { args: ['token', 'frob'], error: "gatehouse: unknown command 'token frob'", usage: /^Usage: gatehouse token mint / },
    { args: ['sessions', 'revoke'], error: 'gatehouse: give exactly one of --email and --sub', usage: /^Usage: gatehouse sessions revoke / },
  ];
  for (const { args, error, usage } of cases) {
    test(`gatehouse ${args.join(' ')}`, async () => {
      const result = await run(args);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, '');
      const lines = result.stderr.split('\n');
      assert.equal(lines[0], error);
      assert.match(lines[1]!, usage);
      assert.match(lines[2]!, /^Run 'gatehouse .*--help' for more\.$/);
    });
  }
});

test('a command without its sub-command is a usage error whose help goes to stderr, never into $(…)', async () => {
  for (const command of ['secret', 'config', 'policy', 'sessions', 'keys']) {
    const result = await run([command]);
    assert.equal(result.code, 2, command);
    assert.equal(result.stdout, '', command);
    assert.match(result.stderr, /^Usage: gatehouse /, command);
  }
});

describe('secret generate', () => {
  test('prints 32 random bytes as 43 base64url characters', async () => {
    const first = await run(['secret', 'generate']);
    const second = await run(['secret', 'generate']);
    assert.equal(first.code, 0);
    assert.equal(first.stderr, '');
    const secret = first.stdout.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(first.stdout, `${secret}\n`);
    assert.equal(Buffer.from(secret, 'base64url').length, 32);
    assert.notEqual(second.stdout, first.stdout);
  });

  test('--bytes 16 and --bytes=24 choose the length', async () => {
    const sixteen = await run(['secret', 'generate', '--bytes', '16']);
    assert.equal(sixteen.code, 0);
    assert.match(sixteen.stdout.trim(), /^[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(sixteen.stdout.trim(), 'base64url').length, 16);
    const twentyFour = await run(['secret', 'generate', '--bytes=24']);
    assert.equal(twentyFour.code, 0);
    assert.equal(Buffer.from(twentyFour.stdout.trim(), 'base64url').length, 24);
  });

  test('--bytes 7 is a usage error', async () => {
    const result = await run(['secret', 'generate', '--bytes', '7']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr.split('\n')[0]!, /^gatehouse: --bytes must be 16, 24 or 32, not '7'$/);
  });

  test('a generated secret is accepted as a cookie secret', async () => {
    const secret = (await run(['secret', 'generate'])).stdout.trim();
    const { config } = loadConfig({ env: { OAUTH2_PROXY_COOKIE_SECRET: secret } });
    assert.deepEqual(config.cookie.secrets, [secret]);
  });
});

describe('config check', () => {
  const validEnv = {
    OAUTH2_PROXY_PROVIDER: 'oidc',
    OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://example.eu.auth0.com/',
    OAUTH2_PROXY_CLIENT_ID: 'cli-client',
    OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH2_PROXY_COOKIE_SECRET: COOKIE_SECRET,
    OAUTH2_PROXY_REVERSE_PROXY: 'true',
  };

  test('a valid configuration: every key with its origin, secrets redacted, exit 0', async () => {
    const file = write('check.yaml', 'cookie:\n  name: _from_file\nauthorization:\n  emailDomains: [example.com]\n');
    const result = await run(['config', 'check', '--config', file, '--cookie.refresh=1h', '--reverse-proxy'], validEnv);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!`${result.stdout}${result.stderr}`.includes(CLIENT_SECRET), 'the client secret was printed');
    assert.ok(!`${result.stdout}${result.stderr}`.includes(COOKIE_SECRET), 'the cookie secret was printed');
    const expected = loadConfig({ file, env: validEnv, flags: [{ name: 'cookie.refresh', text: '1h' }, { name: 'reverse-proxy', text: 'true' }] });
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, FIELDS.length);
    for (const field of FIELDS) {
      const line = lines.find((candidate) => candidate.split(/\s+/)[0] === field.path);
      assert.ok(line !== undefined, `${field.path} missing from the output`);
      const origin = expected.origins.get(field.path)!;
      assert.ok(line.endsWith(origin.name === undefined ? `  ${origin.kind}` : `  ${origin.kind} ${origin.name}`), line);
    }
    assert.match(result.stdout, /^cookie\.name\s+"_from_file"\s+file .*check\.yaml$/m);
    assert.match(result.stdout, /^cookie\.refresh\s+1h0m0s\s+flag --cookie\.refresh$/m);
    assert.match(result.stdout, /^proxy\.reverseProxy\s+true\s+flag --reverse-proxy$/m);
    assert.match(result.stdout, /^provider\.clientSecret\s+\[redacted\]\s+env OAUTH2_PROXY_CLIENT_SECRET$/m);
    assert.match(result.stdout, /^cookie\.secrets\s+\[\[redacted\]\]\s+env OAUTH2_PROXY_COOKIE_SECRET$/m);
    assert.match(result.stdout, /^cookie\.expire\s+168h0m0s\s+default$/m);
    assert.match(result.stderr, /^warning: proxy\.reverseProxy is on and proxy\.trusted is empty/m);
    assert.match(result.stderr, /configuration is valid/);
  });

  test('GATEHOUSE_CONFIG names the file when --config is absent', async () => {
    const file = write('from-env.yaml', 'cookie:\n  name: _via_gatehouse_config\n');
    const result = await run(['config', 'check'], { GATEHOUSE_CONFIG: file });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^cookie\.name\s+"_via_gatehouse_config"\s+file .*from-env\.yaml$/m);
  });

  test('a GATEHOUSE_CONFIG file that cannot be read is reported against GATEHOUSE_CONFIG, not --config', async () => {
    const result = await run(['config', 'check'], { GATEHOUSE_CONFIG: '/nonexistent/gatehouse.yaml' });
    assert.equal(result.code, 78, result.stderr);
    assert.match(result.stderr, /GATEHOUSE_CONFIG \(from env GATEHOUSE_CONFIG\): cannot read '\/nonexistent\/gatehouse\.yaml' \(ENOENT\)/);
    assert.doesNotMatch(result.stderr, /--config/);
  });

  test('an invalid configuration: every problem, exit 78', async () => {
    const file = write('invalid.yaml', 'cookie:\n  secrte: x\n');
    const result = await run(['config', 'check', '-c', file, '--upstream=http://app:8080'], {
      OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://example.eu.auth0.com/',
      OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
      OAUTH2_PROXY_COOKIE_SECRET: 'too-short',
      OAUTH2_PROXY_FOO: 'bar',
    });
    assert.equal(result.code, 78);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^gatehouse: the configuration has 6 problems:$/m);
    for (const code of [
      'ERR_CONFIG_UNKNOWN_KEY',
      'ERR_CONFIG_UNKNOWN_VARIABLE',
      'ERR_CONFIG_UPSTREAM_UNSUPPORTED',
      'ERR_CONFIG_CLIENT_ID_MISSING',
      'ERR_CONFIG_EMAIL_POLICY_MISSING',
      'ERR_CONFIG_COOKIE_SECRET_LENGTH',
    ]) {
      assert.match(result.stderr, new RegExp(`\\[${code}\\]`), code);
    }
    assert.match(result.stderr, /cookie\.secrte \(from file .*invalid\.yaml\): is not a gatehouse option/);
    assert.match(result.stderr, /OAUTH2_PROXY_FOO/);
    assert.ok(!result.stderr.includes(CLIENT_SECRET));
  });
});

describe('serve', () => {
  test('an invalid configuration prints only the problems and exits 78', async () => {
    const result = await run(['serve', '--cookie.name=bad name', '--listen=0.0.0.0:4180'], { ...JSON_LOGS, OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET });
    assert.equal(result.code, 78);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^gatehouse: the configuration has 2 problems:$/m);
    assert.match(result.stderr, /\[ERR_CONFIG_COOKIE_NAME_INVALID\]/);
    assert.match(result.stderr, /\[ERR_CONFIG_DEV_PROVIDER_EXPOSED\]/);
    assert.ok(!result.stderr.includes(CLIENT_SECRET));
  });

  describe('a running server', () => {
    const config = write('serve.yaml', 'listen: 127.0.0.1:0\ncookie:\n  name: _first\n');
    let served: Served;
    let port: number;

    before(async () => {
      served = new CliServed(start(['serve', '--config', config], JSON_LOGS));
      port = await served.port();
    });

    test('logs JSON with the stream name, and warns about the development provider', async () => {
      const warning = await served.waitFor((record) => record.msg.includes('DEVELOPMENT provider'), 'dev provider warning');
      assert.equal(warning.level, 'warn');
      assert.equal(warning.log, 'standard');
    });

    test('GET /ping answers 200 OK', async () => {
      assert.deepEqual(await httpGet(port, '/ping'), { status: 200, body: 'OK' });
    });

    test('GET /ready answers 200 once discovery of the development provider is done', async () => {
      // 503 until then (correctly): under load discovery can finish after /ping first answers.
      let ready = await httpGet(port, '/ready');
      for (const deadline = Date.now() + 10_000; ready.status === 503 && Date.now() < deadline; ready = await httpGet(port, '/ready')) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(ready.status, 200);
      assert.equal(ready.body, 'OK');
    });

    test('/ping/x, /pingx and /ping?x are not the ping answer', async () => {
      for (const path of ['/ping/x', '/pingx', '/ping?x=1', '/ping/', '//ping', '/PING']) {
        const answer = await httpGet(port, path);
        assert.ok(!isPingAnswer(answer), `${path} got the ping answer`);
      }
    });

    test('SIGHUP with a changed valid file reloads it', async () => {
      writeFileSync(config, 'listen: 127.0.0.1:0\ncookie:\n  name: _second\nmetrics:\n  listen: 127.0.0.1:9\n');
      const before = served.records.length;
      served.signal('SIGHUP');
      const reloaded = await served.waitFor((record) => record.msg === 'configuration reloaded', 'configuration reloaded');
      assert.equal(reloaded.level, 'info');
      // The new file's warning proves the new file was read.
      assert.ok(served.records.slice(before).some((record) => record.msg.startsWith('metrics.listen changed')), JSON.stringify(served.records.slice(before)));
      assert.deepEqual(await httpGet(port, '/ping'), { status: 200, body: 'OK' });
    });

    test('SIGHUP with an invalid file logs the failure and keeps serving', async () => {
      writeFileSync(config, 'listen: 127.0.0.1:0\ncookie:\n  name: bad name\n');
      served.signal('SIGHUP');
      const failed = await served.waitFor((record) => record.msg.startsWith('configuration reload failed'), 'configuration reload failed');
      assert.equal(failed.level, 'error');
      assert.match(failed.problems ?? '', /ERR_CONFIG_COOKIE_NAME_INVALID/);
      assert.deepEqual(await httpGet(port, '/ping'), { status: 200, body: 'OK' });
      assert.equal(served.child.exitCode, null);
    });

    test('SIGTERM stops it with exit code 0 within a few seconds', async () => {
      served.signal('SIGTERM');
      const exit = await served.exit(5_000);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(served.records.some((record) => record.msg === 'shutting down'));
      assert.ok(served.records.some((record) => record.msg === 'stopped'));
      await assert.rejects(httpGet(port, '/ping'));
    });
  });

  test('oauth2-proxy style: flags alone start serve', async () => {
    const served = new CliServed(start(['--http-address=127.0.0.1:0', '--upstream=static://202'], JSON_LOGS));
    const port = await served.port();
    assert.deepEqual(await httpGet(port, '/ping'), { status: 200, body: 'OK' });
    served.signal('SIGTERM');
    assert.deepEqual(await served.exit(5_000), { code: 0, signal: null });
  });

  test('SIGINT stops it too', async () => {
    const served = new CliServed(start(['serve', '--listen=127.0.0.1:0'], JSON_LOGS));
    await served.port();
    served.signal('SIGINT');
    assert.deepEqual(await served.exit(5_000), { code: 0, signal: null });
    assert.ok(served.records.some((record) => record.msg === 'shutting down'));
  });
});
