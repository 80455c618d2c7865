/**
 * The command-line tools at their edges, through the built executable: a key never written through a link,
 * lifetimes and claims `token mint` refuses, malformed `policy test` cases and `token verify` URLs as usage
 * errors, and `serve` stopping when its metrics listener cannot start.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cliHarness, type CliResult } from './support.js';

const cli = cliHarness('gatehouse-review-');
const { dir } = cli;
const ENV = {
  GATEHOUSE_COOKIE_SECRETS: 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf',
  GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS: 'example.com',
};

const run = (args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<CliResult> => cli.run(args, env, timeoutMs);

describe('command-line edges', () => {
  test('keys generate does not write the private key through a dangling symlink', async () => {
    const out = join(dir, 'symlinked');
    mkdirSync(out);
    const elsewhere = join(dir, 'elsewhere.pem');
    symlinkSync(elsewhere, join(out, 'victim.key.pem'));
    const result = await run(['keys', 'generate', '--kid', 'victim', '--out', out]);
    assert.equal(existsSync(elsewhere), false, `the private key was written to the symlink's target (exit ${String(result.code)})`);
    assert.ok(lstatSync(join(out, 'victim.key.pem')).isSymbolicLink());
    assert.equal(result.code, 2);
    assert.match(result.stderr, /exists; gatehouse never overwrites a key/);
  });

  test('token mint with an out-of-range --ttl is a usage error and prints no token', async () => {
    const out = join(dir, 'ttl');
    assert.equal((await run(['keys', 'generate', '--kid', 'ttl', '--out', out])).code, 0);
    const result = await run(['token', 'mint', '--key', join(out, 'ttl.key.pem'), '--kid', 'ttl', '--iss', 'i', '--sub', 's', '--aud', 'a', '--ttl', '300000y']);
    assert.equal(result.stdout, '', 'a token was printed although the command failed');
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /after the year 9999/);
    for (const extra of [['--alg', 'HS256'], ['stray-argument']]) {
      const refused = await run(['token', 'mint', '--key', join(out, 'ttl.key.pem'), '--kid', 'ttl', '--iss', 'i', '--sub', 's', '--aud', 'a', ...extra]);
      assert.equal(refused.code, 2, `${extra.join(' ')}: ${refused.stderr}`);
    }
    for (const claim of ['iss=evil', 'exp=99999999999', 'aud=x', '__proto__={"a":1}']) {
      const refused = await run(['token', 'mint', '--key', join(out, 'ttl.key.pem'), '--kid', 'ttl', '--iss', 'i', '--sub', 's', '--aud', 'a', '--claim', claim]);
      assert.equal(refused.code, 2, `${claim}: ${refused.stderr}`);
      assert.equal(refused.stdout, '');
    }
  });

  test('policy test: a null case, a misspelt key, groups as text or no cases at all are usage errors', async () => {
    for (const [name, text, message] of [
      ['null-cases.yaml', 'cases: [null]\n', /case 1 .* is not a mapping/],
      ['misspelt.yaml', 'cases:\n  - { url: https://a.example.com/, expect: allow, emial: a@example.com }\n', /unknown keys: emial/],
      ['groups-text.yaml', 'cases:\n  - { url: https://a.example.com/, expect: allow, groups: admins }\n', /groups must be a list/],
      ['empty.yaml', 'cases: []\n', /empty list of cases/],
    ] as const) {
      writeFileSync(join(dir, name), text);
      const result = await run(['policy', 'test', name], ENV);
      assert.doesNotMatch(result.stderr, /unexpected failure/);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    }
  });

  test('token verify with a malformed --url is a usage error', async () => {
    writeFileSync(join(dir, 'verify.yaml'), 'bearer:\n  profiles:\n    devices:\n      issuers: [https://gatehouse.example.com]\n      skipPrefetch: true\n      secrets:\n        hm: 0123456789abcdef0123456789abcdef0123\n');
    const result = await run(['token', 'verify', 'eyJhbGciOiJFUzI1NiJ9.e30.sig-sig-sig-sig', '--config', 'verify.yaml', '--url', 'not a url'], ENV);
    assert.doesNotMatch(result.stderr, /unexpected failure/);
    assert.equal(result.code, 2, result.stderr);
  });

  test('serve stops, main listener closed, when its metrics listener cannot start', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const result = await run(['serve', '--listen=127.0.0.1:0', `--metrics.listen=127.0.0.1:${String(port)}`], ENV, 10_000);
      assert.match(result.stderr, /EADDRINUSE/);
      assert.equal(result.timedOut, false, 'gatehouse serve reported the failure but kept running (main listener left open)');
    } finally {
      blocker.close();
    }
  });
});
