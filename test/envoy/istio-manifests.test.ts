/**
 * deploy/istio and the two Envoy pages, checked as what they are.
 *
 * - Every Istio object validates against its CRD schema (@kubernetes-models/istio, generated from Istio
 *   1.29's CRDs: security.istio.io v1/v1beta1 AuthorizationPolicy, networking.istio.io v1/v1beta1 Gateway and
 *   VirtualService), and has no field its API does not know: the models' validators accept unknown fields
 *   (as `kubectl apply` would not), so each object is also type-checked by the TypeScript compiler against
 *   the same models' interfaces, whose excess-property check catches a misspelt field. The IstioOperator's
 *   CRD leaves `spec` open, so its `meshConfig` gets a structural check of every field used, with the types
 *   of Istio's `mesh/v1alpha1/config.proto`. The Deployment patch is merged into deploy/kubernetes's
 *   Deployment and validated with kubernetes-models.
 * - Then against each other and against gatehouse: the extension provider names gatehouse's Service, port
 *   and `envoy.pathPrefix` (the ConfigMap loaded by gatehouse's own loadConfig with the patched
 *   environment); it forwards every identity header gatehouse emits; the AuthorizationPolicy checks the
 *   seed's hosts but never /oauth2/*; each VirtualService answers /oauth2/auth with 404 itself, then sends
 *   the rest of /oauth2/ to gatehouse, before anything else; and what is checked is exactly what goes to
 *   the application.
 * - docs/proxies/envoy.md's Envoy configuration is parsed and checked field by field against the ext_authz
 *   API (no Envoy schema package exists for Node), and must be exactly the filter and the routes the replay
 *   in ./support.ts uses (RECIPE, RECIPE_ROUTES), so the ext_authz tests run what the page tells people to
 *   deploy. docs/proxies/istio.md
 *   must show the files of deploy/istio verbatim.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import { AuthorizationPolicy as AuthorizationPolicyV1beta1 } from '@kubernetes-models/istio/security.istio.io/v1beta1';
import { Gateway, VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1';
import { Gateway as GatewayV1beta1, VirtualService as VirtualServiceV1beta1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import { IstioOperator } from '@kubernetes-models/istio/install.istio.io/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { loadConfig, parseCidr, parseDuration, type Config } from '../../src/config/index.js';
import { identityHeaders } from '../../src/gateway/headers.js';
import type { Identity } from '../../src/identity/index.js';
import { isObject, list, object, text, type Json } from '../deploy/support.js';
import { PREFIX, RECIPE, RECIPE_ALLOWED_HEADERS, RECIPE_CLIENT_HEADERS, RECIPE_ROUTES, routeFor, type EdgeRoute, type ExtAuthzFilter, type StringMatcher } from './support.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ISTIO = join(ROOT, 'deploy', 'istio');
const KUBERNETES = join(ROOT, 'deploy', 'kubernetes');
/** The seed's three services. */
const SEED_HOSTS = ['grafana.homelab.example.com', 'traefik.homelab.example.com', 'vminsert.homelab.example.com'];
/** A 32-byte cookie secret, base64url. */
const COOKIE_SECRET = Buffer.alloc(32, 7).toString('base64url');

function strings(value: unknown, what: string): string[] {
  return list(value, what).map((item, index) => text(item, `${what}[${index}]`));
}

/** The value at a dot path (`a.b.0.c`). */
function at(value: unknown, path: string): unknown {
  let node = value;
  for (const part of path.split('.')) {
    if (Array.isArray(node) && /^\d+$/.test(part)) node = node[Number(part)];
    else if (isObject(node)) node = node[part];
    else return undefined;
  }
  return node;
}

/** Every document of a YAML text, strictly (duplicate keys and syntax errors fail). */
function documentsOf(source: string, label: string): Json[] {
  return parseAllDocuments(source, { uniqueKeys: true, strict: true })
    .map((document, index) => {
      assert.deepEqual(
        document.errors.map((error) => error.message),
        [],
        `${label} document ${index}`,
      );
      return document.toJS() as unknown;
    })
    .filter((value) => value !== null && value !== undefined)
    .map((value, index) => object(value, `${label} document ${index}`));
}

interface Manifest {
  readonly file: string;
  readonly value: Json;
}

const FILES = readdirSync(ISTIO)
  .filter((name) => /\.ya?ml$/.test(name))
  .sort();
const MANIFESTS: Manifest[] = FILES.flatMap((file) => documentsOf(readFileSync(join(ISTIO, file), 'utf8'), file).map((value) => ({ file, value })));
const kindOf = (value: Json) => `${String(value.apiVersion)}/${String(value.kind)}`;
const nameOf = (value: Json) => `${String(at(value, 'metadata.namespace'))}/${String(at(value, 'metadata.name'))}`;

function only(kind: string): Manifest[] {
  return MANIFESTS.filter((manifest) => String(manifest.value.kind) === kind);
}

function single(kind: string): Json {
  const found = only(kind);
  assert.equal(found.length, 1, `one ${kind} in deploy/istio`);
  return found[0]!.value;
}

/** How each kind is validated, and its model's interface for the excess-property check. */
interface KindCheck {
  readonly validate: (value: Json) => void;
  readonly typeModule: string;
  readonly typeName: string;
}

const KINDS: Readonly<Record<string, KindCheck>> = {
  'security.istio.io/v1/AuthorizationPolicy': { validate: (value) => new AuthorizationPolicy(value).validate(), typeModule: '@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy', typeName: 'IAuthorizationPolicy' },
  'security.istio.io/v1beta1/AuthorizationPolicy': {
    validate: (value) => new AuthorizationPolicyV1beta1(value).validate(),
    typeModule: '@kubernetes-models/istio/security.istio.io/v1beta1/AuthorizationPolicy',
    typeName: 'IAuthorizationPolicy',
  },
  'networking.istio.io/v1/Gateway': { validate: (value) => new Gateway(value).validate(), typeModule: '@kubernetes-models/istio/networking.istio.io/v1/Gateway', typeName: 'IGateway' },
  'networking.istio.io/v1beta1/Gateway': { validate: (value) => new GatewayV1beta1(value).validate(), typeModule: '@kubernetes-models/istio/networking.istio.io/v1beta1/Gateway', typeName: 'IGateway' },
  'networking.istio.io/v1/VirtualService': { validate: (value) => new VirtualService(value).validate(), typeModule: '@kubernetes-models/istio/networking.istio.io/v1/VirtualService', typeName: 'IVirtualService' },
  'networking.istio.io/v1beta1/VirtualService': {
    validate: (value) => new VirtualServiceV1beta1(value).validate(),
    typeModule: '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService',
    typeName: 'IVirtualService',
  },
  'install.istio.io/v1alpha1/IstioOperator': { validate: (value) => new IstioOperator(value).validate(), typeModule: '@kubernetes-models/istio/install.istio.io/v1alpha1/IstioOperator', typeName: 'IIstioOperator' },
  'apps/v1/Deployment': { validate: (value) => new Deployment(value).validate(), typeModule: 'kubernetes-models/apps/v1/Deployment', typeName: 'IDeployment' },
};

