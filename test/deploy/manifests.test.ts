/**
 * deploy/kubernetes: every YAML document parses; every Kubernetes object validates against its API schema
 * (kubernetes-models for the core kinds, @kubernetes-models/traefik for traefik.io/v1alpha1 and
 * @kubernetes-models/prometheus-operator for the ServiceMonitor), and has no field its API does not know
 * (the models' validators accept unknown fields, which `kubectl apply` rejects: the TypeScript compiler's
 * excess-property check against the same models' types catches them). Then the files are checked against
 * each other and against gatehouse itself: selectors, ports, probes, Secret keys, the ConfigMap loaded by
 * gatehouse's own loadConfig, the Traefik middleware and routes, and the Redis overlay.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import ts from 'typescript';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { IngressRoute, Middleware } from '@kubernetes-models/traefik/traefik.io/v1alpha1';
import { main } from '../../src/cli/main.js';
import { loadConfig, parseCidr, parseDuration, type LoadedConfig } from '../../src/config/index.js';
import { identityHeaders } from '../../src/gateway/headers.js';
import { envOf, instructionsOf, parseDockerfile } from './dockerfile-parser.js';
import {
  at,
  containerEnv,
  isObject,
  listAt,
  listenPort,
  manifestDocuments,
  MANIFESTS,
  objectAt,
  objectNamed,
  PACKAGE,
  readYamlDocuments,
  ROOT,
  secretRefs,
  secretValues,
  serviceLinkEnv,
  stringAt,
  yamlFiles,
  type Json,
  type ManifestDocument,
} from './support.js';

/** How each kind is validated: the model class, and the model's TypeScript type for unknown fields. */
interface KindCheck {
  readonly validate: (value: Json) => void;
  readonly typeModule: string;
  readonly typeName: string;
}

const KINDS: Readonly<Record<string, KindCheck>> = {
  'v1/Namespace': { validate: (value) => new Namespace(value).validate(), typeModule: 'kubernetes-models/v1/Namespace', typeName: 'INamespace' },
  'v1/ConfigMap': { validate: (value) => new ConfigMap(value).validate(), typeModule: 'kubernetes-models/v1/ConfigMap', typeName: 'IConfigMap' },
  'v1/Secret': { validate: (value) => new Secret(value).validate(), typeModule: 'kubernetes-models/v1/Secret', typeName: 'ISecret' },
  'v1/Service': { validate: (value) => new Service(value).validate(), typeModule: 'kubernetes-models/v1/Service', typeName: 'IService' },
  'apps/v1/Deployment': { validate: (value) => new Deployment(value).validate(), typeModule: 'kubernetes-models/apps/v1/Deployment', typeName: 'IDeployment' },
  'policy/v1/PodDisruptionBudget': { validate: (value) => new PodDisruptionBudget(value).validate(), typeModule: 'kubernetes-models/policy/v1/PodDisruptionBudget', typeName: 'IPodDisruptionBudget' },
  'networking.k8s.io/v1/NetworkPolicy': { validate: (value) => new NetworkPolicy(value).validate(), typeModule: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', typeName: 'INetworkPolicy' },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    validate: (value) => new ServiceMonitor(value as never).validate(),
    typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    typeName: 'IServiceMonitor',
  },
  'traefik.io/v1alpha1/Middleware': { validate: (value) => new Middleware(value as never).validate(), typeModule: '@kubernetes-models/traefik/traefik.io/v1alpha1/Middleware', typeName: 'IMiddleware' },
  'traefik.io/v1alpha1/IngressRoute': { validate: (value) => new IngressRoute(value as never).validate(), typeModule: '@kubernetes-models/traefik/traefik.io/v1alpha1/IngressRoute', typeName: 'IIngressRoute' },
};

/** Documents that are not Kubernetes API objects, each with its own structural check below. */
const NOT_OBJECTS = new Set(['traefik/traefik-values.yaml']);
/** Objects of APIs no schema package covers here, each with its own structural check below. */
const STRUCTURAL_KINDS = new Set(['kustomize.config.k8s.io/v1beta1/Kustomization', 'helm.cattle.io/v1/HelmChartConfig']);
/** Strategic-merge patches of a kustomization: partial objects, checked once merged. */
const PATCHES = new Set(['redis/gatehouse-redis-patch.yaml']);
/** Object files that no kustomization applies, on purpose (each file says why). */
const APPLIED_SEPARATELY = new Set(['secret.example.yaml', 'servicemonitor.yaml', 'traefik/vminsert-ingressroute.yaml', 'traefik/k3s-helmchartconfig.yaml', 'redis/secret.example.yaml']);

const ALL_DOCUMENTS = manifestDocuments();
/** Every document but the patches. */
const DOCUMENTS = ALL_DOCUMENTS.filter((document) => !PATCHES.has(document.file));
const NAMESPACE = 'gatehouse';

const kindOf = (document: ManifestDocument) => `${String(document.value.apiVersion)}/${String(document.value.kind)}`;
const label = (document: ManifestDocument) => `${document.file}#${document.index} (${String(document.value.kind)} ${String(at(document.value, 'metadata.name'))})`;
const objects = DOCUMENTS.filter((document) => !NOT_OBJECTS.has(document.file));
const modelled = objects.filter((document) => KINDS[kindOf(document)] !== undefined);

