/**
 * `gatehouse keys generate`, `gatehouse token mint` and `gatehouse token verify`, driven as an operator drives
 * them (`node dist/cli/bin.js` in a child process): the seed's "paste your private key into jwt.io" step
 * replaced by a key pair on disk, a pasted profile snippet, and a minted device token.
 * Exit codes: 0 ok / valid, 1 refused, 2 usage.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { compileProfile } from '../../src/jwt/index.js';
import { cliHarness } from './support.js';

const cli = cliHarness('gatehouse-keys-');
const { dir } = cli;
const ENV = {
  GATEHOUSE_PROVIDER_ISSUER: 'https://idp.homelab.example.com',
  GATEHOUSE_PROVIDER_CLIENT_ID: 'gatehouse',
  GATEHOUSE_PROVIDER_CLIENT_SECRET: 'keys-token-client-secret',
  GATEHOUSE_COOKIE_SECRETS: 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf',
  GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS: 'homelab.example.com',
};
const ISS = 'https://gatehouse.example.com';
const AUD = 'your-service.example.com';


/** oidc-provider's import-time warning on Node 20 is not gatehouse's output. */
const OIDC_PROVIDER_WARNING = /^oidc-provider WARNING: .*\n/gm;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Result> {
  const child = cli.spawn(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: stderr.replace(OIDC_PROVIDER_WARNING, '') });
    });
  });
}