/**
 * Fields no model knows, found by walking each object alongside its model's TypeScript type: at every
 * mapping, the keys of the type there (of every member, since the Istio models intersect their specs with
 * unions for the CRDs' oneOf rules, which TypeScript's own excess-property check does not see through). A
 * mapping typed with an index signature (labels) takes any key.
 */
function unknownFields(objects: readonly { label: string; check: KindCheck; value: unknown }[]): string[] {
  // A file that is never written: the compiler host serves it from memory.
  const file = join(ROOT, 'test', 'envoy', '__istio_models__.mts');
  const modules = [...new Set(objects.map((item) => `${item.check.typeModule}#${item.check.typeName}`))];
  const source = modules.map((key, index) => {
    const [module = '', name = ''] = key.split('#');
    return `import type { ${name} as T${index} } from '${module}';\nexport declare const model${index}: T${index};\n`;
  }).join('');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [] };
  const host = ts.createCompilerHost(options);
  const original = { getSourceFile: host.getSourceFile.bind(host), fileExists: host.fileExists.bind(host), readFile: host.readFile.bind(host) };
  host.getSourceFile = (name, version, onError, create) => (name === file ? ts.createSourceFile(name, source, version, true) : original.getSourceFile(name, version, onError, create));
  host.fileExists = (name) => name === file || original.fileExists(name);
  host.readFile = (name) => (name === file ? source : original.readFile(name));
  const program = ts.createProgram([file], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  if (diagnostics.length > 0) return diagnostics;
  const checker = program.getTypeChecker();
  const sourceFile = program.getSourceFile(file);
  const models = new Map<string, ts.Type>();
  sourceFile?.forEachChild((node) => {
    if (!ts.isVariableStatement(node)) return;
    const declaration = node.declarationList.declarations[0];
    if (declaration !== undefined) models.set(declaration.name.getText(sourceFile), checker.getTypeAtLocation(declaration));
  });
  /** The object members of a type: unions and intersections taken apart, undefined dropped. */
  const members = (type: ts.Type): ts.Type[] => (type.isUnionOrIntersection() ? type.types.flatMap(members) : type.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null) ? [] : [type]);
  const problems: string[] = [];
  const walk = (value: unknown, types: readonly ts.Type[], path: string) => {
    const parts = types.flatMap(members);
    if (Array.isArray(value)) {
      const elements = parts.map((part) => checker.getIndexTypeOfType(part, ts.IndexKind.Number)).filter((element): element is ts.Type => element !== undefined);
      if (elements.length > 0) value.forEach((item, index) => walk(item, elements, `${path}[${index}]`));
      return;
    }
    if (!isObject(value)) return;
    const open = parts.map((part) => checker.getIndexTypeOfType(part, ts.IndexKind.String)).filter((index): index is ts.Type => index !== undefined);
    for (const [key, child] of Object.entries(value)) {
      const properties = parts.map((part) => part.getProperty(key)).filter((property): property is ts.Symbol => property !== undefined);
      if (properties.length === 0 && open.length === 0) problems.push(`${path}.${key}: not a field of the API`);
      else walk(child, properties.length > 0 ? properties.map((property) => checker.getTypeOfSymbol(property)) : open, `${path}.${key}`);
    }
  };
  for (const item of objects) {
    const type = models.get(`model${String(modules.indexOf(`${item.check.typeModule}#${item.check.typeName}`))}`);
    if (type === undefined) problems.push(`${item.label}: no model type`);
    else walk(item.value, [type], item.label);
  }
  return problems;
}

/** Merges a strategic-merge patch as kustomize does for these files: lists of named items merge by name. */
function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: Json = { ...base };
    for (const [key, value] of Object.entries(patch)) out[key] = key in base ? strategicMerge(base[key], value) : value;
    return out;
  }
  const named = (items: unknown[]) => items.every((item) => isObject(item) && typeof item.name === 'string');
  if (Array.isArray(base) && Array.isArray(patch) && named(base as unknown[]) && named(patch as unknown[])) {
    const merged = (base as Json[]).map((item) => {
      const update = (patch as Json[]).find((candidate) => candidate.name === item.name);
      return update === undefined ? item : strategicMerge(item, update);
    });
    for (const item of patch as Json[]) if (!(base as Json[]).some((candidate) => candidate.name === item.name)) merged.push(item);
    return merged;
  }
  return patch;
}

/** The one object of `kind` named `name` in a deploy/kubernetes file. */
function kubernetesObject(file: string, kind: string, name: string): Json {
  const found = documentsOf(readFileSync(join(KUBERNETES, file), 'utf8'), file).filter((value) => value.kind === kind && at(value, 'metadata.name') === name);
  assert.equal(found.length, 1, `${kind} ${name} in deploy/kubernetes/${file}`);
  return found[0]!;
}

const patch = single('Deployment');
const deployment = object(strategicMerge(kubernetesObject('deployment.yaml', 'Deployment', 'gatehouse'), patch), 'the patched Deployment');
const service = kubernetesObject('service.yaml', 'Service', 'gatehouse');
const container = object(
  list(at(deployment, 'spec.template.spec.containers'), 'containers').find((item) => at(item, 'name') === 'gatehouse'),
  'the gatehouse container',
);

