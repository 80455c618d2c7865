/**
 * Read → parse → validate → default → freeze. Sources merge with precedence flags > env > file > defaults;
 * every problem from every source is reported at once.
 */
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import type { Assignment } from './assignments.js';
import { closest } from './closest.js';
import { FIELDS } from './fields.js';
import type { Origin, Problem } from './problems.js';
import { ConfigSchema, type Config } from './schema.js';
import { isOauth2ProxyConfigFile, readEnvironment, readFlags, readOauth2ProxyToml, readYamlFile, type SourceResult } from './sources.js';
import { usesDevelopmentProvider, validateConfig } from './validate.js';
import { profileWarnings } from '../jwt/profiles.js';

/** What a load needs to know about the outside world. */
export interface LoadOptions {
  /** Path of the native YAML file, if any. */
  readonly file?: string | undefined;
  /** What named the file, for its problems: `--config` unless told (`GATEHOUSE_CONFIG`, a cases file). */
  readonly fileOrigin?: Origin;
  readonly env: NodeJS.ProcessEnv;
  /** Configuration flags from the command line, split into name (no dashes) and text. */
  readonly flags?: readonly { name: string; text: string }[];
}

/** A loaded, valid, frozen configuration with the origin of every value. */
export interface LoadedConfig {
  readonly config: Config;
  /** Origin of every leaf path; leaves no source set are `default`. */
  readonly origins: ReadonlyMap<string, Origin>;
  /** Things worth saying at start-up: ignored oauth2-proxy options, insecure choices. */
  readonly warnings: readonly string[];
}

/** Thrown when the configuration is invalid; carries every problem. */
export class ConfigError extends GatewayError {
  constructor(readonly problems: readonly Problem[]) {
    super('ERR_CONFIG_INVALID', `the configuration has ${problems.length} problem(s)`);
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] ?? ''] = value;
}

function deletePath(target: Record<string, unknown>, path: string): void {
  const parts = path.split('.');
  let node: unknown = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return;
    node = (node as Record<string, unknown>)[part];
  }
  if (typeof node === 'object' && node !== null) Reflect.deleteProperty(node, parts[parts.length - 1] ?? '');
}

