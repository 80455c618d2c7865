/** The effective configuration as `config check` prints it: every leaf with its origin, no secret ever. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveRows, FIELDS, formatEffective, loadConfig, redactSecret } from '../../src/config/index.js';
import { COOKIE_SECRET, COOKIE_SECRET_RAW_24, tempDir } from './support.js';

const files = tempDir();

const CLIENT_SECRET = 'client-secret-Zm9vYmFy-4242';
const REDIS_PASSWORD = 'redis-password-hunter2';
const REDIS_URL = 'rediss://gatehouse:url-password-0xdeadbeef@redis.internal:6380/2';
const SENTINEL_PASSWORD = 'sentinel-password-s3cr3t';
const SECRETS = [CLIENT_SECRET, COOKIE_SECRET, COOKIE_SECRET_RAW_24, REDIS_PASSWORD, REDIS_URL, SENTINEL_PASSWORD];

function loadWithSecrets() {
  const file = files.write('print.yaml', `cookie:\n  name: _from_file\nsession:\n  redis:\n    password: ${REDIS_PASSWORD}\n`);
  return {
    file,
    loaded: loadConfig({
      file,
      env: {
        OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://idp.example.com/',
        OAUTH2_PROXY_CLIENT_ID: 'client-id',
        OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
        GATEHOUSE_COOKIE_SECRETS: `${COOKIE_SECRET},${COOKIE_SECRET_RAW_24}`,
        OAUTH2_PROXY_REDIS_CONNECTION_URL: REDIS_URL,
        OAUTH2_PROXY_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
      },
      flags: [{ name: 'email-domain', text: 'example.com' }],
    }),
  };
}

test('formatEffective never contains a secret value, nor a part of one', () => {
  const { loaded } = loadWithSecrets();
  // The secrets really are in the configuration; only the printout hides them.
  assert.equal(loaded.config.provider.clientSecret, CLIENT_SECRET);
  assert.equal(loaded.config.session.redis.url, REDIS_URL);
  const text = formatEffective(loaded);
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `the printout contains ${secret}`);
  for (const fragment of ['hunter2', 'url-password', '0xdeadbeef', 'Zm9vYmFy', 's3cr3t', COOKIE_SECRET.slice(0, 12)]) {
    assert.ok(!text.includes(fragment), `the printout contains '${fragment}'`);
  }
  assert.match(text, /\[redacted\]/);
});

test('secret rows say whether the secret is set, and nothing more', () => {
  const { loaded } = loadWithSecrets();
  const rows = new Map(effectiveRows(loaded).map((row) => [row.path, row]));
  assert.equal(rows.get('provider.clientSecret')?.value, '[redacted]');
  assert.equal(rows.get('session.redis.password')?.value, '[redacted]');
  assert.equal(rows.get('session.redis.url')?.value, '[redacted]');
  assert.equal(rows.get('session.redis.sentinelPassword')?.value, '[redacted]');
  assert.equal(rows.get('cookie.secrets')?.value, '[[redacted], [redacted]]');
  const unset = new Map(effectiveRows(loadConfig({ env: {} })).map((row) => [row.path, row]));
  assert.equal(unset.get('provider.clientSecret')?.value, '(unset)');
  assert.equal(unset.get('cookie.secrets')?.value, '(unset)');
  assert.equal(redactSecret(undefined), '(unset)');
});

test('every leaf is printed once, with its value and origin', () => {
  const { loaded, file } = loadWithSecrets();
  const lines = formatEffective(loaded).split('\n');
  assert.equal(lines.length, FIELDS.length);
  const expected: Record<string, [string, string]> = {
    'cookie.name': ['"_from_file"', `file ${file}`],
    'session.redis.password': ['[redacted]', `file ${file}`],
    'provider.issuer': ['"https://idp.example.com/"', 'env OAUTH2_PROXY_OIDC_ISSUER_URL'],
    'provider.clientSecret': ['[redacted]', 'env OAUTH2_PROXY_CLIENT_SECRET'],
    'cookie.secrets': ['[[redacted], [redacted]]', 'env GATEHOUSE_COOKIE_SECRETS'],
    'authorization.emailDomains': ['["example.com"]', 'flag --email-domain'],
    'cookie.expire': ['168h0m0s', 'default'],
    'forwardAuth.status': ['202', 'default'],
    listen: ['"127.0.0.1:4180"', 'default'],
  };
  for (const field of FIELDS) {
    const matching = lines.filter((line) => line.split(/\s+/)[0] === field.path);
    assert.equal(matching.length, 1, field.path);
    const origin = loaded.origins.get(field.path)!;
    const described = origin.name === undefined ? origin.kind : `${origin.kind} ${origin.name}`;
    assert.ok(matching[0]!.endsWith(`  ${described}`), `${matching[0]!} should end with its origin '${described}'`);
    const want = expected[field.path];
    if (want !== undefined) {
      assert.ok(matching[0]!.includes(` ${want[0]} `), `${matching[0]!} should show ${want[0]}`);
      assert.ok(matching[0]!.endsWith(`  ${want[1]}`), `${matching[0]!} should end with ${want[1]}`);
    }
  }
});

test('a secret read from a file shows the file, never its content', () => {
  const secretFile = files.write('client-secret', `${CLIENT_SECRET}\n`);
  const loaded = loadConfig({ env: { OAUTH2_PROXY_CLIENT_SECRET_FILE: secretFile } });
  const text = formatEffective(loaded);
  assert.ok(!text.includes(CLIENT_SECRET));
  assert.match(text, /provider\.clientSecret\s+\[redacted\]\s+env OAUTH2_PROXY_CLIENT_SECRET_FILE/);
});