/** The ConfigMap's gatehouse.yaml, loaded by gatehouse with the patched container's environment. */
function loadDeployedConfig(): Config {
  const env: Record<string, string> = {};
  for (const entry of list(container.env, 'env')) {
    const name = text(at(entry, 'name'), 'env name');
    const value = at(entry, 'value');
    if (typeof value === 'string') env[name] = value;
    // Secrets: values that pass, as a real Secret's would.
    else if (at(entry, 'valueFrom.secretKeyRef') !== undefined) env[name] = name.includes('COOKIE') ? COOKIE_SECRET : `test-${name.toLowerCase()}`;
  }
  const configMap = kubernetesObject('configmap.yaml', 'ConfigMap', 'gatehouse');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-istio-'));
  try {
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, text(at(configMap, 'data.gatehouse\u002eyaml') ?? object(configMap.data, 'data')['gatehouse.yaml'], 'gatehouse.yaml'));
    return loadConfig({ file, env }).config;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const deployed = loadDeployedConfig();

/** Every header name gatehouse can put on an allowed check under `config`, lower case. */
function emittedHeaders(config: Config): string[] {
  const identity: Identity = { sub: 's', email: 'e@example.com', emailVerified: true, groups: ['g'], username: 'u', issuer: 'i', authMethod: 'session' };
  const names = Object.keys(identityHeaders(identity, { idToken: 'id', accessToken: 'access' }, config.identityHeaders));
  for (const profile of Object.values(config.bearer.profiles)) names.push(...Object.keys(profile.headerMap ?? {}));
  return [...new Set(names.map((name) => name.toLowerCase()))].sort();
}

/** Istio's header list matching: exact, `prefix*` or `*suffix`, case-insensitive. */
function istioMatches(patterns: readonly string[], name: string): boolean {
  const lower = name.toLowerCase();
  return patterns.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p === '*') return true;
    if (p.endsWith('*')) return lower.startsWith(p.slice(0, -1));
    if (p.startsWith('*')) return lower.endsWith(p.slice(1));
    return lower === p;
  });
}

/** Istio's AuthorizationPolicy string matching for hosts (case-insensitive) and paths: exact, `prefix*`, `*suffix`, `*`. */
function policyMatch(value: string, pattern: string, ignoreCase: boolean): boolean {
  const v = ignoreCase ? value.toLowerCase() : value;
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  if (p === '*') return true;
  if (p.endsWith('*')) return v.startsWith(p.slice(0, -1));
  if (p.startsWith('*')) return v.endsWith(p.slice(1));
  return v === p;
}

/** Whether a CUSTOM policy's rules select a request (any rule; within a rule, every `to` field). */
function policySelects(policy: Json, host: string, path: string): boolean {
  return list(at(policy, 'spec.rules'), 'rules').some((rule) =>
    list(at(rule, 'to'), 'to').some((to) => {
      const operation = object(at(to, 'operation'), 'operation');
      const hosts = operation.hosts === undefined ? undefined : strings(operation.hosts, 'hosts');
      const paths = operation.paths === undefined ? undefined : strings(operation.paths, 'paths');
      const notPaths = operation.notPaths === undefined ? [] : strings(operation.notPaths, 'notPaths');
      if (hosts !== undefined && !hosts.some((pattern) => policyMatch(host, pattern, true))) return false;
      if (paths !== undefined && !paths.some((pattern) => policyMatch(path, pattern, false))) return false;
      return !notPaths.some((pattern) => policyMatch(path, pattern, false));
    }),
  );
}

/**
 * Where a VirtualService's HTTP routes send a request for `path` (path and query): the first route with
 * no `match`, or with a `uri` condition that takes it (`exact` on the path without its query, `prefix` on
 * the whole `:path`, both case-sensitive, as Istio's Envoy routes match them). `host:port` of its one
 * destination, `status N` for a `directResponse`, or `none`.
 */
function virtualServiceSends(routes: readonly unknown[], path: string): string {
  const pathOnly = path.split('?')[0] ?? path;
  const route = routes.find((candidate) => {
    const matches = at(candidate, 'match');
    if (matches === undefined) return true;
    return list(matches, 'match').some((match) => {
      assert.deepEqual(Object.keys(object(match, 'match')), ['uri'], 'only uri conditions are replayed here');
      const uri = object(at(match, 'uri'), 'uri');
      if (typeof uri.exact === 'string') return pathOnly === uri.exact;
      if (typeof uri.prefix === 'string') return path.startsWith(uri.prefix);
      assert.fail(`a uri condition this replay does not know: ${JSON.stringify(uri)}`);
    });
  });
  if (route === undefined) return 'none';
  const status = at(route, 'directResponse.status');
  if (status !== undefined) {
    assert.ok(typeof status === 'number', 'directResponse.status is a number');
    return `status ${status}`;
  }
  assert.equal(list(at(route, 'route'), 'route').length, 1, 'one destination');
  return `${String(at(route, 'route.0.destination.host'))}:${String(at(route, 'route.0.destination.port.number'))}`;
}

/** The fields of Istio's `MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationHttpProvider`, with their JSON types. */
const EXT_AUTHZ_HTTP_FIELDS: Readonly<Record<string, 'string' | 'port' | 'boolean' | 'duration' | 'strings' | 'map' | 'object'>> = {
  service: 'string',
  port: 'port',
  timeout: 'duration',
  pathPrefix: 'string',
  failOpen: 'boolean',
  statusOnError: 'string',
  includeHeadersInCheck: 'strings',
  includeRequestHeadersInCheck: 'strings',
  includeAdditionalHeadersInCheck: 'map',
  includeRequestBodyInCheck: 'object',
  headersToUpstreamOnAllow: 'strings',
  headersToDownstreamOnDeny: 'strings',
  headersToDownstreamOnAllow: 'strings',
};

/** Checks `meshConfig` field by field; returns the problems. */
function meshConfigProblems(meshConfig: Json): string[] {
  const problems: string[] = [];
  const known = new Set(['extensionProviders', 'pathNormalization']);
  for (const key of Object.keys(meshConfig)) if (!known.has(key)) problems.push(`meshConfig.${key}: not a field this recipe checks`);
  const normalization = at(meshConfig, 'pathNormalization.normalization');
  if (meshConfig.pathNormalization !== undefined) {
    if (!isObject(meshConfig.pathNormalization) || Object.keys(meshConfig.pathNormalization).some((key) => key !== 'normalization')) problems.push('meshConfig.pathNormalization: only `normalization`');
    if (!['DEFAULT', 'NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'].includes(String(normalization))) problems.push(`meshConfig.pathNormalization.normalization: ${String(normalization)}`);
  }
  const providers = meshConfig.extensionProviders;
  if (!Array.isArray(providers)) return [...problems, 'meshConfig.extensionProviders: not a list'];
  providers.forEach((provider: unknown, index) => {
    const where = `meshConfig.extensionProviders[${index}]`;
    if (!isObject(provider)) {
      problems.push(`${where}: not a mapping`);
      return;
    }
    if (typeof provider.name !== 'string' || provider.name === '') problems.push(`${where}.name: required`);
    const kinds = Object.keys(provider).filter((key) => key !== 'name');
    if (kinds.length !== 1 || kinds[0] !== 'envoyExtAuthzHttp') problems.push(`${where}: exactly one provider kind, envoyExtAuthzHttp (got ${kinds.join(', ')})`);
    const http = provider.envoyExtAuthzHttp;
    if (!isObject(http)) return;
    for (const [key, value] of Object.entries(http)) {
      const type = EXT_AUTHZ_HTTP_FIELDS[key];
      const bad = (what: string) => problems.push(`${where}.envoyExtAuthzHttp.${key}: ${what}`);
      if (type === undefined) bad('unknown field');
      else if (type === 'string' && typeof value !== 'string') bad('must be a string');
      else if (type === 'port' && !(Number.isInteger(value) && (value as number) > 0 && (value as number) < 65536)) bad('must be a port number');
      else if (type === 'boolean' && typeof value !== 'boolean') bad('must be a boolean');
      else if (type === 'duration' && !(typeof value === 'string' && /^\d+(\.\d+)?s$/.test(value))) bad('must be a protobuf duration such as 0.5s');
      else if (type === 'strings' && !(Array.isArray(value) && value.every((item) => typeof item === 'string' && item !== '' && item === item.toLowerCase()))) bad('must be a list of lower-case names');
      else if (type === 'map' && !(isObject(value) && Object.values(value).every((item) => typeof item === 'string'))) bad('must be a map of strings');
    }
    for (const required of ['service', 'port']) if (http[required] === undefined) problems.push(`${where}.envoyExtAuthzHttp.${required}: required`);
    if (http.statusOnError !== undefined && !(typeof http.statusOnError === 'string' && /^[1-5]\d\d$/.test(http.statusOnError))) problems.push(`${where}.envoyExtAuthzHttp.statusOnError: not an HTTP status`);
  });
  return problems;
}

