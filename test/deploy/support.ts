/** Shared by the deployment tests: the repository's files, the Kubernetes manifests, and fixtures. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** deploy/kubernetes. */
export const MANIFESTS = join(ROOT, 'deploy', 'kubernetes');

/** package.json, as far as these tests read it. */
export interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly type?: string;
  readonly files?: readonly string[];
  readonly bin?: Readonly<Record<string, string>>;
  readonly scripts: Readonly<Record<string, string>>;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly devDependencies: Readonly<Record<string, string>>;
}

export const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/** A plain JSON-like object. */
export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value` as an object; fails the test naming `what` when it is not one. */
export function object(value: unknown, what: string): Json {
  assert.ok(isObject(value), `${what} must be a mapping`);
  return value;
}

/** `value` as a list; fails the test naming `what` when it is not one. */
export function list(value: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(value), `${what} must be a list`);
  return value;
}

/** `value` as a string; fails the test naming `what` when it is not one. */
export function text(value: unknown, what: string): string {
  assert.equal(typeof value, 'string', `${what} must be a string`);
  return value as string;
}

/** The object at `path` (dot-separated) of `value`; throws naming the path when it is not one. */
export function objectAt(value: unknown, path: string): Json {
  const found = at(value, path);
  if (!isObject(found)) throw new TypeError(`${path} is not an object`);
  return found;
}

/** The list at `path` of `value`; throws when it is not one. */
export function listAt(value: unknown, path: string): unknown[] {
  const found = at(value, path);
  if (!Array.isArray(found)) throw new TypeError(`${path} is not a list`);
  return found;
}

/** The string at `path` of `value`; throws when it is not one. */
export function stringAt(value: unknown, path: string): string {
  const found = at(value, path);
  if (typeof found !== 'string') throw new TypeError(`${path} is not a string`);
  return found;
}

/** The value at `path` (`a.b.0.c`), or undefined. */
export function at(value: unknown, path: string): unknown {
  let node = value;
  for (const part of path === '' ? [] : path.split('.')) {
    if (Array.isArray(node) && /^\d+$/.test(part)) node = node[Number(part)];
    else if (isObject(node)) node = node[part];
    else return undefined;
  }
  return node;
}

/** One YAML document of a manifest file. */
export interface ManifestDocument {
  /** Path relative to deploy/kubernetes. */
  readonly file: string;
  /** 0-based index of the document in its file. */
  readonly index: number;
  readonly value: Json;
}

/** Every `.yaml`/`.yml` file under `dir`, relative to it, sorted. */
export function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(name)) out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out;
}

/** Parses every document of a YAML file, strictly (duplicate keys and syntax errors throw). */
export function readYamlDocuments(path: string, label = path): Json[] {
  const documents = parseAllDocuments(readFileSync(path, 'utf8'), { uniqueKeys: true, strict: true });
  if (!Array.isArray(documents)) throw new SyntaxError(`${label}: not a YAML stream`);
  const out: Json[] = [];
  documents.forEach((document, index) => {
    if (document.errors.length > 0) throw new SyntaxError(`${label} document ${index}: ${document.errors.map((error) => error.message).join('; ')}`);
    const value: unknown = document.toJS();
    // An empty document (a trailing `---`) is nothing.
    if (value === null || value === undefined) return;
    if (!isObject(value)) throw new TypeError(`${label} document ${index} is not a mapping`);
    out.push(value);
  });
  return out;
}

/** Every document of every YAML file under deploy/kubernetes. */
export function manifestDocuments(): ManifestDocument[] {
  return yamlFiles(MANIFESTS).flatMap((file) => readYamlDocuments(join(MANIFESTS, file), file).map((value, index) => ({ file, index, value })));
}

/** The one Kubernetes object of `kind` named `name` (and in `namespace`, when given). */
export function objectNamed(documents: readonly ManifestDocument[], kind: string, name: string, namespace?: string): ManifestDocument {
  const found = documents.filter(
    (document) =>
      document.value.kind === kind && at(document.value, 'metadata.name') === name && (namespace === undefined || at(document.value, 'metadata.namespace') === namespace),
  );
  if (found.length !== 1) throw new Error(`expected one ${kind} ${namespace ?? '*'}/${name} in deploy/kubernetes, found ${found.length}`);
  const [document] = found;
  if (document === undefined) throw new Error('unreachable');
  return document;
}

/** A valid cookie secret, as `gatehouse secret generate` prints one. */
export function cookieSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Values for the keys of a Secret manifest: the example's placeholders replaced by values that would pass,
 * a generated cookie secret for `cookie-secret`.
 */
export function secretValues(secret: Json): Record<string, string> {
  const data = objectAt(secret, 'stringData');
  const values: Record<string, string> = {};
  for (const key of Object.keys(data)) values[key] = key === 'cookie-secret' ? cookieSecret() : `test-${key}-${randomBytes(6).toString('hex')}`;
  return values;
}

/**
 * The environment Kubernetes gives a container: its `env` entries with `value`, and `valueFrom.secretKeyRef`
 * resolved from `secrets` (name → key → value). Anything else (fieldRef, configMapKeyRef) is refused so a new
 * kind of reference gets a deliberate check.
 */
export function containerEnv(container: Json, secrets: Readonly<Record<string, Readonly<Record<string, string>>>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of (container.env ?? []) as unknown[]) {
    const name = stringAt(entry, 'name');
    const value = at(entry, 'value');
    if (typeof value === 'string') {
      env[name] = value;
      continue;
    }
    const secretName = stringAt(entry, 'valueFrom.secretKeyRef.name');
    const key = stringAt(entry, 'valueFrom.secretKeyRef.key');
    const resolved = secrets[secretName]?.[key];
    if (resolved === undefined) throw new Error(`env ${name}: the Secret ${secretName} has no key ${key}`);
    env[name] = resolved;
  }
  return env;
}

/** The secret references of a container: secret name → keys. */
export function secretRefs(container: Json): Map<string, Set<string>> {
  const refs = new Map<string, Set<string>>();
  for (const entry of (container.env ?? []) as unknown[]) {
    const secretName = at(entry, 'valueFrom.secretKeyRef.name');
    const key = at(entry, 'valueFrom.secretKeyRef.key');
    if (typeof secretName !== 'string' || typeof key !== 'string') continue;
    const keys = refs.get(secretName) ?? new Set<string>();
    keys.add(key);
    refs.set(secretName, keys);
  }
  return refs;
}

/**
 * The service-link variables Kubernetes adds to a container for each Service in its namespace unless the pod
 * sets `enableServiceLinks: false` (docker-links style: `NAME_SERVICE_HOST`, `NAME_PORT_4180_TCP_ADDR`, ...).
 */
export function serviceLinkEnv(services: readonly Json[]): Record<string, string> {
  const env: Record<string, string> = {};
  services.forEach((service, index) => {
    const prefix = stringAt(service, 'metadata.name').toUpperCase().replace(/-/g, '_');
    const ip = `10.43.0.${index + 10}`;
    const ports = listAt(service, 'spec.ports');
    ports.forEach((port, portIndex) => {
      const number = Number(at(port, 'port'));
      const declared = at(port, 'protocol');
      const protocol = typeof declared === 'string' ? declared : 'TCP';
      const name = at(port, 'name');
      if (portIndex === 0) {
        env[`${prefix}_SERVICE_HOST`] = ip;
        env[`${prefix}_SERVICE_PORT`] = String(number);
        env[`${prefix}_PORT`] = `${protocol.toLowerCase()}://${ip}:${number}`;
      }
      if (typeof name === 'string') env[`${prefix}_SERVICE_PORT_${name.toUpperCase().replace(/-/g, '_')}`] = String(number);
      const base = `${prefix}_PORT_${number}_${protocol}`;
      env[base] = `${protocol.toLowerCase()}://${ip}:${number}`;
      env[`${base}_PROTO`] = protocol.toLowerCase();
      env[`${base}_PORT`] = String(number);
      env[`${base}_ADDR`] = ip;
    });
  });
  return env;
}

