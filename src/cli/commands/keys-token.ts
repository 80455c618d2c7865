/**
 * `gatehouse keys generate`, `gatehouse token mint`, `gatehouse token verify`: signing device tokens here
 * instead of pasting a private key into a website.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { parseDuration } from '../../config/index.js';
import { loadForCommand } from '../load.js';
import { compileProfiles, createSharedDenyList, type BearerProfile, type SharedDenyList } from '../../jwt/index.js';
import { connectForCommand, redisFailure } from '../redis.js';
import { REVOCATION_DELAY, runTokenRevocation } from './token-revoke.js';
import { ipArgument, parseArgs, quoteValue, unexpectedArgument, unknownCommand, UsageError } from '../args.js';
import { systemErrorReason } from '../system-error.js';
import { EXIT, type CommandIo } from '../io.js';

export const KEYS_HELP = `Usage: gatehouse keys generate [--alg ES256|EdDSA|RS256] [--kid NAME] [--out DIR]

Generates a signing key pair for device tokens: the private key (PKCS#8 PEM,
file mode 0600), the public key as PEM and as JWK, and prints the exact
bearer-profile snippet to paste into gatehouse.yaml. Existing files are never
overwritten.
  --alg A     ES256 (default), EdDSA or RS256 (3072-bit)
  --kid NAME  key id (default: a random one)
  --out DIR   where to write (default: the current directory)

Examples:
  gatehouse keys generate --kid vicmet --out ./keys
  gatehouse keys generate --alg EdDSA --kid homekit-2026`;

export const TOKEN_HELP = `Usage: gatehouse token mint --key FILE --kid K --iss I --sub S --aud A [options]
       gatehouse token verify TOKEN [--config FILE] [--profile NAME] [--url URL] [--ip A]
       gatehouse token revoke   --jti ID | --sub S [--profile NAME] [--config FILE]
       gatehouse token unrevoke --jti ID | --sub S [--profile NAME] [--config FILE]
       gatehouse token revoked  [--profile NAME] [--config FILE]

mint: signs a JWT with a private key made by 'gatehouse keys generate' and
prints it. Refuses a key file that others can read, and a public key.
  --aud A        audience; repeat it for several (aud is then a JSON array)
  --ttl D        lifetime, e.g. 90d, 1y, 720h (default 1y; d and y allowed)
  --exp DATE     expiry as an ISO date instead of --ttl (not with --ttl)
  --claim k=v    an extra claim (repeatable; v parsed as JSON when it is)
  --jti auto     add a random jti (so the token can be revoked by id)
verify: checks a token against a configured profile, listing every check;
the token is never printed back in full. Exit 0 valid, 1 refused.
revoke, unrevoke, revoked: change or show a profile's deny-list shared
through Redis (session.store: redis); every replica refuses a revoked
token (by its jti, or every token of a subject) ${REVOCATION_DELAY}.
--profile provider names the provider's own tokens (bearer.provider).
--profile may be left out when there is only one. Exit 1 when Redis
cannot be reached.

Examples:
  gatehouse token mint --key keys/vicmet.key.pem --kid vicmet --iss https://jwts.farcaller.net \\
    --sub homekit --aud vminsert.homelab.example.com --ttl 1y --jti auto
  gatehouse token verify "$TOKEN" --config gatehouse.yaml --profile homekit
  gatehouse token revoke --jti 3f0c9a52-8d1e-4c41-9f57-2b6e0d7a9c11 --config gatehouse.yaml`;

const ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const;

function runKeysGenerate(argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, 'keys', { own: ['alg', 'kid', 'out'] });
  if (args.help) {
    io.out(KEYS_HELP);
    return Promise.resolve(EXIT.ok);
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'keys');
  const alg = args.own.get('alg') ?? 'ES256';
  if (!(ALGORITHMS as readonly string[]).includes(alg)) throw new UsageError(`--alg must be one of ${ALGORITHMS.join(', ')}, not ${quoteValue(alg)}`, 'keys');
  const kid = args.own.get('kid') ?? randomUUID().slice(0, 8);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(kid)) throw new UsageError(`--kid must be 1 to 64 letters, digits, _ . -`, 'keys');
  const out = resolve(args.own.get('out') ?? '.');
  const files = { private: join(out, `${kid}.key.pem`), public: join(out, `${kid}.pub.pem`), jwk: join(out, `${kid}.jwk.json`) };
  // lstat, not exists: a dangling symbolic link is a name that is taken too.
  for (const file of Object.values(files)) if (taken(file)) throw new UsageError(`'${file}' exists; gatehouse never overwrites a key`, 'keys');
  if (taken(out) && !lstatSync(out).isDirectory()) throw new UsageError(`--out ${quoteValue(out)} is not a directory`, 'keys');
  return (async () => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 3072 } : {}) });
    const cannotWrite = (path: string, error: unknown) => new UsageError(`--out ${quoteValue(out)}: cannot write ${quoteValue(path)}: ${systemErrorReason(error)}; choose a directory you can write to`, 'keys');
    try {
      mkdirSync(out, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw cannotWrite(out, error);
    }
    // 'wx': created here or not at all, never through a link or over a file that appeared meanwhile.
    const create = (file: string, text: string, mode: number) => {
      try {
        writeFileSync(file, text, { mode, flag: 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`'${file}' exists; gatehouse never overwrites a key`, 'keys');
        throw cannotWrite(file, error);
      }
    };
    create(files.private, await exportPKCS8(privateKey), 0o600);
    chmodSync(files.private, 0o600);
    const pem = await exportSPKI(publicKey);
    create(files.public, pem, 0o644);
    create(files.jwk, `${JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, null, 2)}\n`, 0o644);
    io.err(`wrote ${files.private} (private, mode 0600), ${files.public}, ${files.jwk}`);
    io.out(`# gatehouse.yaml: a bearer profile that accepts tokens signed by this key
bearer:
  profiles:
    devices:                      # use it in a route as  auth: [bearer:devices]
      issuers: [https://gatehouse.example.com]   # the iss you mint with
      skipPrefetch: true                         # the keys are here; nothing to fetch
      audiences: [your-service.example.com]      # the aud you mint with
      secrets:
        ${kid}: |
${pem.trim().split('\n').map((line) => `          ${line}`).join('\n')}`);
    return EXIT.ok;
  })();
}

/** The names `gatehouse keys generate` gives the public halves of a key (`<kid>.pub.pem`, `<kid>.jwk.json`). */
const PUBLIC_KEY_FILE = /\.(?:pub\.pem|jwk\.json)$/;