const operator = single('IstioOperator');
const meshConfig = object(at(operator, 'spec.meshConfig'), 'spec.meshConfig');
const provider = object(
  list(meshConfig.extensionProviders, 'extensionProviders').find((item) => at(item, 'name') === 'gatehouse'),
  'the gatehouse extension provider',
);
const extAuthz = object(provider.envoyExtAuthzHttp, 'envoyExtAuthzHttp');
const policy = single('AuthorizationPolicy');
const gateway = single('Gateway');
const virtualServices = only('VirtualService').map((manifest) => manifest.value);
const serviceFqdn = `${text(at(service, 'metadata.name'), 'Service name')}.${text(at(service, 'metadata.namespace'), 'Service namespace')}.svc.cluster.local`;
const servicePort = at(
  list(at(service, 'spec.ports'), 'Service ports').find((port) => at(port, 'name') === 'http'),
  'port',
);

describe('deploy/istio: schemas', () => {
  test('the files are the ones the recipe names', () => {
    assert.deepEqual(FILES, ['authorizationpolicy.yaml', 'gatehouse-envoy-patch.yaml', 'gateway.yaml', 'kustomization.yaml', 'mesh-config.yaml', 'virtualservice.yaml']);
  });

  test('every object validates against its CRD schema (AuthorizationPolicy, Gateway, VirtualService, IstioOperator) or Kubernetes API schema', () => {
    const checked: string[] = [];
    for (const { file, value } of MANIFESTS) {
      const kind = kindOf(value);
      if (kind === 'kustomize.config.k8s.io/v1beta1/Kustomization' || file === 'gatehouse-envoy-patch.yaml') continue;
      const check = KINDS[kind];
      assert.ok(check !== undefined, `${file}: ${kind} has no schema here`);
      assert.doesNotThrow(() => check.validate(value), `${file} ${nameOf(value)}`);
      checked.push(`${file} ${String(value.kind)}`);
    }
    KINDS['apps/v1/Deployment']!.validate(deployment);
    assert.equal(checked.length, 6, checked.join(', '));
  });

  test("no object has a field its API does not know (walked along the models' TypeScript types)", () => {
    // The IstioOperator's spec is open in its CRD: meshConfig is checked field by field below.
    const objects = MANIFESTS.filter(({ value, file }) => KINDS[kindOf(value)] !== undefined && file !== 'gatehouse-envoy-patch.yaml').map(({ file, value }) => ({
      label: `${file} ${nameOf(value)}`,
      check: KINDS[kindOf(value)]!,
      value: value.kind === 'IstioOperator' ? Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'spec')) : value,
    }));
    objects.push({ label: 'the patched Deployment', check: KINDS['apps/v1/Deployment']!, value: deployment });
    assert.equal(objects.length, 7);
    assert.deepEqual(unknownFields(objects), []);
    assert.deepEqual(Object.keys(object(operator.spec, 'IstioOperator spec')), ['meshConfig']);
  });

  test('the checks catch mistakes: a misspelt field (type check) and a bad value (schema)', () => {
    const misspelt = structuredClone(policy);
    const operation = object(at(misspelt, 'spec.rules.0.to.0.operation'), 'operation');
    operation.notPath = operation.notPaths;
    delete operation.notPaths;
    const misspeltRoute = structuredClone(virtualServices[0]!);
    object(at(misspeltRoute, 'spec.http.0'), 'route').matches = [];
    const problems = unknownFields([
      { label: 'policy', check: KINDS[kindOf(policy)]!, value: misspelt },
      { label: 'vs', check: KINDS[kindOf(misspeltRoute)]!, value: misspeltRoute },
      { label: 'deployment', check: KINDS['apps/v1/Deployment']!, value: { ...deployment, spec: { ...object(deployment.spec, 'spec'), replica: 2 } } },
    ]);
    assert.deepEqual(problems, ['policy.spec.rules[0].to[0].operation.notPath: not a field of the API', 'vs.spec.http[0].matches: not a field of the API', 'deployment.spec.replica: not a field of the API']);
    const wrongAction = structuredClone(policy);
    object(wrongAction.spec, 'spec').action = 'EXTERNAL';
    assert.throws(() => KINDS[kindOf(policy)]!.validate(wrongAction));
    const noPort = structuredClone(virtualServices[0]!);
    const routed = list(at(noPort, 'spec.http'), 'http').findIndex((route) => at(route, 'route') !== undefined);
    object(at(noPort, `spec.http.${routed}.route.0.destination`), 'destination').host = 42;
    assert.throws(() => KINDS[kindOf(noPort)]!.validate(noPort));
    assert.notDeepEqual(meshConfigProblems({ extensionProviders: [{ name: 'x', envoyExtAuthzHttp: { service: 's', port: 4180, pathPrefx: '/x' } }] }), []);
  });

  test("the IstioOperator's meshConfig: every field is one of EnvoyExternalAuthorizationHttpProvider's, with its type", () => {
    assert.deepEqual(meshConfigProblems(meshConfig), []);
  });

  test('the kustomization applies gatehouse and the Istio objects, and the patch; the IstioOperator is for istioctl', () => {
    const kustomization = single('Kustomization');
    const resources = strings(kustomization.resources, 'resources');
    assert.ok(resources.includes('../kubernetes'), 'gatehouse itself');
    for (const resource of resources) {
      const path = join(ISTIO, resource);
      assert.ok(existsSync(path), `${resource} exists`);
      if (statSync(path).isDirectory()) assert.ok(existsSync(join(path, 'kustomization.yaml')), `${resource} is a kustomization`);
    }
    const patches = list(kustomization.patches, 'patches').map((item) => text(at(item, 'path'), 'patch path'));
    assert.deepEqual(patches, ['gatehouse-envoy-patch.yaml']);
    const applied = new Set([...resources, ...patches, 'kustomization.yaml', 'mesh-config.yaml']);
    for (const file of FILES) assert.ok(applied.has(file), `${file} is applied by the kustomization (or is mesh-config.yaml)`);
    assert.ok(!resources.includes('mesh-config.yaml'), 'not a cluster object');
  });
});