function schemaProblems(error: z.ZodError, origins: ReadonlyMap<string, Origin>): Problem[] {
  return error.issues.map((issue) => {
    // List items as `cookie.domains[0]`, the form validateConfig uses.
    const path = issue.path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`)).join('');
    const leafPath = issue.path.filter((part) => typeof part === 'string').join('.');
    const origin = origins.get(leafPath);
    const fix = (issue as { params?: { fix?: string } }).params?.fix ?? fixFor(issue, leafPath);
    return {
      code: issue.code === 'unrecognized_keys' ? 'ERR_CONFIG_UNKNOWN_KEY' : 'ERR_CONFIG_TYPE',
      path: path === '' ? '(root)' : path,
      message: messageFor(issue),
      fix,
      ...(origin === undefined ? {} : { source: `${origin.kind} ${origin.name ?? ''}` }),
    };
  });
}

/** What schemaAt reads of a zod schema's definition. */
interface SchemaDef {
  readonly type: string;
  readonly innerType?: z.core.$ZodType;
  readonly in?: z.core.$ZodType;
  readonly shape?: Readonly<Record<string, z.core.$ZodType>>;
  readonly element?: z.core.$ZodType;
  readonly valueType?: z.core.$ZodType;
}

const defOf = (schema: z.core.$ZodType | undefined): SchemaDef | undefined => schema?._zod.def;

/** The schema of the value at an issue's path, through optional, default and pipe wrappers. */
function schemaAt(path: readonly PropertyKey[]): z.core.$ZodType | undefined {
  const unwrap = (schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined => {
    let current = schema;
    for (let depth = 0; depth < 10 && current !== undefined; depth++) {
      const def = defOf(current);
      const inner = def?.innerType ?? (def?.type === 'pipe' ? def.in : undefined);
      if (inner === undefined) return current;
      current = inner;
    }
    return current;
  };
  let schema = unwrap(ConfigSchema);
  for (const part of path) {
    const def = defOf(schema);
    if (def?.type === 'object') schema = unwrap(def.shape?.[String(part)]);
    else if (def?.type === 'array') schema = unwrap(def.element);
    else if (def?.type === 'record') schema = unwrap(def.valueType);
    else return undefined;
  }
  return schema;
}

/** The fix for an unknown key: the closest known key of that mapping, and the page that describes it. */
function unknownKeyFix(path: readonly PropertyKey[], keys: readonly string[]): string {
  const top = String(path[0] ?? '');
  const page = top === 'routes' || top === 'policies' ? 'docs/policy.md' : top === 'bearer' ? 'docs/bearer.md' : 'docs/configuration.md';
  const known = Object.keys(defOf(schemaAt(path))?.shape ?? {});
  const hints = keys.map((key) => {
    const best = closest(key, known);
    return best === undefined ? undefined : `'${key}': did you mean '${best}'?`;
  });
  if (hints.every((hint) => hint !== undefined)) return `${hints.join('; ')} (${page})`;
  return known.length > 0 ? `the keys allowed here are ${known.join(', ')} (${page})` : `remove it; ${page} lists the keys`;
}

function messageFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `has ${issue.keys.length === 1 ? 'an unknown key' : 'unknown keys'} ${issue.keys.map((key) => `'${key}'`).join(', ')}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => `'${String(value)}'`).join(', ')}`;
    case 'invalid_type':
      return `must be ${issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}`;
    case 'too_small':
    case 'too_big': {
      if (issue.origin !== 'number' && issue.origin !== 'int') return issue.message.replace(/^Too (small|big): expected \w+ to (have|be) /, 'must have ');
      const bound = String(issue.code === 'too_big' ? issue.maximum : issue.minimum);
      const word = issue.code === 'too_big' ? (issue.inclusive === false ? 'below' : 'at most') : issue.inclusive === false ? 'above' : 'at least';
      return `must be ${word} ${bound}`;
    }
    default:
      return issue.message;
  }
}

function fixFor(issue: z.core.$ZodIssue, path: string): string {
  const field = FIELDS.find((candidate) => candidate.path === path);
  if (issue.code === 'unrecognized_keys') return unknownKeyFix(issue.path, issue.keys);
  // An empty choice is written as "" (it leaves the attribute out), not as nothing after a comma.
  if (issue.code === 'invalid_value') return `write one of: ${issue.values.map((value) => (value === '' ? '"" (empty)' : String(value))).join(', ')}`;
  if ((issue.code === 'too_big' || issue.code === 'too_small') && (issue.origin === 'number' || issue.origin === 'int')) {
    const number = schemaAt(issue.path);
    const { minValue, maxValue } = number instanceof z.ZodNumber ? number : { minValue: null, maxValue: null };
    const range = minValue !== null && maxValue !== null && Number.isFinite(minValue) && Number.isFinite(maxValue) ? `from ${String(minValue)} to ${String(maxValue)}` : 'in that range';
    return `write a number ${range}${field?.example === undefined ? '' : `, for example: ${field.example}`}`;
  }
  if (field?.example !== undefined) return `for example: ${field.example}`;
  if (issue.code === 'invalid_type' && issue.expected === 'string') return `write it as text, in quotes if it looks like a number or a boolean: ${path.split('.').pop() ?? path}: "…"`;
  return 'see docs/configuration.md for the expected type';
}

function derivedWarnings(config: Config, origins: ReadonlyMap<string, Origin>): string[] {
  const warnings: string[] = [...profileWarnings(config.bearer.profiles)];
  if (usesDevelopmentProvider(config)) {
    warnings.push('no identity provider is configured: the embedded DEVELOPMENT provider signs anyone in as any email. Never use it for real access control.');
  }
  if (config.proxy.reverseProxy && config.proxy.trusted.length === 0) {
    warnings.push('proxy.reverseProxy is on and proxy.trusted is empty: X-Forwarded-* headers are trusted from loopback and private networks. Name your proxies in proxy.trusted (OAUTH2_PROXY_TRUSTED_PROXY_IPS).');
  }
  if (!usesDevelopmentProvider(config) && config.cookie.domains.length === 0 && config.proxy.allowedRedirectDomains.length === 0 && !config.routes.some((route) => (route.hosts ?? []).length > 0)) {
    warnings.push('neither cookie.domains, proxy.allowedRedirectDomains nor a route names your hosts: gatehouse starts a login on whatever host the proxy forwards. Name them (OAUTH2_PROXY_COOKIE_DOMAINS, OAUTH2_PROXY_WHITELIST_DOMAINS) so any other host is refused.');
  }
  if (config.provider.insecureAllowUnverifiedEmail) warnings.push('provider.insecureAllowUnverifiedEmail is on: unverified email addresses are accepted.');
  if (config.provider.pkce === 'plain') warnings.push("provider.pkce is 'plain': the code verifier travels in the clear; use S256 if the provider supports it.");
  if (!config.cookie.secure && origins.get('cookie.secure')?.kind !== 'default') warnings.push('cookie.secure is off: session cookies travel over plain http.');
  for (const secret of config.cookie.secrets) {
    if (Buffer.byteLength(secret) < 32 && !/^[A-Za-z0-9_+/-]{22,}={0,2}$/.test(secret)) {
      warnings.push('a cookie secret is shorter than 32 bytes; gatehouse derives a 256-bit key from it, but a 32-byte random secret is stronger (`gatehouse secret generate`).');
      break;
    }
  }
  return warnings;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Loads the configuration from its sources.
 * @throws ConfigError with every problem found.
 */
export function loadConfig(options: LoadOptions): LoadedConfig {
  const sources: SourceResult[] = [];
  const file = options.file === undefined ? undefined : isOauth2ProxyConfigFile(options.file) ? readOauth2ProxyToml(options.file, options.fileOrigin) : readYamlFile(options.file, options.env, options.fileOrigin);
  if (file !== undefined) sources.push(file);
  sources.push(readEnvironment(options.env, file?.interpolated));
  sources.push(readFlags(options.flags ?? []));

  const problems: Problem[] = sources.flatMap((source) => source.problems);
  const warnings: string[] = sources.flatMap((source) => source.warnings);
  const raw: Record<string, unknown> = {};
  const origins = new Map<string, Origin>();
  const assignments: Assignment[] = sources.flatMap((source) => source.assignments);
  for (const assignment of assignments) {
    setPath(raw, assignment.path, assignment.value);
    origins.set(assignment.path, assignment.origin);
  }
  for (const field of FIELDS) if (!origins.has(field.path)) origins.set(field.path, { kind: 'default' });

  let parsed = ConfigSchema.safeParse(raw);
  const badPaths = new Set<string>();
  if (!parsed.success) {
    problems.push(...schemaProblems(parsed.error, origins));
    // Validate the rest too, with the broken values set aside, so every problem is reported in one go. A
    // problem inside a list (a route, a profile's list) sets the whole top-level section aside.
    for (let round = 0; round < 3 && !parsed.success; round++) {
      for (const issue of parsed.error.issues) {
        const inList = issue.path.some((part) => typeof part === 'number');
        const path = inList ? String(issue.path[0] ?? '') : issue.path.filter((part) => typeof part === 'string').join('.');
        badPaths.add(path);
        deletePath(raw, path);
      }
      parsed = ConfigSchema.safeParse(raw);
    }
    if (!parsed.success) throw new ConfigError(problems);
  }
  const config = parsed.data;
  // oauth2-proxy accepts pass_access_token without set_xauthrequest: the token then goes only to an upstream
  // it proxies to, and gatehouse proxies to none. Its configuration moves over as it is, with a warning;
  // the native key alone stays an error (below).
  if (config.identityHeaders.accessToken && !config.identityHeaders.xAuthRequest && origins.get('identityHeaders.accessToken')?.option === 'pass_access_token') {
    config.identityHeaders.accessToken = false;
    warnings.push('pass_access_token has no effect without set_xauthrequest: gatehouse answers checks and proxies no request, so the access token would go nowhere. Set set_xauthrequest to send it as X-Auth-Request-Access-Token.');
  }
  for (const problem of validateConfig(config)) {
    const leaf = problem.path.replace(/\[\d+\]$/, '');
    if (badPaths.has(leaf) || badPaths.has(problem.path.split(/[.[]/)[0] ?? '')) continue;
    const origin = origins.get(leaf);
    problems.push(origin === undefined || origin.kind === 'default' ? problem : { ...problem, source: `${origin.kind} ${origin.name ?? ''}` });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: deepFreeze(config), origins, warnings: [...warnings, ...derivedWarnings(config, origins)] };
}