/** A minimal OpenID provider on loopback: discovery and an empty key set, nothing else. */
export interface FakeProvider {
  /** `http://127.0.0.1:<port>/`. */
  readonly issuer: string;
  /** Requests served, by path. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

/** Starts a discovery-only provider on 127.0.0.1 (gatehouse accepts http issuers on loopback only). */
export async function startFakeProvider(): Promise<FakeProvider> {
  const hits = new Map<string, number>();
  let issuer = '';
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (path === '/.well-known/openid-configuration') {
      json(200, {
        issuer,
        authorization_endpoint: `${issuer}authorize`,
        token_endpoint: `${issuer}oauth/token`,
        userinfo_endpoint: `${issuer}userinfo`,
        jwks_uri: `${issuer}.well-known/jwks.json`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'email', 'profile', 'offline_access'],
      });
    } else if (path === '/.well-known/jwks.json') {
      json(200, { keys: [] });
    } else {
      json(404, { error: 'not_found' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  issuer = `http://127.0.0.1:${address.port}/`;
  return {
    issuer,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The port of a listen address (`0.0.0.0:4180`, `:4180`, `[::]:4180`), or undefined. */
export function listenPort(listen: string): number | undefined {
  const match = /:(\d+)$/.exec(listen);
  return match === null ? undefined : Number(match[1]);
}

/**
 * A request with exactly these headers (fetch would add its own `sec-fetch-mode: cors`, which makes a
 * browser navigation look like a script to gatehouse); the body is read and dropped.
 */
export function rawRequest(port: number, path: string, headers: Readonly<Record<string, string>>, method = 'GET'): Promise<{ status: number; headers: Readonly<Record<string, string | string[] | undefined>> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, method, headers, timeout: 5000 }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer to ${method} ${path} within 5 s`)));
    request.on('error', reject);
    request.end();
  });
}