describe('deploy/istio: against each other and against gatehouse', () => {
  test("the extension provider names gatehouse's Service and port, and gatehouse's envoy.pathPrefix", () => {
    assert.equal(extAuthz.service, serviceFqdn);
    assert.equal(extAuthz.port, servicePort);
    assert.equal(extAuthz.pathPrefix, deployed.envoy.pathPrefix);
    assert.equal(deployed.envoy.pathPrefix, PREFIX);
    const containerPort = at(
      list(container.ports, 'container ports').find((port) => at(port, 'name') === at(service, 'spec.ports.0.targetPort')),
      'containerPort',
    );
    assert.equal(containerPort, extAuthz.port, 'the Service port reaches the container port gatehouse listens on');
  });

  test('fail closed with 503 and a timeout within the half second the recipe gives', () => {
    assert.equal(extAuthz.failOpen, false);
    assert.equal(extAuthz.statusOnError, '503');
    const ms = Number(/^(\d+(?:\.\d+)?)s$/.exec(text(extAuthz.timeout, 'timeout'))?.[1]) * 1000;
    assert.ok(ms >= 200 && ms <= 1000, `${ms} ms`);
  });

  test('includeRequestHeadersInCheck sends cookie and authorization, and is the replayed recipe', () => {
    const headers = strings(extAuthz.includeRequestHeadersInCheck, 'includeRequestHeadersInCheck');
    for (const name of ['cookie', 'authorization', 'x-forwarded-proto', 'x-forwarded-for']) assert.ok(headers.includes(name), name);
    assert.deepEqual([...headers].sort(), [...RECIPE_ALLOWED_HEADERS].sort());
  });

  test('headersToUpstreamOnAllow covers every identity header gatehouse emits under the deployed configuration', () => {
    const patterns = strings(extAuthz.headersToUpstreamOnAllow, 'headersToUpstreamOnAllow');
    const emitted = emittedHeaders(deployed);
    assert.ok(emitted.includes('authorization') && emitted.includes('x-auth-request-email'), emitted.join(', '));
    for (const name of emitted) assert.ok(istioMatches(patterns, name), `${name} reaches the application`);
    for (const name of ['cookie', 'host', 'x-forwarded-for', 'x-gatehouse-reason', 'set-cookie']) assert.ok(!istioMatches(patterns, name), `${name} is not copied upstream`);
  });

  test('headersToDownstreamOnDeny passes the sign-in redirect and its cookies; headersToDownstreamOnAllow a re-sealed cookie', () => {
    const deny = strings(extAuthz.headersToDownstreamOnDeny, 'headersToDownstreamOnDeny');
    for (const name of ['location', 'set-cookie', 'www-authenticate']) assert.ok(deny.includes(name), name);
    assert.deepEqual([...deny].sort(), [...RECIPE_CLIENT_HEADERS].sort());
    assert.deepEqual(strings(extAuthz.headersToDownstreamOnAllow, 'headersToDownstreamOnAllow'), ['set-cookie']);
  });

  test("the AuthorizationPolicy: CUSTOM with the gatehouse provider, on the gateway's pods", () => {
    assert.equal(at(policy, 'spec.action'), 'CUSTOM');
    assert.equal(at(policy, 'spec.provider.name'), provider.name);
    assert.deepEqual(at(policy, 'spec.selector.matchLabels'), at(gateway, 'spec.selector'));
    assert.equal(at(policy, 'metadata.namespace'), at(gateway, 'metadata.namespace'), "in the gateway's namespace");
  });

  test('the AuthorizationPolicy checks every request to the seed hosts, a port in Host included, and never /oauth2/*', () => {
    for (const host of SEED_HOSTS) {
      for (const path of ['/', '/d/home', '/api/v1/import/prometheus', '/dashboard/', '/oauth2', '/oauth2x/y', '/x/oauth2/callback']) {
        assert.ok(policySelects(policy, host, path), `${host}${path} is checked`);
        assert.ok(policySelects(policy, `${host}:443`, path), `${host}:443${path} is checked`);
        assert.ok(policySelects(policy, host.toUpperCase(), path), `${host.toUpperCase()}${path} is checked`);
      }
      for (const path of ['/oauth2/start', '/oauth2/callback', '/oauth2/sign_out', '/oauth2/', '/oauth2/auth']) assert.ok(!policySelects(policy, host, path), `${host}${path} is not checked`);
    }
  });

  test('the Gateway serves the seed hosts over HTTPS and only redirects plain HTTP', () => {
    const servers = list(at(gateway, 'spec.servers'), 'servers');
    const https = servers.find((server) => at(server, 'port.protocol') === 'HTTPS');
    const http = servers.find((server) => at(server, 'port.protocol') === 'HTTP');
    assert.equal(at(https, 'port.number'), 443);
    assert.equal(at(https, 'tls.mode'), 'SIMPLE');
    assert.equal(typeof at(https, 'tls.credentialName'), 'string');
    assert.equal(at(http, 'tls.httpsRedirect'), true);
    for (const host of SEED_HOSTS) {
      for (const server of [https, http]) assert.ok(strings(at(server, 'hosts'), 'hosts').some((pattern) => policyMatch(host, pattern.replace(/^[^/]*\//, ''), true)), `${host} on ${String(at(server, 'port.name'))}`);
    }
  });

  /** The one VirtualService of a seed host, and its HTTP routes. */
  const routesOf = (host: string): unknown[] => {
    const matching = virtualServices.filter((vs) => strings(at(vs, 'spec.hosts'), 'hosts').includes(host));
    assert.equal(matching.length, 1, host);
    return list(at(matching[0], 'spec.http'), 'http');
  };
  const gatehouseDestination = `${serviceFqdn}:${String(servicePort)}`;

  test('one VirtualService per seed host, bound to the Gateway: /oauth2/auth refused first, then /oauth2/ to gatehouse', () => {
    const gatewayRef = `${text(at(gateway, 'metadata.namespace'), 'gateway namespace')}/${text(at(gateway, 'metadata.name'), 'gateway name')}`;
    for (const host of SEED_HOSTS) {
      const routes = routesOf(host);
      const vs = virtualServices.find((candidate) => strings(at(candidate, 'spec.hosts'), 'hosts').includes(host));
      assert.deepEqual(strings(at(vs, 'spec.gateways'), 'gateways'), [gatewayRef]);
      // The check's answer carries the identity and the ID token: the gateway answers it, nothing behind it.
      assert.deepEqual(at(routes[0], 'match'), [{ uri: { exact: '/oauth2/auth' } }], `${host}: /oauth2/auth first`);
      assert.deepEqual(at(routes[0], 'directResponse'), { status: 404 }, `${host}: answered 404 by the gateway`);
      assert.equal(at(routes[0], 'route'), undefined, `${host}: /oauth2/auth goes nowhere`);
      assert.deepEqual(at(routes[1], 'match'), [{ uri: { prefix: '/oauth2/' } }], `${host}: then /oauth2/`);
      assert.equal(list(at(routes[1], 'route'), 'route').length, 1, 'all of the rest of /oauth2/ to gatehouse');
      const sends = (path: string) => virtualServiceSends(routes, path);
      for (const path of ['/oauth2/auth', '/oauth2/auth?rd=%2F', '/oauth2/auth?allowed_groups=admins']) assert.equal(sends(path), 'status 404', `${host}${path}`);
      for (const path of ['/oauth2/start', '/oauth2/callback', '/oauth2/refresh', '/oauth2/sign_out', '/oauth2/auth/', '/oauth2/authx']) assert.equal(sends(path), gatehouseDestination, `${host}${path}`);
      for (const path of ['/', '/d/home', '/oauth2', '/OAUTH2/AUTH', '/x/oauth2/auth', '/api/v1/import']) {
        const destination = sends(path);
        assert.notEqual(destination, gatehouseDestination, `${host}${path} goes to the application`);
        assert.doesNotMatch(destination, /^status |^none$/, `${host}${path} goes to the application`);
      }
    }
  });

  test('what the AuthorizationPolicy checks is exactly what the VirtualServices send to the application', () => {
    const paths = ['/', '/d/home?orgId=1', '/api/v1/import', '/oauth2', '/oauth2x/y', '/x/oauth2/auth', '/OAUTH2/AUTH', '/oauth2/', '/oauth2/start?rd=%2F', '/oauth2/callback', '/oauth2/refresh', '/oauth2/sign_out', '/oauth2/auth', '/oauth2/auth?x=1', '/oauth2/auth/', '/oauth2/unknown'];
    for (const host of SEED_HOSTS) {
      const routes = routesOf(host);
      for (const path of paths) {
        const destination = virtualServiceSends(routes, path);
        const toApplication = destination !== gatehouseDestination && !destination.startsWith('status ') && destination !== 'none';
        // The policy's paths match the path without its query.
        assert.equal(policySelects(policy, host, path.split('?')[0] ?? path), toApplication, `${host}${path} (${destination})`);
      }
    }
  });

  test('the deployed configuration trusts a network, not everyone, and keeps the oauth2-proxy cookie domain', () => {
    assert.equal(deployed.proxy.reverseProxy, true);
    assert.ok(deployed.proxy.trusted.length > 0);
    for (const range of deployed.proxy.trusted) assert.ok((parseCidr(range)?.prefix ?? 0) >= 8, `${range} is not everyone`);
    assert.deepEqual(deployed.cookie.domains, ['.homelab.example.com']);
    for (const host of SEED_HOSTS) assert.ok(deployed.routes.some((route) => route.hosts?.includes(host) === true), `a route for ${host}`);
  });
});

/** The ```yaml blocks of a page, with the `<!-- file: … -->` marker just before each, if any. */
function yamlBlocks(page: string): { file: string | undefined; source: string }[] {
  const blocks: { file: string | undefined; source: string }[] = [];
  for (const match of page.matchAll(/(?:<!-- file: ([^ ]+) -->\n)?```yaml\n([\s\S]*?)```/g)) blocks.push({ file: match[1], source: match[2] ?? '' });
  return blocks;
}

describe('docs/proxies/istio.md', () => {
  const page = readFileSync(join(ROOT, 'docs', 'proxies', 'istio.md'), 'utf8');

  test('shows every file of deploy/istio verbatim', () => {
    const blocks = yamlBlocks(page);
    const shown = blocks.map((block) => block.file);
    assert.deepEqual([...shown].sort(), FILES.map((file) => `deploy/istio/${file}`).sort());
    for (const block of blocks) assert.equal(block.source.trimEnd(), readFileSync(join(ROOT, block.file ?? ''), 'utf8').trimEnd(), `${String(block.file)} differs from the page`);
  });

  test('says that only 200 allows, and names the seed hosts', () => {
    assert.match(page, /exactly `200`/);
    for (const host of SEED_HOSTS) assert.ok(page.includes(host) || page.includes(host.split('.')[0]!), host);
  });
});

/** Envoy `ListStringMatcher` → the replay's matchers, checking every field on the way. */
function listStringMatcher(value: unknown, what: string): StringMatcher[] {
  const matcher = object(value, what);
  assert.deepEqual(Object.keys(matcher), ['patterns'], `${what}: only patterns`);
  return list(matcher.patterns, `${what}.patterns`).map((item, index) => {
    const pattern = object(item, `${what}.patterns[${index}]`);
    const kinds = Object.keys(pattern).filter((key) => key !== 'ignore_case');
    assert.equal(kinds.length, 1, `${what}.patterns[${index}]: exactly one of exact, prefix, suffix, contains`);
    const kind = kinds[0]!;
    assert.ok(['exact', 'prefix', 'suffix', 'contains'].includes(kind), `${what}.patterns[${index}].${kind}`);
    const value = text(pattern[kind], `${what}.patterns[${index}].${kind}`);
    // Envoy's header keys are lower case, and a StringMatcher is case-sensitive unless told otherwise.
    if (pattern.ignore_case !== true) assert.equal(value, value.toLowerCase(), `${what}: '${value}' can never match a header name`);
    return { [kind]: value, ...(pattern.ignore_case === true ? { ignoreCase: true } : {}) };
  });
}

function assertKeys(value: Json, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(value)) assert.ok(allowed.includes(key), `${what}.${key} is not a field of the API`);
}

const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
/** envoy.type.v3.StatusCode names for the statuses a recipe may use. */
const STATUS_CODES: Readonly<Record<string, number>> = { Forbidden: 403, ServiceUnavailable: 503, Unauthorized: 401, InternalServerError: 500 };

describe('docs/proxies/envoy.md', () => {
  const page = readFileSync(join(ROOT, 'docs', 'proxies', 'envoy.md'), 'utf8');
  const blocks = yamlBlocks(page).map((block) => documentsOf(block.source, 'a yaml block of envoy.md'));
  const bootstrap = blocks.find((documents) => documents[0]?.static_resources !== undefined)?.[0];
  const gatehouseYaml = yamlBlocks(page).find((block) => /^listen:/m.test(block.source))?.source;
  assert.ok(bootstrap !== undefined, 'the Envoy configuration');
  assert.ok(gatehouseYaml !== undefined, "gatehouse's configuration");

  const listeners = list(at(bootstrap, 'static_resources.listeners'), 'listeners');
  const managers = listeners.flatMap((listener) =>
    list(at(listener, 'filter_chains'), 'filter_chains').flatMap((chain) => list(at(chain, 'filters'), 'filters').filter((filter) => at(filter, 'typed_config.@type') === HCM_TYPE)),
  );
  const manager = object(at(managers[0], 'typed_config'), 'the HTTP connection manager');
  const clusters = list(at(bootstrap, 'static_resources.clusters'), 'clusters');
  const httpFilters = list(manager.http_filters, 'http_filters');
  const filter = object(at(httpFilters[0], 'typed_config'), 'the ext_authz filter');
  const service = object(filter.http_service, 'http_service');

  /** gatehouse's configuration of the page, loaded as gatehouse loads it. */
  function loadPageConfig(): Config {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-envoy-doc-'));
    try {
      const file = join(dir, 'gatehouse.yaml');
      writeFileSync(file, gatehouseYaml ?? '');
      return loadConfig({ file, env: { GATEHOUSE_PROVIDER_CLIENT_ID: 'gatehouse', GATEHOUSE_PROVIDER_CLIENT_SECRET: 'secret', GATEHOUSE_COOKIE_SECRETS: COOKIE_SECRET } }).config;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const config = loadPageConfig();

  test('one connection manager, at the edge, normalizing paths; ext_authz first, the router last', () => {
    assert.equal(managers.length, 1);
    assert.equal(manager.use_remote_address, true);
    assert.equal(manager.normalize_path, true);
    assert.equal(manager.merge_slashes, true);
    assert.deepEqual(
      httpFilters.map((item) => at(item, 'name')),
      ['envoy.filters.http.ext_authz', 'envoy.filters.http.router'],
    );
    assert.equal(at(httpFilters[0], 'typed_config.@type'), EXT_AUTHZ_TYPE);
  });

  test('the ext_authz filter uses only fields of the v3 API', () => {
    assertKeys(
      filter,
      [
        '@type',
        'grpc_service',
        'http_service',
        'transport_api_version',
        'failure_mode_allow',
        'with_request_body',
        'clear_route_cache',
        'status_on_error',
        'metadata_context_namespaces',
        'typed_metadata_context_namespaces',
        'filter_enabled',
        'filter_enabled_metadata',
        'deny_at_disable',
        'include_peer_certificate',
        'stat_prefix',
        'bootstrap_metadata_labels_key',
        'allowed_headers',
        'disallowed_headers',
        'include_tls_session',
      ],
      'ExtAuthz',
    );
    assertKeys(service, ['server_uri', 'path_prefix', 'authorization_request', 'authorization_response'], 'HttpService');
    assertKeys(object(service.server_uri, 'server_uri'), ['uri', 'cluster', 'timeout'], 'HttpUri');
    assertKeys(object(service.authorization_response, 'authorization_response'), ['allowed_upstream_headers', 'allowed_upstream_headers_to_append', 'allowed_client_headers', 'allowed_client_headers_on_success', 'dynamic_metadata_from_headers'], 'AuthorizationResponse');
    assert.equal(filter.transport_api_version, 'V3');
    assert.equal(filter.grpc_service, undefined, 'the HTTP service, not gRPC');
  });

  test('path_prefix is gatehouse’s envoy.pathPrefix; the cluster is gatehouse’s Service; timeout 0.5 s', () => {
    assert.equal(service.path_prefix, config.envoy.pathPrefix);
    assert.equal(service.path_prefix, PREFIX);
    const uri = new URL(text(at(service, 'server_uri.uri'), 'server_uri.uri'));
    const cluster = clusters.find((item) => at(item, 'name') === at(service, 'server_uri.cluster'));
    assert.ok(cluster !== undefined, 'the cluster exists');
    const address = at(cluster, 'load_assignment.endpoints.0.lb_endpoints.0.endpoint.address.socket_address');
    assert.equal(at(address, 'address'), uri.hostname);
    assert.equal(at(address, 'port_value'), Number(uri.port));
    assert.equal(`${uri.hostname}:${uri.port}`, `${serviceFqdn}:${String(servicePort)}`, 'the Service of deploy/kubernetes');
    assert.equal(Number(uri.port), Number(/:(\d+)$/.exec(config.listen)?.[1]), 'the port gatehouse listens on');
    assert.equal(at(service, 'server_uri.timeout'), '0.5s');
    assert.equal(parseDuration('0.5s'), 500);
  });

  test('the filter is exactly the one the ext_authz tests replay (RECIPE)', () => {
    const status = object(filter.status_on_error, 'status_on_error');
    const fromPage: ExtAuthzFilter = {
      pathPrefix: text(service.path_prefix, 'path_prefix'),
      allowedHeaders: listStringMatcher(filter.allowed_headers, 'allowed_headers'),
      allowedUpstreamHeaders: listStringMatcher(at(service, 'authorization_response.allowed_upstream_headers'), 'allowed_upstream_headers'),
      allowedClientHeaders: listStringMatcher(at(service, 'authorization_response.allowed_client_headers'), 'allowed_client_headers'),
      allowedClientHeadersOnSuccess: listStringMatcher(at(service, 'authorization_response.allowed_client_headers_on_success'), 'allowed_client_headers_on_success'),
      statusOnError: STATUS_CODES[text(status.code, 'status_on_error.code')] ?? 0,
      failureModeAllow: filter.failure_mode_allow === true,
      timeoutMs: parseDuration(text(at(service, 'server_uri.timeout'), 'timeout')) ?? 0,
    };
    assert.deepEqual(fromPage, RECIPE);
    assert.equal(filter.failure_mode_allow, false, 'written out, not left to the default');
  });

  test("the request headers include cookie and authorization; the client headers location and set-cookie; and they match Istio's lists", () => {
    const allowed = listStringMatcher(filter.allowed_headers, 'allowed_headers').map((matcher) => matcher.exact);
    for (const name of ['cookie', 'authorization', 'x-forwarded-proto', 'x-forwarded-for', 'accept', 'sec-fetch-mode']) assert.ok(allowed.includes(name), name);
    assert.deepEqual(allowed, strings(extAuthz.includeRequestHeadersInCheck, 'includeRequestHeadersInCheck'));
    const client = listStringMatcher(at(service, 'authorization_response.allowed_client_headers'), 'allowed_client_headers').map((matcher) => matcher.exact);
    for (const name of ['location', 'set-cookie']) assert.ok(client.includes(name), name);
    assert.deepEqual(client, strings(extAuthz.headersToDownstreamOnDeny, 'headersToDownstreamOnDeny'));
    assert.deepEqual(
      listStringMatcher(at(service, 'authorization_response.allowed_client_headers_on_success'), 'on_success').map((matcher) => matcher.exact),
      strings(extAuthz.headersToDownstreamOnAllow, 'headersToDownstreamOnAllow'),
    );
  });

  test("allowed_upstream_headers covers every identity header of the page's gatehouse configuration, headerMap included", () => {
    const patterns = listStringMatcher(at(service, 'authorization_response.allowed_upstream_headers'), 'allowed_upstream_headers');
    const emitted = emittedHeaders(config);
    assert.ok(emitted.includes('x-device'), 'the headerMap of the homekit profile');
    const covered = (name: string) => patterns.some((matcher) => (matcher.exact !== undefined ? matcher.exact === name : name.startsWith(matcher.prefix ?? '\u0000')));
    for (const name of emitted) assert.ok(covered(name), `${name} reaches the application`);
  });

  test('status_on_error 503 and failure_mode_allow false, and the page says why', () => {
    assert.deepEqual(filter.status_on_error, { code: 'ServiceUnavailable' });
    assert.match(page, /status_on_error: ServiceUnavailable` \(503\)/);
    assert.match(page, /Never set `failure_mode_allow: true`/);
  });

  /** A route of the page as the replay's {@link EdgeRoute}, checking every field on the way. */
  const edgeRouteOf = (value: unknown, what: string): EdgeRoute => {
    const route = object(value, what);
    assertKeys(route, ['name', 'match', 'route', 'direct_response', 'typed_per_filter_config'], `${what} Route`);
    const match = object(route.match, `${what}.match`);
    assertKeys(match, ['prefix', 'path'], `${what}.match`);
    assert.equal(Object.keys(match).length, 1, `${what}.match: one path specifier`);
    const matcher = typeof match.path === 'string' ? { path: match.path } : { prefix: text(match.prefix, `${what}.match.prefix`) };
    assert.equal([route.route, route.direct_response].filter((action) => action !== undefined).length, 1, `${what}: one action, route or direct_response`);
    let to: EdgeRoute['to'];
    if (route.direct_response !== undefined) {
      const direct = object(route.direct_response, `${what}.direct_response`);
      assertKeys(direct, ['status', 'body'], `${what}.direct_response`);
      assert.ok(Number.isInteger(direct.status) && (direct.status as number) >= 200 && (direct.status as number) < 600, `${what}.direct_response.status`);
      to = { status: direct.status as number };
    } else {
      const action = object(route.route, `${what}.route`);
      assertKeys(action, ['cluster'], `${what}.route`);
      assert.ok(clusters.some((cluster) => at(cluster, 'name') === action.cluster), `${what}: cluster ${String(action.cluster)}`);
      to = action.cluster === at(service, 'server_uri.cluster') ? 'gatehouse' : 'application';
    }
    if (route.typed_per_filter_config === undefined) return { match: matcher, to, checked: true };
    assert.deepEqual(route.typed_per_filter_config, { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE_TYPE, disabled: true } }, `${what}: ext_authz disabled, nothing else`);
    return { match: matcher, to, checked: false };
  };

  test('every virtual host: /oauth2/auth answered 404 by Envoy, then /oauth2/ to gatehouse, unchecked; then the application, checked', () => {
    const virtualHosts = list(at(manager, 'route_config.virtual_hosts'), 'virtual_hosts');
    const domains = virtualHosts.flatMap((host) => strings(at(host, 'domains'), 'domains'));
    for (const host of SEED_HOSTS) assert.ok(domains.includes(host), host);
    for (const virtualHost of virtualHosts) {
      const name = String(at(virtualHost, 'name'));
      const routes = list(at(virtualHost, 'routes'), 'routes').map((route, index) => edgeRouteOf(route, `${name} routes[${index}]`));
      // Exactly the routes the edge of the ext_authz tests replays.
      assert.deepEqual(routes, RECIPE_ROUTES, name);
    }
  });

  test("the replay's router: /oauth2/auth with any query is Envoy's 404; everything else under /oauth2/ gatehouse's; the rest checked", () => {
    const refused = RECIPE_ROUTES[0];
    for (const path of ['/oauth2/auth', '/oauth2/auth?', '/oauth2/auth?rd=%2F&allowed_groups=admins']) assert.equal(routeFor(path), refused, path);
    for (const path of ['/oauth2/auth/', '/oauth2/authx', '/oauth2/auth;x', '/oauth2/start?rd=/oauth2/auth', '/oauth2/']) {
      const route = routeFor(path);
      assert.ok(route?.to === 'gatehouse' && !route.checked, path);
    }
    for (const path of ['/', '/oauth2', '/OAUTH2/AUTH', '/x/oauth2/auth', '/d/home?next=/oauth2/auth']) {
      const route = routeFor(path);
      assert.ok(route?.to === 'application' && route.checked, path);
    }
  });

  test("the page's gatehouse configuration: the prefix, trusted Envoy addresses, forwarded identity, the seed's routes", () => {
    assert.equal(config.envoy.pathPrefix, PREFIX);
    assert.equal(config.proxy.reverseProxy, true);
    assert.ok(config.proxy.trusted.length > 0);
    for (const range of config.proxy.trusted) assert.ok((parseCidr(range)?.prefix ?? 0) >= 8, `${range} is not everyone`);
    assert.equal(config.identityHeaders.authorization, true);
    assert.equal(config.identityHeaders.xAuthRequest, true);
    assert.deepEqual(
      config.routes.map((route) => route.hosts?.[0]),
      ['vminsert.homelab.example.com', 'traefik.homelab.example.com', 'grafana.homelab.example.com'],
    );
    assert.deepEqual(config.routes[0]?.auth, ['bearer:homekit']);
  });

  test('the page explains the 200-only semantics: exactly 200 allows, 202 is a denial', () => {
    assert.match(page, /\*\*exactly `200`\*\*/);
    assert.match(page, /Only `200` allows\. oauth2-proxy answers `202`/);
    assert.match(page, /Envoy treats\s+every answer but `200` as a denial/);
  });
});
