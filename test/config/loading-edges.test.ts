/**
 * Configuration loading at its edges: every problem reported even when one sits inside a list, oauth2-proxy
 * TOML arrays taken item by item, timeouts Node's timers can hold, credentials in URL lists kept out of
 * `config check`, and a reload that cannot bring the development provider up behind a public listener.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatEffective, loadConfig } from '../../src/config/index.js';
import { cliHarness } from '../cli/support.js';
import { COOKIE_SECRET, PROVIDER_ENV, problemsOf, tempDir } from './support.js';
import { stopChild } from '../support/waits.js';

const files = tempDir('gatehouse-review-');

describe('configuration loading', () => {
  test('a bad route does not hide the other problems (every problem at once)', () => {
    const file = files.write('route.yaml', 'provider:\n  issuer: https://idp.example.com/\nroutes:\n  - name: "bad name!"\n    paths: [/x]\n');
    const codes = problemsOf({ file, env: {} }).map((problem) => problem.code);
    assert.ok(codes.includes('ERR_CONFIG_TYPE'), JSON.stringify(codes));
    assert.ok(codes.includes('ERR_CONFIG_CLIENT_ID_MISSING'), JSON.stringify(codes));
  });

  test('an oauth2-proxy TOML array item containing a comma stays one item', () => {
    const file = files.write(
      'oauth2_proxy.cfg',
      [
        'provider = "oidc"',
        'oidc_issuer_url = "https://idp.example.com/"',
        'client_id = "c"',
        'client_secret = "s"',
        `cookie_secret = "${COOKIE_SECRET}"`,
        'email_domains = ["*"]',
        'skip_auth_routes = ["GET=^/api/v[0-9]{1,2}/health$"]',
        '',
      ].join('\n'),
    );
    const loaded = loadConfig({ file, env: {} });
    assert.deepEqual(loaded.config.forwardAuth.skipAuthRoutes, ['GET=^/api/v[0-9]{1,2}/health$']);
  });

  for (const [name, value] of [['GATEHOUSE_PROVIDER_TIMEOUT', '0'], ['GATEHOUSE_PROVIDER_TIMEOUT', '1000h'], ['GATEHOUSE_SHUTDOWN_TIMEOUT', '600h']] as const) {
    test(`${name}=${value} is out of range, and the problem says the range`, () => {
      const problems = problemsOf({ env: { ...PROVIDER_ENV, [name]: value } });
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.match(problems[0]?.message ?? '', /out of range/);
      assert.match(problems[0]?.fix ?? '', /^write a duration from \S+ to \S+$/);
    });
  }

  test('an authorization.emailsFile that cannot be read is a problem of the configuration, as serve would find', () => {
    const problems = problemsOf({ env: { ...PROVIDER_ENV, GATEHOUSE_AUTHORIZATION_EMAILS_FILE: '/nonexistent/emails.txt' } });
    assert.deepEqual(
      problems.map((problem) => [problem.code, problem.path]),
      [['ERR_CONFIG_EMAILS_FILE', 'authorization.emailsFile']],
    );
    assert.match(problems[0]?.message ?? '', /cannot read '\/nonexistent\/emails\.txt' \(ENOENT\)/);
  });

  test('a YAML file that expands aliases over and over is a problem of the file (exit 78), not a crash', () => {
    const rows = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (const [name, previous] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd']] as const) rows.push(`${name}: &${name} [${Array.from({ length: 10 }, () => `*${previous}`).join(',')}]`);
    const file = files.write('laughs.yaml', `${rows.join('\n')}\n`);
    const problems = problemsOf({ file, env: {} });
    assert.deepEqual(problems.map((problem) => problem.code), ['ERR_CONFIG_YAML_SYNTAX']);
    assert.match(problems[0]?.message ?? '', /alias/i);
  });

  test('config check does not print passwords in Redis sentinel/cluster URLs', () => {
    const loaded = loadConfig({
      env: {
        ...PROVIDER_ENV,
        OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis',
        OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true',
        OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME: 'mymaster',
        OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: 'redis://:hunter2pass@sentinel:26379',
      },
    });
    const printed = formatEffective(loaded);
    assert.doesNotMatch(printed, /hunter2pass/);
    assert.match(printed, /redis:\/\/\*\*\*@sentinel:26379/);
  });
});

describe('reload', () => {
  const cli = cliHarness('gatehouse-review-serve-');

  test('a change of authorization.emailsFile alone reloads, as a change of the configuration file does', async () => {
    const config = join(cli.dir, 'emails.yaml');
    const emails = join(cli.dir, 'emails.txt');
    writeFileSync(emails, 'alice@example.com\n');
    writeFileSync(config, ['listen: 127.0.0.1:0', 'provider:', '  issuer: https://idp.invalid/', '  clientId: c', '  clientSecret: s', 'cookie:', `  secrets: ["${COOKIE_SECRET}"]`, 'authorization:', `  emailsFile: ${emails}`, ''].join('\n'));
    const child = cli.spawn(['serve', '--config', config], { GATEHOUSE_LOGGING_FORMAT: 'json' });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const until = async (pattern: RegExp) => {
      for (let waited = 0; !pattern.test(output); waited += 50) {
        if (waited > 15_000) throw new Error(`no ${String(pattern)} in ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      await until(/listening on/);
      writeFileSync(emails, 'alice@example.com\nbob@example.com\n');
      await until(/configuration reloaded/);
    } finally {
      // Also when it has exited already, which a signal by PID would turn into an error of its own.
      await stopChild(child);
    }
  });

  test('a reload cannot start the development provider on a non-loopback listener', async () => {
    const config = join(cli.dir, 'gatehouse.yaml');
    const first = [
      'listen: 0.0.0.0:0',
      'provider:',
      '  issuer: https://idp.invalid/',
      '  clientId: c',
      '  clientSecret: s',
      'cookie:',
      `  secrets: ["${COOKIE_SECRET}"]`,
      '  domains: [.example.com]',
      'authorization:',
      '  emailDomains: ["*"]',
      '',
    ].join('\n');
    writeFileSync(config, first);
    const child = cli.spawn(['serve', '--config', config], { GATEHOUSE_LOGGING_FORMAT: 'json' });
    const lines: { msg: string; address?: string }[] = [];
    let pending = '';
    const seen = (predicate: (line: { msg: string }) => boolean, timeoutMs = 15_000) =>
      new Promise<{ msg: string; address?: string }>((resolve, reject) => {
        const started = Date.now();
        const poll = () => {
          const hit = lines.find(predicate);
          if (hit !== undefined) resolve(hit);
          else if (Date.now() - started > timeoutMs) reject(new Error(JSON.stringify(lines)));
          else setTimeout(poll, 50);
        };
        poll();
      });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) if (part.trim() !== '') lines.push(JSON.parse(part) as { msg: string });
    });
    try {
      const listening = await seen((line) => line.msg.includes('listening on http://0.0.0.0:'));
      assert.match(listening.msg, /0\.0\.0\.0/);
      // Passes `config check` on its own (loopback listen), but the running listener stays on 0.0.0.0.
      writeFileSync(config, 'listen: 127.0.0.1:0\ncookie:\n  domains: [.example.com]\n');
      process.kill(child.pid!, 'SIGHUP');
      const outcome = await seen((line) => line.msg === 'configuration reloaded' || line.msg.startsWith('configuration reload failed'));
      assert.notEqual(outcome.msg, 'configuration reloaded', 'the development provider now runs behind a 0.0.0.0 listener');
    } finally {
      // Also when it has exited already, which a signal by PID would turn into an error of its own.
      await stopChild(child);
    }
  });
});
