/**
 * Option values quoted back in usage errors: a token pasted as the value of --url, --key, --claim or
 * --profile is cut to a short prefix, never printed whole; a path or a name is shown as given.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliHarness } from './support.js';

const cli = cliHarness('gatehouse-option-values-');
const ENV = {
  GATEHOUSE_COOKIE_SECRETS: 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf',
  GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS: 'example.com',
};
const JWT = 'eyJhbGciOiJFUzI1NiIsImtpZCI6InZpY21ldCJ9.eyJzdWIiOiJob21la2l0IiwiYXVkIjoidm1pbnNlcnQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
const VERIFY_CONFIG = 'bearer:\n  profiles:\n    devices:\n      issuers: [https://gatehouse.example.com]\n      skipPrefetch: true\n      secrets:\n        hm: 0123456789abcdef0123456789abcdef0123\n';

describe('option values shaped like a token are not echoed in full', () => {
  const config = join(cli.dir, 'verify.yaml');
  writeFileSync(config, VERIFY_CONFIG);
  const mint = ['token', 'mint', '--kid', 'k', '--iss', 'i', '--sub', 's', '--aud', 'a'];
  for (const [name, args] of [
    ['policy explain --url <JWT>', ['policy', 'explain', '--url', JWT]],
    ['token verify --url <JWT>', ['token', 'verify', 'x', '--config', config, '--url', JWT]],
    ['doctor --url <JWT>', ['doctor', '--url', JWT]],
    ['token mint --key <JWT>', [...mint, '--key', JWT]],
    ['token verify --profile <JWT>', ['token', 'verify', 'x', '--config', config, '--profile', JWT]],
  ] as const) {
    test(`${name}: usage error without the full token`, async () => {
      const result = await cli.run(args, ENV);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(`${result.stdout}${result.stderr}`.includes(JWT.slice(0, 24)), false, `printed the token: ${result.stderr.split('\n')[0]}`);
    });
  }

  test('token mint --claim <JWT>: usage error without the full token', async () => {
    assert.equal((await cli.run(['keys', 'generate', '--kid', 'k', '--out', join(cli.dir, 'keys')])).code, 0);
    const result = await cli.run([...mint, '--key', join(cli.dir, 'keys', 'k.key.pem'), '--claim', JWT]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(`${result.stdout}${result.stderr}`.includes(JWT.slice(0, 24)), false, `printed the token: ${result.stderr.split('\n')[0]}`);
  });

  test('a path is shown as given, however long', async () => {
    const path = join(cli.dir, 'a', 'rather', 'long', 'directory', 'name', 'for', 'the', 'key.pem');
    const result = await cli.run([...mint, '--key', path]);
    assert.equal(result.code, 2, result.stderr);
    assert.ok(result.stderr.includes(`cannot read the key '${path}'`), result.stderr);
  });
});