/** Asserts the usage-error shape: `gatehouse: <one line>`, then the usage, exit 2. */
function assertUsageError(result: Result, message: RegExp, command: 'keys' | 'token'): void {
  assert.equal(result.code, 2, `exit ${String(result.code)}; stderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^gatehouse: /);
  assert.match(lines[0] ?? '', message);
  assert.match(lines[1] ?? '', /^Usage: gatehouse /);
  assert.equal(lines[2], `Run 'gatehouse ${command} --help' for more.`);
  assert.equal(lines.length, 3, result.stderr);
  assert.equal(result.stdout, '');
}

/** Runs usage-error cases side by side (each CLI start costs ~0.5 s) and checks each. */
async function assertUsageErrors(cases: readonly (readonly [readonly string[], RegExp])[], command: 'keys' | 'token', env: Record<string, string> = {}): Promise<void> {
  const results = await Promise.all(cases.map(([args]) => run(args, env)));
  results.forEach((result, index) => {
    assertUsageError(result, cases[index]![1], command);
  });
}

function decode(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header = '', payload = ''] = token.split('.');
  return { header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>, payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown> };
}

const mintArgs = (key: string, kid: string, extra: readonly string[] = []) => ['token', 'mint', '--key', key, '--kid', kid, '--iss', ISS, '--sub', 'homekit', '--aud', AUD, ...extra];

/** The printed snippet plus a route for the service, as an operator pastes it. */
function configWith(snippet: string, name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `${snippet}\nroutes:\n  - name: service\n    hosts: [${AUD}]\n    auth: [bearer:devices]\n`);
  return file;
}

describe('keys generate', { concurrency: true }, () => {
  for (const [alg, jwkKty] of [['ES256', 'EC'], ['EdDSA', 'OKP'], ['RS256', 'RSA']] as const) {
    test(`${alg}: writes the key pair (private 0600), prints a snippet that loads and accepts a minted token`, async () => {
      const out = join(dir, `keys-${alg}`);
      const kid = `device-${alg.toLowerCase()}`;
      const generated = await run(['keys', 'generate', '--alg', alg, '--kid', kid, '--out', out]);
      assert.equal(generated.code, 0, generated.stderr);
      const privateFile = join(out, `${kid}.key.pem`);
      assert.equal(statSync(privateFile).mode & 0o777, 0o600);
      assert.match(readFileSync(privateFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
      assert.match(readFileSync(join(out, `${kid}.pub.pem`), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
      const jwk = JSON.parse(readFileSync(join(out, `${kid}.jwk.json`), 'utf8')) as Record<string, unknown>;
      assert.deepEqual([jwk.kty, jwk.kid, jwk.alg, jwk.use, jwk.d], [jwkKty, kid, alg, 'sig', undefined]);
      assert.match(generated.stderr, /mode 0600/);
      assert.match(generated.stdout, /^bearer:\n {2}profiles:\n {4}devices:/m);
      assert.doesNotMatch(generated.stdout, /PRIVATE KEY/);

      const file = configWith(generated.stdout, `snippet-${alg}`);
      const loaded = loadConfig({ file, env: ENV });
      const profileConfig = loaded.config.bearer.profiles.devices;
      assert.ok(profileConfig !== undefined);

      const minted = await run(mintArgs(privateFile, kid, ['--ttl', '90d']));
      assert.equal(minted.code, 0, minted.stderr);
      const token = minted.stdout.trim();
      assert.equal(decode(token).header.alg, alg);
      const profile = compileProfile('devices', profileConfig, { env: {}, timeoutMs: 500 });
      try {
        const result = await profile.check(token, { Method: 'POST', Host: AUD, Path: '/', Scheme: 'https', URL: `https://${AUD}/`, ip: '192.168.1.20' });
        assert.equal(result.kind, 'valid', JSON.stringify(result));
      } finally {
        profile.close();
      }
      const verified = await run(['token', 'verify', token, '--config', file, '--profile', 'devices'], ENV);
      assert.equal(verified.code, 0, `${verified.stdout}${verified.stderr}`);
      assert.match(verified.stdout, /outcome: {2}valid/);
    });
  }

  test('the pasted snippet reports ready and fetches nothing: its static key needs no JWKS from the placeholder issuer', async () => {
    const out = join(dir, 'keys-ready');
    const generated = await run(['keys', 'generate', '--kid', 'ready', '--out', out]);
    assert.equal(generated.code, 0, generated.stderr);
    const loaded = loadConfig({ file: configWith(generated.stdout, 'snippet-ready'), env: ENV });
    const urls: string[] = [];
    const spy = (input: string | URL | Request): Promise<Response> => {
      urls.push(String(input instanceof Request ? input.url : input));
      return Promise.reject(new Error('the test network is closed'));
    };
    const profile = compileProfile('devices', loaded.config.bearer.profiles.devices!, { env: {}, timeoutMs: 500, fetch: spy });
    try {
      profile.start();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(urls, [], 'gatehouse serve would fetch the JWKS of the placeholder issuer');
      assert.equal(profile.status().ok, true, `/ready would report: ${profile.status().detail}`);
    } finally {
      profile.close();
    }
  });

  test('a random kid by default, the current directory by default', async () => {
    const cwdKeys = join(dir, 'cwd');
    mkdirSync(cwdKeys);
    const generated = await run(['keys', 'generate', '--out', cwdKeys]);
    assert.equal(generated.code, 0, generated.stderr);
    const files = readdirSync(cwdKeys).sort();
    assert.equal(files.length, 3);
    assert.match(files[0]!, /^[0-9a-f]{8}\.jwk\.json$/);
  });

  test('never overwrites: an existing key file is refused (exit 2) and left as it was', async () => {
    const out = join(dir, 'keys-once');
    assert.equal((await run(['keys', 'generate', '--kid', 'once', '--out', out])).code, 0);
    const before = readFileSync(join(out, 'once.key.pem'), 'utf8');
    const again = await run(['keys', 'generate', '--kid', 'once', '--out', out]);
    assertUsageError(again, /once\.key\.pem' exists; gatehouse never overwrites a key/, 'keys');
    assert.equal(readFileSync(join(out, 'once.key.pem'), 'utf8'), before);
    writeFileSync(join(out, 'only-public.pub.pem'), 'x');
    assertUsageError(await run(['keys', 'generate', '--kid', 'only-public', '--out', out]), /only-public\.pub\.pem' exists/, 'keys');
    assert.equal(existsSync(join(out, 'only-public.key.pem')), false);
  });

  test('wrong input: one line, the usage, exit 2', async () => {
    await assertUsageErrors(
      [
        [['keys', 'generate', '--alg', 'HS256'], /--alg must be one of ES256, EdDSA, RS256, not 'HS256'/],
        [['keys', 'generate', '--kid', '../escape'], /--kid must be 1 to 64 letters/],
        [['keys', 'generate', 'extra'], /unexpected argument 'extra'/],
        [['keys', 'generate', '--bogus'], /unknown flag '--bogus'/],
        [['keys', 'generate', '--kid'], /flag '--kid' needs a value/],
        [['keys', 'rotate'], /unknown command 'keys rotate'/],
      ],
      'keys',
    );
    const bare = await run(['keys']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /^Usage: gatehouse keys generate/);
  });
});

