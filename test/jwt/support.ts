/**
 * Shared parts of the bearer-profile tests: key pairs, a signer that writes any header and payload bytes
 * (so malformed, duplicated and confused tokens can be built), the seed's profile, a JWKS server on
 * loopback whose keys and failures each test scripts and whose fetches it counts, and a real gatehouse
 * started from a YAML file with profiles and routes.
 */
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { after } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type LoadedConfig } from '../../src/config/index.js';
import type { DevProvider } from '../../src/devidp/index.js';
import { createApp, startServer, type App, type RunningServer } from '../../src/http/index.js';
import type { ProfileConfig } from '../../src/config/index.js';
import { compileProfile, type BearerProfile } from '../../src/jwt/index.js';
import { createLoggers } from '../../src/log/index.js';
import { baseEnv, startTestProvider } from '../support/gatehouse-fixture.js';
import { send, type RawResponse } from '../support/http-client.js';

/** The seed's jwt-middleware block and token, exactly. */
export const SEED = Object.freeze({
  issuer: 'https://jwts.farcaller.net',
  kid: 'vicmet',
  aud: 'vminsert.homelab.example.com',
  sub: 'homekit',
  iat: 1719591241,
  exp: 2540042041,
});

/** A P-256 key pair. */
export function ecKeys(namedCurve: 'P-256' | 'P-384' | 'P-521' = 'P-256'): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve });
}

/** An RSA key pair. */
export function rsaKeys(modulusLength = 2048): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength });
}

/** An Ed25519 key pair. */
export function edKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/** The SPKI PEM of a public key. */
export function spkiPem(publicKey: KeyObject): string {
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** The public key as the seed writes it: SPKI under jwt-middleware's `EC PUBLIC KEY` label. */
export function seedPem(publicKey: KeyObject): string {
  return spkiPem(publicKey).replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '-----$1 EC PUBLIC KEY-----');
}

export function b64url(value: string | Buffer | Uint8Array): string {
  return Buffer.from(value).toString('base64url');
}

/** A JOSE algorithm the signer knows. */
export type Alg = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'EdDSA' | 'HS256' | 'HS384' | 'HS512';

const HASH: Record<Alg, string | null> = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', PS256: 'sha256', EdDSA: null, HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/** The signature of `input` with `key` as `alg` computes it (HMAC keys as bytes or text). */
export function signature(input: string, alg: Alg, key: KeyObject | Buffer | string): Buffer {
  const data = Buffer.from(input);
  if (alg.startsWith('HS')) return createHmac(HASH[alg]!, typeof key === 'string' || Buffer.isBuffer(key) ? key : key.export()).update(data).digest();
  if (typeof key === 'string' || Buffer.isBuffer(key)) throw new TypeError(`${alg} needs a private KeyObject`);
  if (alg.startsWith('ES')) return sign(HASH[alg], data, { key, dsaEncoding: 'ieee-p1363' });
  if (alg === 'PS256') return sign('sha256', data, { key, padding: 6, saltLength: 32 });
  return sign(HASH[alg], data, key);
}

/**
 * Signs a JWS with exactly these header and payload texts (objects are JSON-encoded): duplicate members,
 * odd types and whitespace survive. `alg` picks the signing operation, whatever the header says.
 */
export function signJws(header: unknown, payload: unknown, key: KeyObject | Buffer | string, alg: Alg): string {
  const headerText = typeof header === 'string' ? header : JSON.stringify(header);
  const payloadText = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const input = `${b64url(headerText)}.${b64url(payloadText)}`;
  return `${input}.${b64url(signature(input, alg, key))}`;
}

/** The fields of a forward-auth request the templates see, plus the client address. */
export const REQUEST = Object.freeze({ Method: 'GET', Host: SEED.aud, Path: '/api/v1/import', Scheme: 'https', URL: `https://${SEED.aud}/api/v1/import`, ip: '192.168.1.20' });

/** The seed's middleware block as a gatehouse profile. */
export function seedProfile(pem: string): ProfileConfig {
  return { issuers: [SEED.issuer], skipPrefetch: true, secrets: { [SEED.kid]: pem }, require: { aud: SEED.aud } };
}

/** A fetch that records every URL and never reaches the network. */
export function fetchSpy(): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  const spy = (input: string | URL | Request): Promise<Response> => {
    urls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return Promise.reject(new Error('the test network is closed'));
  };
  return { fetch: spy, urls };
}

/** How the JWKS server answers. */
export type JwksMode = 'ok' | 'status-500' | 'html' | 'hang' | 'huge' | 'redirect';

/** A JWKS (and discovery) server on loopback. */
export interface JwksServer {
  readonly issuer: string;
  readonly jwksUri: string;
  /** The published keys; replace to rotate. */
  keys: Record<string, unknown>[];
  mode: JwksMode;
  /** Requests to the JWKS and to discovery. */
  readonly hits: { jwks: number; discovery: number };
  close(): Promise<void>;
}