/** Merges a strategic-merge patch as kustomize does for these files: lists of named items merge by name. */
function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: Json = { ...base };
    for (const [key, value] of Object.entries(patch)) out[key] = key in base ? strategicMerge(base[key], value) : value;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(patch) && [...(base as unknown[]), ...(patch as unknown[])].every((item) => isObject(item) && typeof item.name === 'string')) {
    const merged = (base as unknown[]).map((item) => {
      const update = (patch as unknown[]).find((candidate) => at(candidate, 'name') === at(item, 'name'));
      return update === undefined ? item : strategicMerge(item, update);
    });
    for (const item of patch as unknown[]) if (!(base as unknown[]).some((candidate) => at(candidate, 'name') === at(item, 'name'))) merged.push(item);
    return merged;
  }
  return patch;
}

/** TypeScript's excess-property and type checks of each object against its model's interface. */
function typeCheck(documents: readonly { label: string; check: KindCheck; value: Json }[]): string[] {
  const file = join(ROOT, 'test', 'deploy', '__manifests_typecheck__.mts');
  const imports = new Map<string, string>();
  const ranges: { label: string; first: number; last: number }[] = [];
  let body = '';
  let line = 0;
  documents.forEach((document, index) => {
    const key = `${document.check.typeModule}#${document.check.typeName}`;
    if (!imports.has(key)) imports.set(key, `T${imports.size}`);
    const json = JSON.stringify(document.value, null, 2);
    const text = `export const object${index}: ${imports.get(key) ?? ''} = ${json};\n`;
    ranges.push({ label: document.label, first: line, last: line + text.split('\n').length - 2 });
    line += text.split('\n').length - 1;
    body += text;
  });
  const header = [...imports].map(([key, alias]) => {
    const [module = '', name = ''] = key.split('#');
    return `import type { ${name} as ${alias} } from '${module}';\n`;
  });
  const source = header.join('') + body;
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const original = { getSourceFile: host.getSourceFile.bind(host), fileExists: host.fileExists.bind(host), readFile: host.readFile.bind(host) };
  host.getSourceFile = (name, version, onError, create) => (name === file ? ts.createSourceFile(name, source, version, true) : original.getSourceFile(name, version, onError, create));
  host.fileExists = (name) => name === file || original.fileExists(name);
  host.readFile = (name) => (name === file ? source : original.readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    if (diagnostic.file?.fileName !== file || diagnostic.start === undefined) return message;
    const position = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line - header.length;
    const range = ranges.find((candidate) => position >= candidate.first && position <= candidate.last);
    const lineText = source.split('\n')[position + header.length]?.trim() ?? '';
    return `${range?.label ?? 'imports'}: ${message} (at ${lineText})`;
  });
}

/** The gatehouse container of a Deployment. */
function containerOf(deployment: Json, name = 'gatehouse'): Json {
  const container = listAt(deployment, 'spec.template.spec.containers').find((candidate) => at(candidate, 'name') === name);
  if (!isObject(container)) throw new Error(`no container ${name}`);
  return container;
}

/** A named port of a container. */
function containerPort(container: Json, name: string): number {
  const port = listAt(container, 'ports').find((candidate) => at(candidate, 'name') === name);
  const number = at(port, 'containerPort');
  if (typeof number !== 'number') throw new Error(`the container has no port named ${name}`);
  return number;
}