describe('token mint', () => {
  const out = join(dir, 'mint');
  const key = join(out, 'vicmet.key.pem');

  before(async () => {
    const generated = await run(['keys', 'generate', '--kid', 'vicmet', '--out', out]);
    assert.equal(generated.code, 0, generated.stderr);
  });

  test("the seed's token: ES256, typ JWT, kid, iss, sub, aud, iat, exp; the expiry on stderr", async () => {
    const started = Math.floor(Date.now() / 1000);
    const minted = await run(mintArgs(key, 'vicmet', ['--ttl', '1y']));
    assert.equal(minted.code, 0, minted.stderr);
    assert.match(minted.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    const { header, payload } = decode(minted.stdout.trim());
    assert.deepEqual(header, { alg: 'ES256', typ: 'JWT', kid: 'vicmet' });
    assert.deepEqual(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'sub']);
    assert.deepEqual([payload.iss, payload.sub, payload.aud], [ISS, 'homekit', AUD]);
    const iat = payload.iat as number;
    assert.ok(iat >= started && iat <= started + 5);
    assert.equal((payload.exp as number) - iat, 365 * 86_400);
    assert.match(minted.stderr, /^expires \d{4}-\d\d-\d\dT/m);
  });

  test('--ttl takes d and y and Go durations; --exp takes a date', async () => {
    const lifetimes = [['90d', 90 * 86_400], ['720h', 720 * 3600], ['2y', 2 * 365 * 86_400], ['45m', 2700]] as const;
    const [exp, ...ttls] = await Promise.all([run(mintArgs(key, 'vicmet', ['--exp', '2050-06-28T16:14:01Z'])), ...lifetimes.map(([ttl]) => run(mintArgs(key, 'vicmet', ['--ttl', ttl])))]);
    ttls.forEach((minted, index) => {
      const { payload } = decode(minted.stdout.trim());
      assert.equal((payload.exp as number) - (payload.iat as number), lifetimes[index]![1], lifetimes[index]![0]);
    });
    assert.equal(decode(exp.stdout.trim()).payload.exp, Date.parse('2050-06-28T16:14:01Z') / 1000);
  });

  test('--claim k=v (JSON when it parses, text otherwise; repeatable) and --jti auto', async () => {
    const [minted, other, fixed] = await Promise.all([
      run(mintArgs(key, 'vicmet', ['--claim', 'groups=["sensors","homekit"]', '--claim', 'level=3', '--claim=flag=true', '--claim', 'room=living room', '--claim', 'cidr=192.168.1.0/24', '--jti', 'auto'])),
      run(mintArgs(key, 'vicmet', ['--jti', 'auto'])),
      run(mintArgs(key, 'vicmet', ['--jti', 'sensor-7'])),
    ]);
    assert.equal(minted.code, 0, minted.stderr);
    const { payload } = decode(minted.stdout.trim());
    assert.deepEqual(payload.groups, ['sensors', 'homekit']);
    assert.equal(payload.level, 3);
    assert.equal(payload.flag, true);
    assert.equal(payload.room, 'living room');
    assert.equal(payload.cidr, '192.168.1.0/24');
    assert.match(String(payload.jti), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(decode(other.stdout.trim()).payload.jti, payload.jti);
    assert.equal(decode(fixed.stdout.trim()).payload.jti, 'sensor-7');
  });

  test('a key file others can read is refused (exit 2), and so is a public key', async () => {
    chmodSync(key, 0o644);
    try {
      assertUsageError(await run(mintArgs(key, 'vicmet')), /can be read by others \(mode 644\); chmod 600 it first/, 'token');
      chmodSync(key, 0o640);
      assertUsageError(await run(mintArgs(key, 'vicmet')), /mode 640/, 'token');
    } finally {
      chmodSync(key, 0o600);
    }
    const publicFile = join(out, 'vicmet.pub.pem');
    chmodSync(publicFile, 0o600);
    const notAKey = join(out, 'not-a-key.pem');
    writeFileSync(notAKey, 'not a key\n', { mode: 0o600 });
    await assertUsageErrors(
      [
        [mintArgs(publicFile, 'vicmet'), /is a public key; token mint needs the private key/],
        [mintArgs(notAKey, 'vicmet'), /is not a private key in PEM/],
        [mintArgs(join(out, 'missing.pem'), 'vicmet'), /cannot read the key/],
      ],
      'token',
    );
  });

  test('a bad --ttl, a past or unreadable --exp, a bad --claim: exit 2', async () => {
    await assertUsageErrors(
      [
        ...['soon', '0s', '90x', ''].map((ttl) => [mintArgs(key, 'vicmet', ['--ttl', ttl]), /--ttl '.*' is not a lifetime/] as const),
        [mintArgs(key, 'vicmet', ['--exp', '2020-01-01']), /would already be expired/],
        [mintArgs(key, 'vicmet', ['--exp', 'next tuesday']), /--exp 'next tuesday' is not a date/],
        [mintArgs(key, 'vicmet', ['--claim', 'novalue']), /--claim 'novalue' is not key=value/],
        [mintArgs(key, 'vicmet', ['--claim', '=x']), /is not key=value/],
      ],
      'token',
    );
  });

  test('missing required flags and unknown flags: exit 2', async () => {
    const without = (flag: string) => {
      const args = mintArgs(key, 'vicmet');
      args.splice(args.indexOf(`--${flag}`), 2);
      return [args, new RegExp(`--${flag} is required`)] as const;
    };
    await assertUsageErrors(
      [...['key', 'kid', 'iss', 'sub', 'aud'].map(without), [[...mintArgs(key, 'vicmet'), '--bogus'], /unknown flag '--bogus'/], [['token', 'burn'], /unknown command 'token burn'/]],
      'token',
    );
  });
});

describe('token verify', () => {
  const out = join(dir, 'verify');
  const key = join(out, 'vicmet.key.pem');
  let config: string;
  let token: string;

  before(async () => {
    const generated = await run(['keys', 'generate', '--kid', 'vicmet', '--out', out]);
    assert.equal(generated.code, 0, generated.stderr);
    config = configWith(generated.stdout, 'verify');
    token = (await run(mintArgs(key, 'vicmet', ['--jti', 'auto']))).stdout.trim();
  });

  const signatureOf = (jwt: string) => jwt.split('.')[2]!;

  test('a valid token: pass lines, outcome valid, exit 0; the token is never printed in full', async () => {
    const result = await run(['token', 'verify', token, '--config', config], ENV);
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /^token: {4}\S{12}…\S{6} \(\d+ characters\)$/m);
    assert.match(result.stdout, /^profile: {2}devices$/m);
    assert.match(result.stdout, /^ {2}pass {2}format, signature, algorithm, kid, iss, aud, exp\/nbf\/iat$/m);
    assert.match(result.stdout, /^outcome: {2}valid$/m);
    assert.equal(`${result.stdout}${result.stderr}`.includes(token), false);
    assert.equal(`${result.stdout}${result.stderr}`.includes(signatureOf(token)), false);
  });

  test('refused tokens: FAIL line, outcome refused (reason), exit 1', async () => {
    const otherAudience = (await run([...mintArgs(key, 'vicmet').slice(0, -1), 'elsewhere.example.com'])).stdout.trim();
    const [header] = token.split('.');
    const forged = `${header!}.${Buffer.from(JSON.stringify({ ...decode(token).payload, sub: 'admin' })).toString('base64url')}.${signatureOf(token)}`;
    const [wrongAud, tampered, garbage] = await Promise.all([
      run(['token', 'verify', otherAudience, '--config', config, '--profile', 'devices'], ENV),
      run(['token', 'verify', forged, '--config', config], ENV),
      run(['token', 'verify', 'not-a-token', '--config', config], ENV),
    ]);
    assert.equal(wrongAud.code, 1, wrongAud.stdout);
    assert.match(wrongAud.stdout, /^ {2}FAIL {2}claim aud is not valid$/m);
    assert.match(wrongAud.stdout, /^outcome: {2}refused \(bearer-invalid\)$/m);

    assert.equal(tampered.code, 1);
    assert.match(tampered.stdout, /FAIL {2}.*signature/);
    assert.equal(tampered.stdout.includes(forged), false);

    assert.equal(garbage.code, 1);
    assert.match(garbage.stdout, /token: {4}\(short\)/);
    assert.match(garbage.stdout, /FAIL {2}not a compact JWS/);
  });

  test('usage errors: no token, two tokens, an unknown profile: exit 2', async () => {
    await assertUsageErrors(
      [
        [['token', 'verify', '--config', config], /give the token to verify/],
        [['token', 'verify', token, token, '--config', config], /unexpected argument/],
        [['token', 'verify', token, '--config', config, '--profile', 'nope'], /no bearer profile 'nope' \(have: devices\)/],
        [['token', 'verify', token, '--bogus'], /unknown flag '--bogus'/],
      ],
      'token',
      ENV,
    );
  });
});

describe('help', { concurrency: true }, () => {
  for (const args of [['keys', '--help'], ['keys', 'generate', '--help'], ['token', '--help'], ['token', 'mint', '--help'], ['token', 'verify', '--help'], ['help', 'keys'], ['help', 'token']]) {
    test(`gatehouse ${args.join(' ')}: usage and examples on stdout, exit 0`, async () => {
      const result = await run(args);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Usage: gatehouse (keys|token) /);
      assert.match(result.stdout, /\nExamples:\n {2}gatehouse /);
      assert.equal(result.stderr, '');
    });
  }
});
