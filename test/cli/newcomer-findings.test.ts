/**
 * What a newcomer found trying the command line, through the built executable: help examples that paste
 * into a shell, stray tokens never echoed in full, a public key given to `token mint`, wrong input refused
 * instead of ignored, listeners and output directories that fail with one clear line, `doctor`'s callback
 * scheme and network errors, and how soon a revocation takes effect.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { DENY_LIST_POLL_MS } from '../../src/jwt/index.js';
import { ROOT } from '../e2e/support/build.js';
import { cliHarness, type CliResult } from './support.js';

const cli = cliHarness('gatehouse-newcomer-');
const { dir } = cli;
const ENV = {
  GATEHOUSE_COOKIE_SECRETS: 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf',
  GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS: 'example.com',
};
/** Ports of this suite, inside the range the project's tests may use. */
const PORTS = { blocked: 24611, listen: 24612, same: 24613, closed: 24614, redis: 24615 } as const;
/** A JWT-shaped argument (header, payload, signature): what a misplaced "$TOKEN" looks like. */
const JWT = 'eyJhbGciOiJFUzI1NiIsImtpZCI6InZpY21ldCJ9.eyJzdWIiOiJob21la2l0IiwiYXVkIjoidm1pbnNlcnQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';

const run = (args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<CliResult> => cli.run(args, env, timeoutMs);

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const VERIFY_CONFIG = 'bearer:\n  profiles:\n    devices:\n      issuers: [https://gatehouse.example.com]\n      skipPrefetch: true\n      secrets:\n        hm: 0123456789abcdef0123456789abcdef0123\n';

describe('newcomer findings', () => {
  test('help examples paste into a shell: no bare |, ( ) ; & outside quotes, and the pipe in a subject is quoted', async () => {
    const sessions = await run(['help', 'sessions']);
    assert.equal(sessions.code, 0);
    assert.match(sessions.stdout, /gatehouse sessions revoke --sub 'auth0\|64f1c2' --config gatehouse\.yaml/);
    for (const args of [['--help'], ...['serve', 'config', 'secret', 'policy', 'keys', 'token', 'sessions', 'doctor'].map((command) => ['help', command])]) {
      const { stdout } = await run(args);
      const examples = stdout.split('\nExamples:\n')[1] ?? '';
      assert.notEqual(examples, '', `gatehouse ${args.join(' ')} has no examples`);
      for (const line of examples.split('\n').filter((text) => text.startsWith(' '))) {
        const bare = line.replace(/'[^']*'|"[^"]*"/g, '').replace(/\s#.*$/, '');
        assert.doesNotMatch(bare, /[|();&<]/, `gatehouse ${args.join(' ')}: the shell reads this example otherwise: ${line}`);
      }
    }
  });

  test('a stray argument that looks like a token is shown as a short prefix, never in full', async () => {
    const config = write('verify.yaml', VERIFY_CONFIG);
    for (const args of [
      ['token', 'verify', JWT, JWT, '--config', config],
      ['policy', 'explain', '--url', 'https://a.example.com/', JWT],
      ['sessions', 'list', '--email', 'a@example.com', JWT],
      ['token', JWT],
      [JWT],
    ]) {
      const result = await run(args, ENV);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(`${result.stdout}${result.stderr}`.includes(JWT.slice(0, 24)), false, `gatehouse ${args.slice(0, 2).join(' ')} printed the token: ${result.stderr}`);
      assert.match(result.stderr, /^gatehouse: (unexpected argument|unknown command) '(token )?eyJhbGciOiJF…' \(\d+ characters\)$/m);
    }
    const short = await run(['keys', 'generate', 'extra']);
    assert.match(short.stderr, /^gatehouse: unexpected argument 'extra'$/m);
  });

  test('token mint with a public key (PEM or JWK) says it needs the private key, not a chmod', async () => {
    const out = join(dir, 'keys');
    assert.equal((await run(['keys', 'generate', '--kid', 'vicmet', '--out', out])).code, 0);
    for (const file of ['vicmet.pub.pem', 'vicmet.jwk.json']) {
      const result = await run(['token', 'mint', '--key', join(out, file), '--kid', 'vicmet', '--iss', 'i', '--sub', 's', '--aud', 'a']);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, '');
      assert.doesNotMatch(result.stderr, /chmod/);
      assert.match(result.stderr, new RegExp(`^gatehouse: '.*${file.replace('.', '\\.')}' is a public key; token mint needs the private key .*vicmet\\.key\\.pem`, 'm'));
    }
  });

  test('policy test: an expect that is not an outcome lists the valid ones', async () => {
    write('allowed.yaml', 'cases:\n  - { url: https://a.example.com/, expect: allowed }\n');
    const result = await run(['policy', 'test', 'allowed.yaml'], ENV);
    assert.equal(result.code, 2, result.stderr);
    assert.doesNotMatch(result.stderr, /needs url and expect/);
    assert.match(result.stderr, /^gatehouse: case 1 of 'allowed\.yaml': expect must be one of allow, deny, unauthenticated, bad-request, not 'allowed'$/m);
  });

  test('wrong input is refused, not ignored: --ip, --groups without --email, --exp with --ttl', async () => {
    const config = write('verify-ip.yaml', VERIFY_CONFIG);
    for (const [args, message] of [
      [['policy', 'explain', '--url', 'https://a.example.com/', '--ip', 'banana'], /^gatehouse: --ip must be an IP address, .* not 'banana'$/m],
      [['token', 'verify', JWT, '--config', config, '--ip', '999.1.1.1'], /^gatehouse: --ip must be an IP address, .* not '999\.1\.1\.1'$/m],
      [['policy', 'explain', '--url', 'https://a.example.com/', '--groups', 'admins'], /^gatehouse: --groups needs --email/m],
      [['token', 'mint', '--key', 'k.pem', '--kid', 'k', '--iss', 'i', '--sub', 's', '--aud', 'a', '--exp', '2030-01-01', '--ttl', '1d'], /^gatehouse: give --exp or --ttl, not both$/m],
    ] as const) {
      const result = await run(args, ENV);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, message);
      if (args[0] === 'token') assert.equal(result.stdout, '');
    }
  });

  test('token mint --aud repeated: every audience, as a JSON array; one --aud stays a string', async () => {
    const out = join(dir, 'aud');
    assert.equal((await run(['keys', 'generate', '--kid', 'aud', '--out', out])).code, 0);
    const mint = async (...auds: string[]) => {
      const result = await run(['token', 'mint', '--key', join(out, 'aud.key.pem'), '--kid', 'aud', '--iss', 'i', '--sub', 's', ...auds.flatMap((aud) => ['--aud', aud])]);
      assert.equal(result.code, 0, result.stderr);
      return (JSON.parse(Buffer.from(result.stdout.trim().split('.')[1] ?? '', 'base64url').toString()) as { aud: unknown }).aud;
    };
    assert.deepEqual(await mint('a.example.com', 'b.example.com'), ['a.example.com', 'b.example.com']);
    assert.equal(await mint('a.example.com'), 'a.example.com');
    assert.match((await run(['token', '--help'])).stdout, /--aud A +audience; repeat it for several/);
  });

  test('gatehouse help help prints the general help, exit 0', async () => {
    const result = await run(['help', 'help']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^gatehouse .*\n\nUsage: gatehouse <command> \[options\]/);
    assert.equal(result.stderr, '');
  });

  test('serve: a listener that cannot start is one line naming the address, the option and the fix', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(PORTS.blocked, '127.0.0.1', resolve));
    try {
      for (const [args, option] of [
        [[`--listen=127.0.0.1:${PORTS.blocked}`], 'listen'],
        [[`--listen=127.0.0.1:${PORTS.listen}`, `--metrics.listen=127.0.0.1:${PORTS.blocked}`], 'metrics.listen'],
      ] as const) {
        const result = await run(['serve', ...args], ENV, 10_000);
        assert.equal(result.timedOut, false, 'serve kept running');
        assert.equal(result.code, 1, result.stderr);
        assert.doesNotMatch(result.stderr, /unexpected failure/);
        assert.match(result.stderr, new RegExp(`^gatehouse: cannot listen on 127\\.0\\.0\\.1:${PORTS.blocked} \\(${option.replace('.', '\\.')}\\): address already in use \\(EADDRINUSE\\); stop what listens there, or set ${option.replace('.', '\\.')} to another port$`, 'm'));
      }
    } finally {
      blocker.close();
    }
    // The same address for both: refused as configuration, or when the second listener fails, never as an unexpected failure.
    const same = await run(['serve', `--listen=127.0.0.1:${PORTS.same}`, `--metrics.listen=127.0.0.1:${PORTS.same}`], ENV, 10_000);
    assert.equal(same.timedOut, false, 'serve kept running');
    assert.notEqual(same.code, 0);
    assert.doesNotMatch(same.stderr, /unexpected failure/);
    assert.match(same.stderr, /metrics\.listen/);
  });

  test('keys generate into a directory that takes no files names --out and the reason', async () => {
    const result = await run(['keys', 'generate', '--kid', 'procfs', '--out', '/proc']);
    assert.doesNotMatch(result.stderr, /unexpected failure/);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^gatehouse: --out '\/proc': cannot write '\/proc\/procfs\.key\.pem': .*\(ENOENT\); choose a directory you can write to$/m);
  });

  test('doctor: the callback scheme follows cookie.secure, and a failed discovery says why', async () => {
    const config = (name: string, secure: boolean) =>
      write(name, `provider: { issuer: "http://127.0.0.1:${PORTS.closed}", clientId: gatehouse, clientSecret: s3cret-value }\ncookie: { secrets: ["${ENV.GATEHOUSE_COOKIE_SECRETS}"], secure: ${String(secure)} }\nauthorization: { emailDomains: [example.com] }\n`);
    const plain = await run(['doctor', '--config', config('doctor-plain.yaml', false)]);
    assert.match(plain.stdout, /^OK +callback: callback built on each host: http\(s\):\/\/<host>\/oauth2\/callback \(the request's own scheme: cookie\.secure is off\)/m);
    const behind = await run(['doctor', '--config', config('doctor-plain.yaml', false), '--url', 'http://app.example.com/']);
    assert.match(behind.stdout, /^OK +callback: callback built on each host: http:\/\/<host>\/oauth2\/callback /m);
    const secure = await run(['doctor', '--config', config('doctor-secure.yaml', true)]);
    assert.match(secure.stdout, /^OK +callback: callback built on each host: https:\/\/<host>\/oauth2\/callback; /m);
    assert.equal(plain.code, 1);
    assert.match(plain.stdout, /^FAIL +discovery: .* could not be read: fetch failed: .*ECONNREFUSED/m);
  });

  describe('token revoke', () => {
    let redisPid: number | undefined;
    after(() => {
      try {
        if (redisPid !== undefined) process.kill(redisPid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    });

    test('says a revocation takes effect as soon as the code does (the deny-list poll), as the docs do', async () => {
      assert.equal(DENY_LIST_POLL_MS, 1000, 'the poll interval changed: change "about a second" in the CLI and the docs with it');
      const redis = spawn('redis-server', ['--port', String(PORTS.redis), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
      redisPid = redis.pid;
      for (let waited = 0; !(await answers(PORTS.redis)); waited += 100) {
        assert.ok(waited < 10_000, 'redis-server did not start');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const config = write('revoke.yaml', `${VERIFY_CONFIG}session: { store: redis, redis: { url: "redis://127.0.0.1:${PORTS.redis}" } }\n`);
      const result = await run(['token', 'revoke', '--jti', 'j-1', '--config', config], ENV);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), "revoked jti 'j-1' of profile devices: every replica refuses it within about a second");
      assert.match((await run(['token', '--help'])).stdout, /within about a second\./);
      assert.match(readFileSync(join(ROOT, 'docs/bearer.md'), 'utf8'), /of profile homekit: every replica refuses it within about a second\n/);
    });
  });
});

/** True when something accepts connections on the port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