/** True when every label of `selector` is on `labels`. */
function selects(selector: unknown, labels: unknown): boolean {
  if (!isObject(selector) || !isObject(labels) || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

const deploymentDoc = objectNamed(DOCUMENTS, 'Deployment', 'gatehouse', NAMESPACE);
const deployment = deploymentDoc.value;
const container = containerOf(deployment);
const service = objectNamed(DOCUMENTS, 'Service', 'gatehouse', NAMESPACE).value;
const configMap = objectNamed(DOCUMENTS, 'ConfigMap', 'gatehouse', NAMESPACE).value;
const secretExample = objectNamed(DOCUMENTS, 'Secret', 'auth0-secrets', NAMESPACE).value;
const middleware = objectNamed(DOCUMENTS, 'Middleware', 'gatehouse', NAMESPACE).value;
const oauth2Route = objectNamed(DOCUMENTS, 'IngressRoute', 'gatehouse-oauth2', NAMESPACE).value;
const podLabels = objectAt(deployment, 'spec.template.metadata.labels');
const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtimeStage = dockerfile.stages[dockerfile.stages.length - 1];
const imageEnv = Object.assign({}, ...(runtimeStage === undefined ? [] : instructionsOf(runtimeStage, 'ENV').map(envOf))) as Record<string, string>;
const configText = String(objectAt(configMap, 'data')['gatehouse.yaml']);
const SECRETS = { 'auth0-secrets': secretValues(secretExample) };

/** Where the container reads its configuration, per its arguments. */
function configPathOf(target: Json): string {
  const args = listAt(target, 'args').map(String);
  const index = args.indexOf('--config');
  const path = args[index + 1];
  if (index < 0 || path === undefined) throw new Error('no --config argument');
  return path;
}

/** Loads the ConfigMap's gatehouse.yaml as the pod does: the image's ENV, then the container's env. */
function loadAsThePod(env: Record<string, string>, text = configText): LoadedConfig {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-manifests-'));
  try {
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, text);
    return loadConfig({ file, env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function podEnv(target: Json, secrets: Readonly<Record<string, Readonly<Record<string, string>>>> = SECRETS): Record<string, string> {
  return { ...imageEnv, ...containerEnv(target, secrets) };
}

const LOADED = loadAsThePod(podEnv(container));
const CONFIG = LOADED.config;

/** Runs a gatehouse command in-process with the pod's environment; resolves with its exit code and output. */
async function gatehouse(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-manifests-'));
  try {
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, configText);
    const code = await main(
      args.map((arg) => (arg === '$CONFIG' ? file : arg)),
      {
        out: (text) => (out += `${text}\n`),
        err: (text) => (err += `${text}\n`),
        env: podEnv(container),
      },
    );
    return { code, out, err };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Turns a Traefik HostRegexp (Go RE2 syntax, as used here) into a JavaScript RegExp. */
function hostRegexpsOf(rule: string): RegExp[] {
  return [...rule.matchAll(/HostRegexp\(`([^`]+)`\)/g)].map((match) => new RegExp(match[1] ?? '', 'i'));
}

function hostsOf(rule: string): string[] {
  return [...rule.matchAll(/Host\(`([^`]+)`\)/g)].map((match) => match[1] ?? '');
}

describe('every YAML file parses, and every object validates against its API schema', () => {
  test('the files are there', () => {
    const files = yamlFiles(MANIFESTS);
    for (const needed of [
      'namespace.yaml',
      'deployment.yaml',
      'service.yaml',
      'secret.example.yaml',
      'configmap.yaml',
      'pdb.yaml',
      'servicemonitor.yaml',
      'kustomization.yaml',
      'traefik/middleware.yaml',
      'traefik/ingressroute-oauth2.yaml',
      'traefik/traefik-values.yaml',
      'traefik/vminsert-ingressroute.yaml',
      'redis/kustomization.yaml',
    ]) {
      assert.ok(files.includes(needed), needed);
    }
    assert.ok(DOCUMENTS.length >= files.length);
  });

  test('each document is a known kind of object (or a known non-object file)', () => {
    for (const document of objects) {
      const kind = kindOf(document);
      assert.ok(KINDS[kind] !== undefined || STRUCTURAL_KINDS.has(kind), `${label(document)}: ${kind} has no check`);
      if (document.value.kind === 'Kustomization') continue;
      assert.equal(typeof at(document.value, 'metadata.name'), 'string', `${label(document)} has a name`);
    }
    for (const file of NOT_OBJECTS) assert.ok(DOCUMENTS.some((document) => document.file === file && document.value.apiVersion === undefined));
    for (const file of PATCHES) assert.ok(ALL_DOCUMENTS.some((document) => document.file === file));
  });

  for (const document of modelled) {
    test(`${label(document)} validates against ${kindOf(document)}`, () => {
      KINDS[kindOf(document)]?.validate(document.value);
    });
  }

  test('the validators reject a wrong object (they do check)', () => {
    assert.throws(() => KINDS['apps/v1/Deployment']?.validate(strategicMerge(deployment, { spec: { replicas: 'two' } }) as Json), /replicas/);
    assert.throws(() => KINDS['traefik.io/v1alpha1/Middleware']?.validate(strategicMerge(middleware, { spec: { forwardAuth: { trustForwardHeader: 'yes' } } }) as Json), /trustForwardHeader/);
    assert.throws(() => KINDS['traefik.io/v1alpha1/IngressRoute']?.validate(strategicMerge(oauth2Route, { spec: { routes: [{ kind: 'Rule' }] } }) as Json), /match/);
  });

  test('no object has a field its API does not know (TypeScript excess-property check against the models)', () => {
    const merged = mergedRedisDeployment();
    const checks = [
      ...modelled.map((document) => ({ label: label(document), check: KINDS[kindOf(document)], value: document.value })),
      { label: 'redis overlay: the patched Deployment', check: KINDS['apps/v1/Deployment'], value: merged },
    ].flatMap((entry) => (entry.check === undefined ? [] : [{ label: entry.label, check: entry.check, value: entry.value }]));
    assert.deepEqual(typeCheck(checks), []);
    // And it does catch a misspelt field, deep in an object.
    const misspelt = strategicMerge(middleware, { spec: { forwardAuth: { authResponseHeader: ['X'] } } }) as Json;
    const problems = typeCheck([{ label: 'misspelt', check: KINDS['traefik.io/v1alpha1/Middleware']!, value: misspelt }]);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] ?? '', /misspelt: .*'"?authResponseHeader"?' does not exist in type 'IForwardAuth'/);
  });

  test('every namespaced object of gatehouse is in the namespace namespace.yaml makes', () => {
    assert.equal(at(objectNamed(DOCUMENTS, 'Namespace', NAMESPACE).value, 'metadata.name'), NAMESPACE);
    for (const document of objects) {
      if (document.value.kind === 'Namespace' || STRUCTURAL_KINDS.has(kindOf(document))) continue;
      const namespace = at(document.value, 'metadata.namespace');
      assert.equal(typeof namespace, 'string', `${label(document)} names its namespace`);
      if (document.file === 'traefik/vminsert-ingressroute.yaml') continue;
      assert.equal(namespace, NAMESPACE, label(document));
    }
  });

  test('kustomizations list files that exist, and every object file is applied by one or on purpose separately', () => {
    const listed = new Set<string>();
    const patched = new Set<string>();
    for (const document of DOCUMENTS.filter((candidate) => candidate.value.kind === 'Kustomization')) {
      const folder = dirname(document.file);
      for (const resource of listAt(document.value, 'resources').map(String)) {
        const path = posix.normalize(posix.join(folder, resource)).replace(/(.)\/$/, '$1');
        assert.ok(existsSync(join(MANIFESTS, path)), `${document.file}: ${resource} exists`);
        listed.add(path);
      }
      for (const patch of (document.value.patches ?? []) as unknown[]) {
        const path = posix.normalize(posix.join(folder, stringAt(patch, 'path')));
        assert.ok(existsSync(join(MANIFESTS, path)), `${document.file}: ${path} exists`);
        patched.add(path);
      }
    }
    assert.deepEqual([...patched].sort(), [...PATCHES].sort(), 'every patch file is used by a kustomization');
    const objectFiles = new Set(objects.filter((document) => document.value.kind !== 'Kustomization').map((document) => document.file));
    for (const file of objectFiles) assert.ok(listed.has(file) || APPLIED_SEPARATELY.has(file), `${file} is in a kustomization.yaml or APPLIED_SEPARATELY`);
    for (const file of APPLIED_SEPARATELY) assert.ok(!listed.has(file), `${file} is applied separately, not by a kustomization`);
    // The base is applied by the Redis overlay too.
    assert.ok(listed.has('.'), 'redis/ builds on the base');
  });
});

describe('the Deployment', () => {
  const spec = objectAt(deployment, 'spec.template.spec');

  test('two replicas, selected by its labels, spread across nodes, kept by the PodDisruptionBudget', () => {
    assert.equal(at(deployment, 'spec.replicas'), 2);
    assert.ok(selects(at(deployment, 'spec.selector.matchLabels'), podLabels));
    const spread = listAt(spec, 'topologySpreadConstraints');
    const antiAffinity = at(spec, 'affinity.podAntiAffinity');
    assert.ok(spread.length > 0 || antiAffinity !== undefined, 'topology spread or pod anti-affinity');
    for (const constraint of spread) {
      assert.equal(at(constraint, 'topologyKey'), 'kubernetes.io/hostname');
      assert.ok(selects(at(constraint, 'labelSelector.matchLabels'), podLabels), 'the constraint counts gatehouse pods');
    }
    const pdb = objectNamed(DOCUMENTS, 'PodDisruptionBudget', 'gatehouse', NAMESPACE).value;
    assert.equal(at(pdb, 'spec.minAvailable'), 1);
    assert.ok(selects(at(pdb, 'spec.selector.matchLabels'), podLabels));
    assert.ok(Number(at(deployment, 'spec.replicas')) > Number(at(pdb, 'spec.minAvailable')), 'a node can still be drained');
    assert.equal(at(deployment, 'spec.strategy.rollingUpdate.maxUnavailable'), 0);
  });

  test('runs the image of this version as `serve --config` on the mounted ConfigMap', () => {
    const image = stringAt(container, 'image');
    assert.match(image, /^ghcr\.io\/[a-z0-9-]+\/gatehouse:/);
    assert.equal(image.split(':').pop(), PACKAGE.version, 'the image tag is the package version');
    assert.deepEqual(listAt(container, 'args'), ['serve', '--config', '/etc/gatehouse/gatehouse.yaml']);
    assert.equal(at(container, 'command'), undefined, "the image's ENTRYPOINT stays");
    const path = configPathOf(container);
    const mount = listAt(container, 'volumeMounts').find((candidate) => path.startsWith(`${stringAt(candidate, 'mountPath')}/`));
    assert.ok(mount !== undefined, `a volume is mounted where ${path} is`);
    assert.equal(at(mount, 'subPath'), undefined, 'no subPath: a subPath mount never sees ConfigMap updates, so reloads would not happen');
    assert.equal(at(mount, 'readOnly'), true);
    const volume = listAt(spec, 'volumes').find((candidate) => at(candidate, 'name') === at(mount, 'name'));
    assert.equal(at(volume, 'configMap.name'), at(configMap, 'metadata.name'));
    const item = listAt(volume, 'configMap.items').find((candidate) => posix.join(stringAt(mount, 'mountPath'), stringAt(candidate, 'path')) === path);
    assert.ok(item !== undefined, `${path} is a ConfigMap item`);
    assert.equal(typeof objectAt(configMap, 'data')[stringAt(item, 'key')], 'string');
  });

  test('the locked-down security context matches the image: uid 10001, read-only root, no capabilities, RuntimeDefault seccomp', () => {
    const user = runtimeStage === undefined ? undefined : instructionsOf(runtimeStage, 'USER').pop()?.args.split(':')[0];
    for (const context of [objectAt(spec, 'securityContext'), objectAt(container, 'securityContext')]) {
      assert.equal(context.runAsNonRoot, true);
      assert.equal(context.runAsUser, Number(user), 'the uid of the Dockerfile USER');
      assert.equal(at(context, 'seccompProfile.type'), 'RuntimeDefault');
    }
    const context = objectAt(container, 'securityContext');
    assert.equal(context.readOnlyRootFilesystem, true);
    assert.equal(context.allowPrivilegeEscalation, false);
    assert.deepEqual(at(context, 'capabilities.drop'), ['ALL']);
    assert.equal(at(context, 'capabilities.add'), undefined);
    assert.equal(spec.automountServiceAccountToken, false);
    // restricted Pod Security, as namespace.yaml enforces.
    assert.equal(objectAt(objectNamed(DOCUMENTS, 'Namespace', NAMESPACE).value, 'metadata.labels')['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  test('resources: CPU and memory requests, a memory limit', () => {
    assert.ok(at(container, 'resources.requests.cpu') !== undefined);
    assert.ok(at(container, 'resources.requests.memory') !== undefined);
    assert.ok(at(container, 'resources.limits.memory') !== undefined);
  });

  test('probes: startup and liveness on /ping, readiness on /ready, all on the http port', () => {
    for (const [probe, path] of [
      ['startupProbe', '/ping'],
      ['livenessProbe', '/ping'],
      ['readinessProbe', '/ready'],
    ] as const) {
      assert.equal(at(container, `${probe}.httpGet.path`), path, probe);
      assert.equal(at(container, `${probe}.httpGet.port`), 'http', probe);
      assert.equal(at(container, `${probe}.httpGet.scheme`) ?? 'HTTP', 'HTTP');
    }
    assert.equal(containerPort(container, 'http'), 4180);
    assert.equal(containerPort(container, 'metrics'), 9090);
  });

  test('stops within the grace period: terminationGracePeriodSeconds > shutdownTimeout', () => {
    const grace = Number(at(spec, 'terminationGracePeriodSeconds') ?? 30);
    assert.ok(grace * 1000 > CONFIG.shutdownTimeout, `${grace}s > ${CONFIG.shutdownTimeout}ms`);
  });

  test("service links are off, and Kubernetes' GATEHOUSE_SERVICE_HOST & co. would not stop gatehouse either", () => {
    assert.equal(spec.enableServiceLinks, false);
    const services = objects.filter((document) => document.value.kind === 'Service' && at(document.value, 'metadata.namespace') === NAMESPACE).map((document) => document.value);
    const links = serviceLinkEnv(services);
    assert.ok('GATEHOUSE_SERVICE_HOST' in links && 'GATEHOUSE_PORT_4180_TCP_ADDR' in links);
    // gatehouse ignores service-link names (they are not options), so a pod with them on still starts.
    assert.doesNotThrow(() => loadAsThePod({ ...links, ...podEnv(container) }));
  });
});

describe('the Secret', () => {
  test('has exactly the keys the Deployment reads: the oauth2-proxy chart existingSecret keys', () => {
    const refs = secretRefs(container);
    assert.deepEqual([...refs.keys()], [at(secretExample, 'metadata.name')]);
    assert.deepEqual([...(refs.get('auth0-secrets') ?? [])].sort(), Object.keys(objectAt(secretExample, 'stringData')).sort());
    assert.deepEqual([...(refs.get('auth0-secrets') ?? [])].sort(), ['client-id', 'client-secret', 'cookie-secret']);
    const byKey = Object.fromEntries(listAt(container, 'env').map((entry): [string, unknown] => [String(at(entry, 'valueFrom.secretKeyRef.key')), at(entry, 'name')]));
    assert.deepEqual(byKey, { 'client-id': 'OAUTH2_PROXY_CLIENT_ID', 'client-secret': 'OAUTH2_PROXY_CLIENT_SECRET', 'cookie-secret': 'OAUTH2_PROXY_COOKIE_SECRET' });
  });

  test('tells how to make the cookie secret with gatehouse secret generate', () => {
    const text = readFileSync(join(MANIFESTS, 'secret.example.yaml'), 'utf8');
    assert.match(text, /secret generate/);
    assert.match(text, /kubectl -n gatehouse create secret generic auth0-secrets/);
  });

  test('its values reach gatehouse: client id, client secret and cookie secret come from the Secret', () => {
    assert.equal(CONFIG.provider.clientId, SECRETS['auth0-secrets']['client-id']);
    assert.equal(CONFIG.provider.clientSecret, SECRETS['auth0-secrets']['client-secret']);
    assert.deepEqual(CONFIG.cookie.secrets, [SECRETS['auth0-secrets']['cookie-secret']]);
    assert.equal(LOADED.origins.get('provider.clientId')?.name, 'OAUTH2_PROXY_CLIENT_ID');
  });
});

describe("the ConfigMap's gatehouse.yaml", () => {
  test('loads with loadConfig as the pod runs it, and warns about nothing unexpected', () => {
    const unexpected = LOADED.warnings.filter((warning) => !/^metrics\.listen is set, but this version has no metrics listener yet/.test(warning));
    assert.deepEqual(unexpected, []);
  });

  test('listens on every interface, on the container ports; the image ENV agrees with the file', () => {
    assert.equal(CONFIG.listen, '0.0.0.0:4180');
    assert.equal(listenPort(CONFIG.listen), containerPort(container, 'http'));
    assert.equal(listenPort(CONFIG.metrics.listen), containerPort(container, 'metrics'));
    assert.match(CONFIG.metrics.listen, /^0\.0\.0\.0:/);
    // GATEHOUSE_LISTEN from the image wins over the file: both say the same.
    assert.equal(imageEnv.GATEHOUSE_LISTEN, CONFIG.listen);
    assert.equal(loadAsThePod(containerEnv(container, SECRETS)).config.listen, CONFIG.listen, 'the file alone says it too');
  });

  test("is the seed's homelab: Auth0, .homelab.example.com, refresh 1h, forward-auth behind Traefik on k3s", () => {
    assert.equal(CONFIG.provider.issuer, 'https://example.eu.auth0.com/');
    assert.ok(CONFIG.provider.scopes.includes('offline_access'), 'a refresh token for cookie.refresh');
    assert.deepEqual(CONFIG.cookie.domains, ['.homelab.example.com']);
    assert.equal(CONFIG.cookie.refresh, parseDuration('1h'));
    assert.equal(CONFIG.cookie.secure, true);
    assert.equal(CONFIG.proxy.reverseProxy, true);
    assert.deepEqual(CONFIG.proxy.trusted, ['10.42.0.0/16']);
    assert.ok(parseCidr('10.42.0.0/16') !== undefined);
    assert.equal(CONFIG.proxy.redirectUrl, '/oauth2/callback');
    assert.equal(CONFIG.forwardAuth.skipProviderButton, true);
    assert.equal(CONFIG.identityHeaders.authorization, true);
    assert.equal(CONFIG.identityHeaders.xAuthRequest, true);
    assert.deepEqual(CONFIG.authorization.emailDomains, ['farcaller.net']);
    assert.equal(CONFIG.bearer.provider, true);
    assert.deepEqual(
      CONFIG.routes.map((route) => route.name),
      ['vminsert', 'traefik-dashboard', 'grafana', 'homelab'],
    );
  });

  test("the homekit bearer profile is the seed's vmcluster-jwt block", () => {
    const profile = CONFIG.bearer.profiles.homekit;
    assert.ok(profile !== undefined);
    assert.deepEqual(profile.issuers, ['https://jwts.farcaller.net']);
    assert.equal(profile.skipPrefetch, true);
    assert.deepEqual(Object.keys(profile.secrets ?? {}), ['vicmet']);
    assert.match(profile.secrets?.vicmet ?? '', /^-----BEGIN EC PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5OEKUhuyWPQV7Cf\+Y1WohGNVr86Y\n/);
    assert.deepEqual(profile.require, { aud: 'vminsert.homelab.example.com' });
    assert.deepEqual(CONFIG.routes.find((route) => route.name === 'vminsert')?.auth, ['bearer:homekit']);
  });

  test('policy explain: the routes decide as docs/deploy.md says', async () => {
    const explain = async (...args: string[]) => {
      const result = await gatehouse(['policy', 'explain', '--config', '$CONFIG', ...args]);
      assert.equal(result.code, 0, result.err);
      return {
        selected: /^selected: +(\S+)/m.exec(result.out)?.[1],
        outcome: /^outcome: +(.+)$/m.exec(result.out)?.[1],
        accepts: /^accepts: +(.+)$/m.exec(result.out)?.[1],
      };
    };
    assert.deepEqual(await explain('--url', 'https://vminsert.homelab.example.com/api/v1/import', '--method', 'POST'), {
      selected: 'route:vminsert',
      outcome: 'unauthenticated (user-unauthenticated)',
      accepts: 'bearer:homekit',
    });
    assert.deepEqual(await explain('--url', 'https://traefik.homelab.example.com/dashboard/', '--email', 'bob@farcaller.net'), {
      selected: 'route:traefik-dashboard',
      outcome: 'allow (session-valid)',
      accepts: 'session, bearer:provider',
    });
    assert.deepEqual(await explain('--url', 'https://grafana.homelab.example.com/d/home', '--email', 'bob@farcaller.net'), {
      selected: 'route:grafana',
      outcome: 'allow (session-valid)',
      accepts: 'session, bearer:provider',
    });
    assert.equal((await explain('--url', 'https://grafana.homelab.example.com/', '--email', 'eve@example.org')).outcome, 'deny (email-not-allowed)');
    assert.equal((await explain('--url', 'https://photos.homelab.example.com/', '--email', 'bob@farcaller.net')).selected, 'route:homelab');
    assert.equal((await explain('--url', 'https://example.org/', '--email', 'bob@farcaller.net')).outcome, 'deny (no-route-matched)');
  });
});

describe('the Service, the ServiceMonitor and the ports', () => {
  test('the Service selects the pods; each port targets a container port by name, with the same number', () => {
    assert.ok(selects(at(service, 'spec.selector'), podLabels));
    assert.ok(!selects(at(service, 'spec.selector'), at(objectNamed(DOCUMENTS, 'Deployment', 'gatehouse-redis', NAMESPACE).value, 'spec.template.metadata.labels')), 'not the Redis pods');
    const ports = listAt(service, 'spec.ports');
    assert.deepEqual(ports.map((port) => at(port, 'name')).sort(), ['http', 'metrics']);
    for (const port of ports) {
      const name = stringAt(port, 'targetPort');
      assert.equal(at(port, 'port'), containerPort(container, name), `${name}: Service port = container port`);
    }
  });

  test('the ServiceMonitor scrapes /metrics on the Service port named metrics', () => {
    const monitor = objectNamed(DOCUMENTS, 'ServiceMonitor', 'gatehouse', NAMESPACE).value;
    assert.ok(selects(at(monitor, 'spec.selector.matchLabels'), at(service, 'metadata.labels')));
    assert.deepEqual(at(monitor, 'spec.namespaceSelector.matchNames'), [NAMESPACE]);
    const endpoints = listAt(monitor, 'spec.endpoints');
    assert.equal(endpoints.length, 1);
    assert.equal(at(endpoints[0], 'port'), 'metrics');
    assert.equal(at(endpoints[0], 'path'), '/metrics');
    assert.ok(listAt(service, 'spec.ports').some((port) => at(port, 'name') === 'metrics'));
  });
});

describe('Traefik', () => {
  const address = new URL(stringAt(middleware, 'spec.forwardAuth.address'));

  test('the forwardAuth address is the Service DNS name and http port, at the root path', () => {
    assert.equal(address.protocol, 'http:');
    assert.equal(address.hostname, `${stringAt(service, 'metadata.name')}.${stringAt(service, 'metadata.namespace')}.svc.cluster.local`);
    const http = listAt(service, 'spec.ports').find((port) => at(port, 'name') === 'http');
    assert.equal(Number(address.port), at(http, 'port'));
    assert.equal(address.pathname, '/', 'the root selects the proxy (302-capable) mode');
    assert.equal(address.search, '');
    assert.equal(at(middleware, 'spec.forwardAuth.trustForwardHeader'), true);
  });

  test('authResponseHeaders covers every identity header gatehouse sends with this configuration', () => {
    const sent = Object.keys(
      identityHeaders(
        { sub: 'auth0|1', email: 'bob@farcaller.net', emailVerified: true, groups: ['admins'], username: 'bob', issuer: CONFIG.provider.issuer, authMethod: 'session' },
        { idToken: 'header.payload.signature', accessToken: 'access' },
        CONFIG.identityHeaders,
      ),
    );
    const fromProfiles = Object.values(CONFIG.bearer.profiles).flatMap((profile) => Object.keys(profile.headerMap ?? {}));
    const copied = new Set(listAt(middleware, 'spec.forwardAuth.authResponseHeaders').map((name) => String(name).toLowerCase()));
    const missing = [...sent, ...fromProfiles].filter((name) => !copied.has(name.toLowerCase()));
    assert.deepEqual(missing, []);
    assert.ok(sent.includes('authorization') && sent.includes('x-auth-request-email') && sent.includes('gap-auth'));
  });

  test('addAuthCookiesToResponse names the session cookie', () => {
    assert.deepEqual(at(middleware, 'spec.forwardAuth.addAuthCookiesToResponse'), [CONFIG.cookie.name]);
  });

  test('the /oauth2/ route: every cookie-domain host, websecure only, above application routes, no middleware, to the Service', () => {
    const routes = listAt(oauth2Route, 'spec.routes');
    assert.equal(routes.length, 1);
    const route = routes[0];
    assert.deepEqual(at(oauth2Route, 'spec.entryPoints'), ['websecure']);
    const rule = stringAt(route, 'match');
    assert.match(rule, /PathPrefix\(`\/oauth2\/`\)/);
    assert.ok(CONFIG.proxy.redirectUrl.startsWith('/oauth2/'), 'the relative callback is under /oauth2/');
    const [hostRegexp] = hostRegexpsOf(rule);
    assert.ok(hostRegexp !== undefined);
    for (const host of ['grafana.homelab.example.com', 'traefik.homelab.example.com', 'vminsert.homelab.example.com', 'a.b.homelab.example.com']) assert.match(host, hostRegexp);
    for (const host of ['homelab.example.com', 'evil.com', 'grafana.homelab.example.com.evil.com', 'xhomelab.example.com']) assert.doesNotMatch(host, hostRegexp);
    for (const domain of CONFIG.cookie.domains) assert.match(`app${domain}`, hostRegexp, `hosts under the cookie domain ${domain}`);
    assert.equal(at(route, 'middlewares'), undefined, 'no middleware: gatehouse sends its own security headers, and forwardAuth would lock out the login');
    // Traefik's default priority is the rule length: stay above every rule in these files and the chart values.
    const rules = [...DOCUMENTS.flatMap((document) => (document.value.kind === 'IngressRoute' ? listAt(document.value, 'spec.routes').map((candidate) => stringAt(candidate, 'match')) : [])), dashboardValues().matchRule];
    const priority = Number(at(route, 'priority'));
    assert.ok(priority >= 1000 && rules.every((candidate) => candidate.length < priority), `priority ${priority}`);
    const services = listAt(route, 'services');
    assert.equal(services.length, 1);
    assert.equal(at(services[0], 'name'), at(service, 'metadata.name'));
    assert.equal(at(services[0], 'namespace') ?? at(oauth2Route, 'metadata.namespace'), at(service, 'metadata.namespace'));
    assert.equal(at(services[0], 'port'), Number(address.port));
  });

  test('the vminsert route uses the gatehouse middleware, and gatehouse takes only the device token there', () => {
    const document = objectNamed(DOCUMENTS, 'IngressRoute', 'vminsert');
    const [route] = listAt(document.value, 'spec.routes');
    assert.deepEqual(at(route, 'middlewares'), [{ name: at(middleware, 'metadata.name'), namespace: at(middleware, 'metadata.namespace') }]);
    assert.deepEqual(hostsOf(stringAt(route, 'match')), ['vminsert.homelab.example.com']);
    assert.deepEqual(at(document.value, 'spec.entryPoints'), ['websecure']);
    const host = CONFIG.routes.find((candidate) => candidate.hosts?.includes('vminsert.homelab.example.com'));
    assert.deepEqual(host?.auth, ['bearer:homekit']);
    assert.ok(hostRegexpsOf(stringAt(oauth2Route, 'spec.routes.0.match')).some((regexp) => regexp.test('vminsert.homelab.example.com')));
  });

  test('the dashboard values refer to the middleware as an object, across namespaces, and a gatehouse route covers the host', () => {
    const values = dashboardValues();
    assert.deepEqual(values.middlewares, [{ name: at(middleware, 'metadata.name'), namespace: at(middleware, 'metadata.namespace') }]);
    assert.equal(values.allowCrossNamespace, true);
    const hosts = hostsOf(values.matchRule);
    assert.deepEqual(hosts, ['traefik.homelab.example.com']);
    for (const host of hosts) {
      assert.ok(CONFIG.routes.some((route) => route.hosts?.includes(host)));
      assert.ok(hostRegexpsOf(stringAt(oauth2Route, 'spec.routes.0.match')).some((regexp) => regexp.test(host)));
    }
  });

  test("k3s's HelmChartConfig carries the same values as traefik-values.yaml", () => {
    const chartConfig = objectNamed(DOCUMENTS, 'HelmChartConfig', 'traefik', 'kube-system').value;
    assert.equal(chartConfig.apiVersion, 'helm.cattle.io/v1');
    const [embedded] = readYamlDocumentsFromText(stringAt(chartConfig, 'spec.valuesContent'));
    const [values] = readYamlDocuments(join(MANIFESTS, 'traefik', 'traefik-values.yaml'));
    assert.deepEqual(embedded, values);
  });
});

describe('the Redis overlay', () => {
  const merged = mergedRedisDeployment();
  const redisContainer = containerOf(merged);
  const redisDeployment = objectNamed(DOCUMENTS, 'Deployment', 'gatehouse-redis', NAMESPACE).value;
  const redisService = objectNamed(DOCUMENTS, 'Service', 'gatehouse-redis', NAMESPACE).value;
  const redisSecret = objectNamed(DOCUMENTS, 'Secret', 'gatehouse-redis', NAMESPACE).value;
  const secrets = { ...SECRETS, 'gatehouse-redis': secretValues(redisSecret) };

  test('patches the base Deployment and validates once merged', () => {
    const patchDocument = readYamlDocuments(join(MANIFESTS, 'redis', 'gatehouse-redis-patch.yaml'))[0];
    assert.equal(at(patchDocument, 'kind'), 'Deployment');
    assert.equal(at(patchDocument, 'metadata.name'), at(deployment, 'metadata.name'));
    assert.equal(at(patchDocument, 'metadata.namespace'), at(deployment, 'metadata.namespace'));
    KINDS['apps/v1/Deployment']?.validate(merged);
    // The base environment is still there.
    assert.ok(listAt(redisContainer, 'env').some((entry) => at(entry, 'name') === 'OAUTH2_PROXY_COOKIE_SECRET'));
  });

  test("gatehouse loads the Redis store from the overlay's environment, at the Redis Service, with the Secret's password", () => {
    const loaded = loadAsThePod(podEnv(redisContainer, secrets));
    assert.equal(loaded.config.session.store, 'redis');
    const url = new URL(loaded.config.session.redis.url);
    assert.equal(url.hostname, `${stringAt(redisService, 'metadata.name')}.${NAMESPACE}.svc.cluster.local`);
    assert.equal(Number(url.port), at(redisService, 'spec.ports.0.port'));
    assert.equal(loaded.config.session.redis.password, secrets['gatehouse-redis']['redis-password']);
    assert.deepEqual(loaded.warnings.filter((warning) => !warning.startsWith('metrics.listen')), []);
  });

  test('Redis: its Service selects it on the port gatehouse uses, with the same Secret key, and only gatehouse may connect', () => {
    const labels = at(redisDeployment, 'spec.template.metadata.labels');
    assert.ok(selects(at(redisService, 'spec.selector'), labels));
    const redis = containerOf(redisDeployment, 'redis');
    assert.equal(containerPort(redis, stringAt(redisService, 'spec.ports.0.targetPort')), 6379);
    assert.deepEqual([...secretRefs(redis).keys()], ['gatehouse-redis']);
    assert.deepEqual([...(secretRefs(redis).get('gatehouse-redis') ?? [])], Object.keys(objectAt(redisSecret, 'stringData')));
    assert.deepEqual([...(secretRefs(redisContainer).get('gatehouse-redis') ?? [])], Object.keys(objectAt(redisSecret, 'stringData')));
    const args = listAt(redis, 'args').map(String);
    assert.equal(args[args.indexOf('--requirepass') + 1], '$(REDIS_PASSWORD)');
    const policy = objectNamed(DOCUMENTS, 'NetworkPolicy', 'gatehouse-redis', NAMESPACE).value;
    assert.ok(selects(at(policy, 'spec.podSelector.matchLabels'), labels));
    assert.ok(selects(at(policy, 'spec.ingress.0.from.0.podSelector.matchLabels'), podLabels));
    assert.equal(at(objectAt(redisDeployment, 'spec.template.spec'), 'enableServiceLinks'), false);
    assert.equal(at(redis, 'securityContext.readOnlyRootFilesystem'), true);
  });
});

function readYamlDocumentsFromText(text: string): Json[] {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-manifests-'));
  try {
    writeFileSync(join(dir, 'values.yaml'), text);
    return readYamlDocuments(join(dir, 'values.yaml'), 'valuesContent');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function dashboardValues(): { middlewares: unknown; allowCrossNamespace: unknown; matchRule: string } {
  const [values] = readYamlDocuments(join(MANIFESTS, 'traefik', 'traefik-values.yaml'));
  return {
    middlewares: at(values, 'ingressRoute.dashboard.middlewares'),
    allowCrossNamespace: at(values, 'providers.kubernetesCRD.allowCrossNamespace'),
    matchRule: stringAt(values, 'ingressRoute.dashboard.matchRule'),
  };
}

function mergedRedisDeployment(): Json {
  const [patch] = readYamlDocuments(join(MANIFESTS, 'redis', 'gatehouse-redis-patch.yaml'));
  const merged = strategicMerge(deployment, patch);
  if (!isObject(merged)) throw new Error('the merged Deployment is not an object');
  return merged;
}

test('relative paths in this file are relative to deploy/kubernetes', () => {
  assert.equal(relative(ROOT, MANIFESTS), join('deploy', 'kubernetes'));
});