/** True when `text` holds a public key (PEM, or a JWK without its private part), which cannot sign. */
function isPublicKey(text: string): boolean {
  try {
    if (!text.trimStart().startsWith('{')) return createPublicKey(text).type === 'public';
    const jwk = JSON.parse(text) as JsonWebKey;
    return jwk.d === undefined && createPublicKey({ key: jwk, format: 'jwk' }).type === 'public';
  } catch {
    return false;
  }
}

/** True when something (a file, a directory, a link, even a dangling one) has this name. */
function taken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The latest expiry `token mint` writes: the end of year 9999, which every JWT library can read. */
const MAX_EXP = 253_402_300_799;

/** Claims gatehouse sets itself from their own flags; `--claim` may not set them. */
const REGISTERED = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);

/** Parses a lifetime with day and year units too (`90d`, `1y`), on top of Go durations. */
function parseLifetime(text: string): number | undefined {
  const match = /^(\d+)(d|y)$/.exec(text);
  if (match !== null) return Number(match[1]) * (match[2] === 'd' ? 86_400_000 : 365 * 86_400_000);
  return parseDuration(text);
}

async function runTokenMint(argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, 'token', { own: ['key', 'kid', 'iss', 'sub', 'aud', 'ttl', 'exp', 'jti', 'claim'] });
  if (args.help) {
    io.out(TOKEN_HELP);
    return EXIT.ok;
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'token');
  for (const required of ['key', 'kid', 'iss', 'sub', 'aud']) if (!args.own.has(required)) throw new UsageError(`--${required} is required`, 'token');
  if (args.own.has('exp') && args.own.has('ttl')) throw new UsageError('give --exp or --ttl, not both', 'token');
  const keyFile = args.own.get('key') ?? '';
  let mode: number;
  let text: string;
  try {
    const stats = statSync(keyFile);
    // A regular file only: read whole, a device such as /dev/zero never ends.
    if (!stats.isFile()) throw new Error('not a file');
    mode = stats.mode;
    text = readFileSync(keyFile, 'utf8');
  } catch {
    throw new UsageError(`cannot read the key ${quoteValue(keyFile)}`, 'token');
  }
  // The kind first: a public key is readable by others by design, and chmod is not its fix.
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    if (!isPublicKey(text)) throw new UsageError(`${quoteValue(keyFile)} is not a private key in PEM`, 'token');
    const privateFile = PUBLIC_KEY_FILE.test(keyFile) ? ` ('${keyFile.replace(PUBLIC_KEY_FILE, '.key.pem')}')` : '';
    throw new UsageError(`${quoteValue(keyFile)} is a public key; token mint needs the private key that 'gatehouse keys generate' wrote next to it${privateFile}`, 'token');
  }
  if ((mode & 0o077) !== 0) throw new UsageError(`${quoteValue(keyFile)} can be read by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it first`, 'token');
  const alg = key.asymmetricKeyType === 'ed25519' ? 'EdDSA' : key.asymmetricKeyType === 'rsa' ? 'RS256' : key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : undefined;
  if (alg === undefined) throw new UsageError('the key must be ES256 (P-256), EdDSA (Ed25519) or RSA', 'token');
  if (alg === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new UsageError(`the RSA key has ${key.asymmetricKeyDetails?.modulusLength ?? 0} bits; at least 2048 are needed (gatehouse keys generate --alg RS256 makes 3072)`, 'token');
  const now = Math.floor(Date.now() / 1000);
  let exp: number;
  if (args.own.has('exp')) {
    const date = Date.parse(args.own.get('exp') ?? '');
    if (Number.isNaN(date)) throw new UsageError(`--exp ${quoteValue(args.own.get('exp') ?? '')} is not a date`, 'token');
    exp = Math.floor(date / 1000);
  } else {
    const ttl = parseLifetime(args.own.get('ttl') ?? '1y');
    if (ttl === undefined || ttl <= 0) throw new UsageError(`--ttl ${quoteValue(args.own.get('ttl') ?? '')} is not a lifetime such as 90d or 1y`, 'token');
    exp = now + Math.floor(ttl / 1000);
  }
  if (exp <= now) throw new UsageError('the token would already be expired', 'token');
  if (exp > MAX_EXP) throw new UsageError('the token would expire after the year 9999; give a shorter --ttl or an earlier --exp', 'token');
  const claims: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const pair of args.many.get('claim') ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--claim ${quoteValue(pair)} is not key=value`, 'token');
    const name = pair.slice(0, at);
    const text = pair.slice(at + 1);
    if (REGISTERED.has(name)) throw new UsageError(`--claim ${name}=… is set with its own flag (--${name === 'exp' ? 'exp or --ttl' : name === 'iat' || name === 'nbf' ? 'ttl' : name})`, 'token');
    if (name === '__proto__' || name === 'constructor' || name === 'prototype') throw new UsageError(`--claim ${quoteValue(name)} is not a usable claim name`, 'token');
    try {
      claims[name] = JSON.parse(text);
    } catch {
      claims[name] = text;
    }
  }
  const audiences = args.many.get('aud') ?? [];
  const jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg, typ: 'JWT', kid: args.own.get('kid') ?? '' })
    .setIssuer(args.own.get('iss') ?? '')
    .setSubject(args.own.get('sub') ?? '')
    .setAudience(audiences.length === 1 ? (audiences[0] ?? '') : audiences)
    .setIssuedAt(now)
    .setExpirationTime(exp);
  if (args.own.get('jti') === 'auto') jwt.setJti(randomUUID());
  else if (args.own.has('jti')) jwt.setJti(args.own.get('jti') ?? '');
  const expires = new Date(exp * 1000).toISOString();
  io.out(await jwt.sign(key));
  io.err(`expires ${expires}`);
  return EXIT.ok;
}

async function runTokenVerify(argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, 'token', { own: ['profile', 'url', 'ip'], acceptConfig: true });
  if (args.help) {
    io.out(TOKEN_HELP);
    return EXIT.ok;
  }
  const [token, extra] = args.positional;
  if (token === undefined) throw new UsageError('give the token to verify', 'token');
  if (extra !== undefined) throw unexpectedArgument(extra, 'token');
  const ip = args.own.has('ip') ? ipArgument(args.own.get('ip') ?? '', 'token') : 'unknown';
  const loaded = loadForCommand(args, io);
  if (typeof loaded === 'number') return loaded;
  const names = Object.keys(loaded.config.bearer.profiles);
  const name = args.own.get('profile') ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined) throw new UsageError(names.length === 0 ? 'the configuration has no bearer profiles' : `name the profile with --profile (one of ${names.join(', ')})`, 'token');
  if (!names.includes(name)) throw new UsageError(`no bearer profile ${quoteValue(name)} (have: ${names.join(', ') || 'none'})`, 'token');
  let url: URL;
  try {
    url = new URL(args.own.get('url') ?? 'https://localhost/');
  } catch {
    throw new UsageError(`--url ${quoteValue(args.own.get('url') ?? '')} is not an absolute URL`, 'token');
  }
  // With the Redis store the profile's deny-list is also the one shared through Redis: read it once. The
  // connection is closed on every path out.
  const { config } = loaded;
  const redis = config.session.store === 'redis' ? await connectForCommand(config.session.redis) : undefined;
  try {
    let sharedDenyList: SharedDenyList | undefined;
    if (redis !== undefined) {
      sharedDenyList = createSharedDenyList({ client: redis.client, keyPrefix: config.session.redis.keyPrefix, profiles: names, onError: () => undefined });
      try {
        await sharedDenyList.refresh(true);
      } catch (error) {
        io.err(redisFailure(redis, error));
        return EXIT.failure;
      }
    }
    const profiles = compileProfiles(config, { env: io.env, timeoutMs: config.provider.timeout, ...(sharedDenyList === undefined ? {} : { sharedDenyList }) });
    try {
      const profile = profiles.named.get(name);
      if (profile === undefined) throw new UsageError(`no bearer profile ${quoteValue(name)} (have: ${names.join(', ') || 'none'})`, 'token');
      return await verifyAndReport(io, token, name, profile, url, ip);
    } finally {
      for (const compiled of profiles.all()) compiled.close();
    }
  } finally {
    await redis?.close();
  }
}

/** Checks a token against a profile, printing every check but never the token in full; the exit code. */
async function verifyAndReport(io: CommandIo, token: string, name: string, profile: BearerProfile, url: URL, ip: string): Promise<number> {
  const shown = token.length > 24 ? `${token.slice(0, 12)}…${token.slice(-6)}` : '(short)';
  io.out(`token:    ${shown} (${token.length} characters)`);
  io.out(`profile:  ${name}`);
  const result = await profile.check(token, { Method: 'GET', Host: url.host, Path: `${url.pathname}${url.search}`, Scheme: url.protocol.replace(':', ''), URL: url.href, ip });
  if (result.kind === 'valid') {
    io.out('  pass  format, signature, algorithm, kid, iss, aud, exp/nbf/iat');
    io.out('  pass  require, deny-list, source binding');
    io.out(`claims:   ${JSON.stringify({ iss: result.claims.iss, sub: result.claims.sub, aud: result.claims.aud, exp: result.claims.exp, jti: result.claims.jti })}`);
    io.out('outcome:  valid');
    return EXIT.ok;
  }
  if (result.kind === 'forbidden') {
    io.out('  pass  format, signature, algorithm, kid, iss, aud, exp/nbf/iat');
    io.out(`  FAIL  ${result.description}${result.stale ? ' (older than freshness: 401)' : ''}`);
    io.out(`outcome:  refused (${result.reason})`);
    return EXIT.failure;
  }
  io.out(`  FAIL  ${result.kind === 'invalid' ? result.description : 'no token'}`);
  io.out(`outcome:  refused (${result.kind === 'invalid' ? result.reason : 'bearer-missing'})`);
  return EXIT.failure;
}

export function runKeys(argv: readonly string[], io: CommandIo): Promise<number> | number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    if (sub === undefined) io.err(KEYS_HELP);
    else io.out(KEYS_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub === 'generate') return runKeysGenerate(rest, io);
  throw unknownCommand('keys', sub);
}

export function runToken(argv: readonly string[], io: CommandIo): Promise<number> | number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    if (sub === undefined) io.err(TOKEN_HELP);
    else io.out(TOKEN_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub === 'mint') return runTokenMint(rest, io);
  if (sub === 'verify') return runTokenVerify(rest, io);
  if (sub === 'revoke' || sub === 'unrevoke' || sub === 'revoked') return runTokenRevocation(sub, rest, io, TOKEN_HELP);
  throw unknownCommand('token', sub);
}