/** Starts a JWKS server; the issuer is its origin, discovery names `/jwks`. */
export async function startJwksServer(keys: Record<string, unknown>[] = []): Promise<JwksServer> {
  const hits = { jwks: 0, discovery: 0 };
  const state: { keys: Record<string, unknown>[]; mode: JwksMode } = { keys, mode: 'ok' };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = request.url ?? '/';
    if (path === '/.well-known/openid-configuration') {
      hits.discovery++;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: origin, jwks_uri: `${origin}/jwks` }));
      return;
    }
    if (path !== '/jwks') {
      response.writeHead(404).end();
      return;
    }
    hits.jwks++;
    if (state.mode === 'hang') return;
    if (state.mode === 'status-500') response.writeHead(500, { 'content-type': 'application/json' }).end('{"keys":[]}');
    else if (state.mode === 'html') response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Maintenance</title>');
    else if (state.mode === 'huge') response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys, padding: 'x'.repeat(300 * 1024) }));
    else if (state.mode === 'redirect') response.writeHead(302, { location: `${origin}/jwks` }).end();
    else response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer: origin,
    jwksUri: `${origin}/jwks`,
    get keys() {
      return state.keys;
    },
    set keys(next) {
      state.keys = next;
    },
    get mode() {
      return state.mode;
    },
    set mode(next) {
      state.mode = next;
    },
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** The public JWK of a key, with a kid. */
export function publicJwk(publicKey: KeyObject, kid: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, ...extra };
}

/** A gatehouse started from a YAML configuration, reached as Traefik reaches it. */
export interface ProfileGatehouse {
  readonly port: number;
  readonly loaded: LoadedConfig;
  readonly logs: string[];
  /**
   * A forward-auth check for `https://<host><uri>` as Traefik sends it (`GET /` with X-Forwarded-*), or as
   * nginx does with `endpoint: '/oauth2/auth'`.
   */
  check(host: string, uri: string, options?: { method?: string; headers?: Readonly<Record<string, string | readonly string[]>>; endpoint?: string; clientIp?: string }): Promise<RawResponse>;
  close(): Promise<void>;
}

/** Options of {@link startProfileGatehouse}. */
export interface ProfileGatehouseOptions {
  /** Environment the profile templates may read (default: none). */
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => number;
  /** More `GATEHOUSE_*` variables on top of the fixture's. */
  readonly configEnv?: Readonly<Record<string, string>>;
  /** A development provider to use (otherwise one is started and stopped with gatehouse). */
  readonly provider?: DevProvider;
}

/**
 * Writes `yaml` to a temporary file and starts gatehouse with it, the provider settings coming from the
 * environment as in the fixture.
 */
export async function startProfileGatehouse(yaml: string, options: ProfileGatehouseOptions = {}): Promise<ProfileGatehouse> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-jwt-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, yaml);
  const own = options.provider === undefined ? await startTestProvider() : undefined;
  const provider = options.provider ?? own!;
  let server: RunningServer | undefined;
  let app: App | undefined;
  const close = async () => {
    await server?.close(100);
    await app?.close();
    await own?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const loaded = loadConfig({ file, env: { ...baseEnv({ issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret }), GATEHOUSE_LOGGING_LEVEL: 'info', ...(options.configEnv ?? {}) } });
    const logs: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        logs.push(...String(chunk).split('\n').filter((line) => line !== ''));
        callback();
      },
    });
    const loggers = createLoggers({ ...loaded.config.logging, format: 'json', destination });
    server = await startServer({ host: '127.0.0.1', port: 0 }, (request, response) => {
      if (app === undefined) response.writeHead(503).end();
      else app.handle(request, response);
    });
    app = await createApp(loaded, loggers, { listen: server.address, env: options.env ?? {}, ...(options.now === undefined ? {} : { now: options.now }) });
    const port = server.address.port;
    return {
      port,
      loaded,
      logs,
      check: (host, uri, checkOptions = {}) =>
        send({
          port,
          path: checkOptions.endpoint ?? '/',
          headers: {
            host: `127.0.0.1:${port}`,
            'x-forwarded-proto': 'https',
            'x-forwarded-host': host,
            'x-forwarded-uri': uri,
            'x-forwarded-method': checkOptions.method ?? 'GET',
            ...(checkOptions.clientIp === undefined ? {} : { 'x-forwarded-for': checkOptions.clientIp }),
            ...(checkOptions.headers ?? {}),
          },
        }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Indents a multi-line text (a PEM) for a YAML block scalar. */
export function indent(text: string, spaces: number): string {
  return text
    .trim()
    .split('\n')
    .map((line) => `${' '.repeat(spaces)}${line}`)
    .join('\n');
}

/**
 * One device key (kid `k`) of issuer `iss` as a profile's static key, at a fixed clock: tokens signed with
 * it and profiles compiled around it (closed, with the temporary folder, after the file's tests).
 */
export function profileFixture(name: string, now: number, iss: string) {
  const { privateKey, publicKey } = ecKeys();
  const pem = seedPem(publicKey);
  const keys: ProfileConfig = { issuers: [iss], skipPrefetch: true, secrets: { k: pem } };
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-jwt-${name}-`));
  const opened: BearerProfile[] = [];
  after(() => {
    for (const profile of opened) profile.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    privateKey,
    publicKey,
    pem,
    keys,
    dir,
    opened,
    token: (claims: Record<string, unknown>, iat = now - 10): string => signJws({ alg: 'ES256', kid: 'k' }, { iss, sub: 'device-1', iat, exp: now + 3600, ...claims }, privateKey, 'ES256'),
    profileOf: (config: Partial<ProfileConfig>, env: NodeJS.ProcessEnv = {}): BearerProfile => {
      const profile = compileProfile(name, { ...keys, ...config }, { env, timeoutMs: 500, now: () => now * 1000 });
      opened.push(profile);
      return profile;
    },
  };
}
