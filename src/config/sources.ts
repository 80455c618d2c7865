/**
 * The three ways in: the YAML file (with `${VAR}` interpolation and `<secret>File` keys), environment
 * variables (native `GATEHOUSE_*` and oauth2-proxy `OAUTH2_PROXY_*`, each secret also as `*_FILE`) and
 * command-line flags (native `--section.key` and oauth2-proxy `--kebab-case`). Each yields assignments to
 * schema leaves with their origin, plus problems and warnings; nothing here decides precedence.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseToml, TomlError } from 'smol-toml';
import { parseDocument } from 'yaml';
import { convertText, type Assignment } from './assignments.js';
import { closest } from './closest.js';
import { FIELD_BY_PATH, FIELDS, type Field } from './fields.js';
import { mapOption, unsupportedOption, OPTION_BY_ENV, OPTION_BY_FLAG, OPTION_BY_KEY, type OptionSpec } from './oauth2-proxy.js';
import type { Origin, Problem } from './problems.js';

/** What one source contributed. */
export interface SourceResult {
  assignments: Assignment[];
  problems: Problem[];
  warnings: string[];
  /** Environment variables the file interpolated; they are not options themselves. */
  interpolated?: Set<string>;
}

const empty = (): SourceResult => ({ assignments: [], problems: [], warnings: [] });

/** The origins of secrets read from a file (`*_FILE`, `--*-file`, `*_file`, `*File`). */
const FILE_ORIGINS = new WeakSet<Origin>();
const fromFile = (origin: Origin): Origin => {
  FILE_ORIGINS.add(origin);
  return origin;
};

/**
 * One source setting a secret both inline and from a file: which counts would be a guess (oauth2-proxy
 * takes the inline one, the YAML file here refuses), so it is a problem in every source.
 */
function reportSecretTwice(result: SourceResult): void {
  const byPath = new Map<string, { inline?: Origin; file?: Origin }>();
  for (const { path, origin } of result.assignments) {
    if (FIELD_BY_PATH.get(path)?.secret !== true) continue;
    const entry = byPath.get(path) ?? {};
    if (FILE_ORIGINS.has(origin)) entry.file = origin;
    else entry.inline = origin;
    byPath.set(path, entry);
  }
  for (const [path, { inline, file }] of byPath) {
    if (inline === undefined || file === undefined) continue;
    result.problems.push({ code: 'ERR_CONFIG_SECRET_TWICE', path, message: `is set both inline (${inline.kind} ${inline.name ?? ''}) and from a file (${file.kind} ${file.name ?? ''}): which counts would be a guess`, fix: 'keep one of the two' });
  }
}

/** Reads a secret from a file, dropping one trailing newline (what `echo` and most editors add). */
export function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

/**
 * The path of a secret's file quoted in a message. A secret pasted where its file's path belongs would be
 * echoed to a terminal or a log, so a text is shown whole only when it reads as a path: short and without
 * a slash (`client-secret.txt`), starting with `/`, `./`, `../` or `~/` and without the `+` and `=` of
 * base64, or with an existing directory before its last slash.
 */
function quoteSecretPath(file: string): string {
  const slash = file.lastIndexOf('/');
  const pathLike =
    slash === -1 ? file.length <= 24 : (/^(\/|\.\.?\/|~\/)/.test(file) && !/[+=]/.test(file)) || isDirectory(file.slice(0, slash));
  return pathLike && !/\s|\p{Cc}/u.test(file) ? `'${file}'` : `'${file.slice(0, 4)}…' (${String(file.length)} characters, not shown: it may be the secret itself)`;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function fileProblem(path: string, file: string, error: unknown, source: string, secret = false): Problem {
  const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
  return {
    code: 'ERR_CONFIG_FILE_UNREADABLE',
    path,
    message: `cannot read ${secret ? quoteSecretPath(file) : `'${file}'`} (${reason})`,
    fix: 'point it at a readable file',
    source,
  };
}

/** Where a configuration file is named when nothing else is said. */
const CONFIG_FLAG: Origin = { kind: 'flag', name: '--config' };

/** An unreadable configuration file, reported against what named it (`--config`, `GATEHOUSE_CONFIG`, …). */
function configFileProblem(named: Origin, file: string, error: unknown): Problem {
  return fileProblem(named.kind === 'file' ? 'config' : (named.name ?? '--config'), file, error, `${named.kind} ${named.name ?? ''}`);
}

const OBJECT_PATHS: ReadonlySet<string> = new Set(
  FIELDS.flatMap((field) => {
    const parts = field.path.split('.');
    return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join('.'));
  }),
);

function suggest(path: string): string {
  const candidates = [...FIELD_BY_PATH.keys(), ...OBJECT_PATHS];
  const lower = path.toLowerCase();
  const last = lower.split('.').pop() ?? lower;
  const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.') + 1) : '';
  // The same key in another case, then a near spelling in the same section, then the same name elsewhere.
  const siblings = candidates.filter((candidate) => candidate.startsWith(parent) && !candidate.slice(parent.length).includes('.'));
  const near = closest(path.slice(parent.length), siblings.map((candidate) => candidate.slice(parent.length)));
  const hit = candidates.find((candidate) => candidate.toLowerCase() === lower) ?? (near === undefined ? undefined : `${parent}${near}`);
  if (hit !== undefined) return `did you mean '${hit}'?`;
  const elsewhere = candidates.filter((candidate) => (candidate.toLowerCase().split('.').pop() ?? '') === last);
  // At the top, a key of a section written without it; within a section, a key that belongs elsewhere.
  if (elsewhere.length > 0 && parent === '') return `did you mean ${elsewhere.map((candidate) => `'${candidate}'`).join(' or ')}?`;
  if (elsewhere.length > 0) return `there is no such key in '${parent.slice(0, -1)}'; ${elsewhere.map((candidate) => `'${candidate}'`).join(', ')} ${elsewhere.length === 1 ? 'has' : 'have'} that name`;
  return 'remove it; docs/configuration.md lists every key';
}

/** Expands `${VAR}`, `${VAR:-default}` and `$$` in one string scalar. */
export function interpolate(text: string, env: NodeJS.ProcessEnv): { value: string; missing: string[]; used: string[] } {
  const missing: string[] = [];
  const used: string[] = [];
  const value = text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$$') return '$';
    used.push(name ?? '');
    const found = env[name ?? ''];
    // Shell semantics: `${VAR:-default}` also replaces an empty value; `${VAR}` keeps it.
    if (fallback !== undefined) return found === undefined || found === '' ? fallback : found;
    if (found !== undefined) return found;
    missing.push(name ?? '');
    return '';
  });
  return { value, missing, used };
}

/** True for a file in oauth2-proxy's TOML format (`--config oauth2_proxy.cfg`), by its extension. */
export function isOauth2ProxyConfigFile(file: string): boolean {
  return /\.(cfg|toml)$/i.test(file);
}

/**
 * Reads an oauth2-proxy TOML configuration file (what its Helm chart mounts), with the same keys as the
 * `OAUTH2_PROXY_*` variables. Unknown keys are problems, as in oauth2-proxy (`UnmarshalExact`).
 */
export function readOauth2ProxyToml(file: string, named: Origin = CONFIG_FLAG): SourceResult {
  const result = empty();
  let table: Record<string, unknown>;
  try {
    table = parseToml(readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined) result.problems.push(configFileProblem(named, file, error));
    else {
      const where = error instanceof TomlError ? { line: error.line, column: error.column } : undefined;
      const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? 'invalid TOML';
      result.problems.push({
        code: 'ERR_CONFIG_TOML_SYNTAX',
        path: file,
        message: where === undefined ? message : `${message} (line ${where.line}, column ${where.column})`,
        fix: where === undefined ? 'correct the TOML syntax' : `correct the TOML syntax at line ${where.line}`,
      });
    }
    return result;
  }
  const origin: Origin = { kind: 'file', name: file };
  for (const [key, value] of Object.entries(table)) {
    const spec = OPTION_BY_KEY.get(key);
    // `client_secret_file = "/run/secrets/client-secret"`: a secret option's value read from a file, as
    // the `_FILE` variables and `--*-file` flags do.
    const secretSpec = spec === undefined && key.endsWith('_file') ? OPTION_BY_KEY.get(key.slice(0, -'_file'.length)) : undefined;
    if (secretSpec?.secret === true) {
      if (typeof value !== 'string' || value === '') {
        result.problems.push({ code: 'ERR_CONFIG_TYPE', path: key, message: 'must be a file path', fix: 'write the path of the file holding the secret', source: `file ${file}` });
        continue;
      }
      try {
        applyOption(secretSpec, readSecretFile(value), fromFile({ kind: 'file', name: `${file} (${key}: ${value})` }), result);
      } catch (error) {
        result.problems.push(fileProblem(key, value, error, `file ${file}`, true));
      }
      continue;
    }
    if (spec === undefined) {
      const known = unsupportedOption(key);
      result.problems.push({ code: 'ERR_CONFIG_UNKNOWN_KEY', path: key, message: known?.message ?? 'is an oauth2-proxy option gatehouse does not implement (or not an oauth2-proxy option)', fix: known?.fix ?? 'remove it; docs/oauth2-proxy.md lists the supported options', source: `file ${file}` });
      continue;
    }
    // A TOML array's items are items as they are: a comma inside one (a regular expression's {1,2}) is
    // not a separator, as it would be in a variable.
    if (Array.isArray(value) && spec.kind === 'list' && spec.map === undefined && spec.path !== undefined) {
      result.assignments.push({ path: spec.path, value: value.map(String).map((item) => item.trim()).filter((item) => item !== ''), origin });
      continue;
    }
    const text = Array.isArray(value) ? value.map(String).join(',') : String(value);
    applyOption(spec, text, origin, result);
  }
  reportSecretTwice(result);
  return result;
}

/** Reads the native YAML file. */
export function readYamlFile(file: string, env: NodeJS.ProcessEnv, named: Origin = CONFIG_FLAG): SourceResult {
  const result = empty();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    result.problems.push(configFileProblem(named, file, error));
    return result;
  }
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (document.errors.length > 0) {
    for (const error of document.errors) {
      result.problems.push({
        code: 'ERR_CONFIG_YAML_SYNTAX',
        path: file,
        message: error.message.split('\n')[0] ?? 'invalid YAML',
        fix: 'correct the YAML syntax at the line shown',
      });
    }
    return result;
  }
  let root: unknown;
  try {
    // The yaml library refuses alias expansion beyond a bound (a "billion laughs" file): a problem of the
    // file like any other, not a failure of gatehouse.
    root = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    result.problems.push({ code: 'ERR_CONFIG_YAML_SYNTAX', path: file, message: (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'invalid YAML', fix: 'write the values out instead of expanding aliases over and over' });
    return result;
  }
  if (root === null || root === undefined) return result;
  if (typeof root !== 'object' || Array.isArray(root)) {
    result.problems.push({ code: 'ERR_CONFIG_YAML_SHAPE', path: file, message: 'the file is not a mapping of keys', fix: 'start the file with keys such as `listen:` and `provider:`' });
    return result;
  }
  const origin: Origin = { kind: 'file', name: file };
  walkYaml(root as Record<string, unknown>, [], origin, env, result);
  return result;
}

function interpolateValue(value: unknown, path: string, origin: Origin, env: NodeJS.ProcessEnv, result: SourceResult): unknown {
  if (typeof value === 'string') {
    const { value: expanded, missing, used } = interpolate(value, env);
    for (const name of used) (result.interpolated ??= new Set()).add(name);
    for (const name of missing) {
      result.problems.push({
        code: 'ERR_CONFIG_VARIABLE_UNSET',
        path,
        message: `refers to \${${name}}, which is not set`,
        fix: `set the environment variable ${name}, or write \${${name}:-default}`,
        source: `${origin.kind} ${origin.name ?? ''}`,
      });
    }
    return expanded;
  }
  if (Array.isArray(value)) return value.map((item) => interpolateValue(item, path, origin, env, result));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateValue(item, path, origin, env, result)]));
  }
  return value;
}

function walkYaml(node: Record<string, unknown>, prefix: string[], origin: Origin, env: NodeJS.ProcessEnv, result: SourceResult): void {
  for (const [key, raw] of Object.entries(node)) {
    const path = [...prefix, key].join('.');
    const field = FIELD_BY_PATH.get(path);
    if (field !== undefined) {
      const value = interpolateValue(raw, path, origin, env, result);
      // `${VAR}` always yields text; a boolean or integer leaf takes it as the environment would.
      if (typeof raw === 'string' && raw.includes('${') && (field.kind === 'boolean' || field.kind === 'integer')) {
        const converted = convertText(field.kind, String(value));
        if (converted.ok) result.assignments.push({ path, value: converted.value, origin });
        else result.problems.push({ ...converted.problem, path, source: `file ${origin.name ?? ''}` });
        continue;
      }
      result.assignments.push({ path, value, origin });
      continue;
    }
    if (key.endsWith('File')) {
      const target = FIELD_BY_PATH.get([...prefix, key.slice(0, -'File'.length)].join('.'));
      if (target?.secret === true) {
        const inline = key.slice(0, -'File'.length);
        if (inline in node) {
          result.problems.push({ code: 'ERR_CONFIG_SECRET_TWICE', path, message: `is set beside ${[...prefix, inline].join('.')}: which of the two secrets counts would be a guess`, fix: `keep one of '${inline}' and '${key}'`, source: `file ${origin.name ?? ''}` });
          continue;
        }
        const file = interpolateValue(raw, path, origin, env, result);
        if (typeof file !== 'string' || file === '') {
          result.problems.push({ code: 'ERR_CONFIG_TYPE', path, message: 'must be a file path', fix: 'write the path of the file holding the secret', source: `file ${origin.name ?? ''}` });
          continue;
        }
        readSecretInto(target, file, { kind: 'file', name: `${origin.name ?? ''} (${path}: ${file})` }, result, `file ${origin.name ?? ''} (${path})`);
        continue;
      }
    }
    if (OBJECT_PATHS.has(path)) {
      if (raw === null || raw === undefined) continue;
      if (typeof raw !== 'object' || Array.isArray(raw)) {
        result.problems.push({ code: 'ERR_CONFIG_TYPE', path, message: 'must be a mapping of keys', fix: `write the keys of '${path}' indented below it`, source: `file ${origin.name ?? ''}` });
        continue;
      }
      walkYaml(raw as Record<string, unknown>, [...prefix, key], origin, env, result);
      continue;
    }
    result.problems.push({ code: 'ERR_CONFIG_UNKNOWN_KEY', path, message: 'is not a gatehouse option', fix: suggest(path), source: `file ${origin.name ?? ''}` });
  }
}

/** Reads a secret from `file`; a failure is reported against `source` (which must not hold `file` itself). */
function readSecretInto(field: Field, file: string, origin: Origin, result: SourceResult, source = `${origin.kind} ${origin.name ?? ''}`): void {
  try {
    const text = readSecretFile(file);
    const value = field.kind === 'secretList' ? text.split(/\r?\n/).filter((line) => line.trim() !== '') : text;
    result.assignments.push({ path: field.path, value, origin });
  } catch (error) {
    result.problems.push(fileProblem(field.path, file, error, source, true));
  }
}

const NATIVE_BY_ENV: ReadonlyMap<string, Field> = new Map(FIELDS.map((field) => [field.env, field]));
const NATIVE_BY_FLAG: ReadonlyMap<string, Field> = new Map(FIELDS.map((field) => [field.flag.slice(2), field]));

/** Environment variables gatehouse reads for itself but that are not options. */
const RESERVED_ENV = new Set(['GATEHOUSE_CONFIG']);

/**
 * Kubernetes' service links: for a Service named `gatehouse` (or `oauth2-proxy`, as its Helm chart makes)
 * every pod gets `GATEHOUSE_SERVICE_HOST`, `GATEHOUSE_PORT_4180_TCP_ADDR` and the like. They are not options.
 */
function isServiceLink(name: string, value: string): boolean {
  // Any Service in the namespace whose name starts with gatehouse- or oauth2-proxy- gives such names, so
  // both the shape of the name and of the value must be Kubernetes' for a variable to be passed over.
  if (!/^(GATEHOUSE|OAUTH2_PROXY)_/.test(name)) return false;
  if (/_SERVICE_HOST$/.test(name)) return isIP(value) !== 0;
  if (/_SERVICE_PORT(_[A-Z0-9_]+)?$/.test(name) || /_PORT_\d+_(TCP|UDP|SCTP)_PORT$/.test(name)) return /^\d{1,5}$/.test(value);
  if (/_PORT_\d+_(TCP|UDP|SCTP)_PROTO$/.test(name)) return /^(tcp|udp|sctp)$/.test(value);
  if (/_PORT_\d+_(TCP|UDP|SCTP)_ADDR$/.test(name)) return isIP(value) !== 0;
  if (/_PORT(_\d+_(TCP|UDP|SCTP))?$/.test(name)) return /^(tcp|udp|sctp):\/\/[^/]+:\d{1,5}$/.test(value);
  return false;
}

function applyOption(spec: OptionSpec, text: string, origin: Origin, result: SourceResult): void {
  const mapped = mapOption(spec, text, origin);
  result.assignments.push(...mapped.assignments);
  result.problems.push(...mapped.problems);
  result.warnings.push(...mapped.warnings);
}

function applyNative(field: Field, text: string, origin: Origin, result: SourceResult): void {
  const converted = convertText(field.kind, text);
  if (converted.ok) result.assignments.push({ path: field.path, value: converted.value, origin });
  else result.problems.push({ ...converted.problem, path: field.path, source: `${origin.kind} ${origin.name ?? ''}` });
}

/** "did you mean GATEHOUSE_COOKIE_SECRETS?" for a misspelt variable of either family, when one is near. */
function nearestVariable(name: string): string | undefined {
  // Compared without the family's prefix, which every candidate shares.
  const prefix = name.startsWith('GATEHOUSE_') ? 'GATEHOUSE_' : 'OAUTH2_PROXY_';
  const names = prefix === 'GATEHOUSE_' ? [...NATIVE_BY_ENV].flatMap(([env, field]) => (field.secret ? [env, `${env}_FILE`] : [env])) : [...OPTION_BY_ENV].flatMap(([env, spec]) => (spec.secret === true ? [env, `${env}_FILE`] : [env]));
  const family = names.map((candidate) => candidate.slice(prefix.length));
  const hit = closest(name.slice(prefix.length), family);
  return hit === undefined ? undefined : `did you mean ${prefix}${hit}?`;
}

/** Reads `GATEHOUSE_*` and `OAUTH2_PROXY_*` variables. Unknown names in either family are problems. */
export function readEnvironment(env: NodeJS.ProcessEnv, interpolated: ReadonlySet<string> = new Set()): SourceResult {
  const result = empty();
  const names = Object.keys(env).filter((name) => name.startsWith('GATEHOUSE_') || name.startsWith('OAUTH2_PROXY_')).sort();
  // oauth2-proxy options first, native ones after, so a native variable wins over its oauth2-proxy twin.
  names.sort((a, b) => Number(a.startsWith('GATEHOUSE_')) - Number(b.startsWith('GATEHOUSE_')));
  for (const name of names) {
    const text = env[name] ?? '';
    if (RESERVED_ENV.has(name) || isServiceLink(name, text)) continue;
    const origin: Origin = { kind: 'env', name };
    const native = NATIVE_BY_ENV.get(name);
    if (native !== undefined) {
      applyNative(native, text, origin, result);
      continue;
    }
    const option = OPTION_BY_ENV.get(name);
    if (option !== undefined) {
      applyOption(option, text, origin, result);
      continue;
    }
    if (name.endsWith('_FILE')) {
      const base = name.slice(0, -'_FILE'.length);
      const nativeSecret = NATIVE_BY_ENV.get(base);
      const optionSecret = OPTION_BY_ENV.get(base);
      if (nativeSecret?.secret === true) {
        readSecretInto(nativeSecret, text, fromFile(origin), result);
        continue;
      }
      if (optionSecret?.secret === true) {
        try {
          applyOption(optionSecret, readSecretFile(text), fromFile(origin), result);
        } catch (error) {
          result.problems.push(fileProblem(optionSecret.path ?? name, text, error, `env ${name}`, true));
        }
        continue;
      }
    }
    // A variable the YAML file interpolates is the file's business, not an option.
    if (interpolated.has(name)) continue;
    const known = name.startsWith('OAUTH2_PROXY_') ? unsupportedOption(name.slice('OAUTH2_PROXY_'.length).toLowerCase()) : undefined;
    result.problems.push({
      code: 'ERR_CONFIG_UNKNOWN_VARIABLE',
      path: name,
      message: known?.message ?? (name.startsWith('OAUTH2_PROXY_')
        ? 'is an oauth2-proxy option gatehouse does not implement (or not an oauth2-proxy option)'
        : 'is not a gatehouse option'),
      fix: known?.fix ?? nearestVariable(name) ?? (name.startsWith('OAUTH2_PROXY_')
        ? 'remove it; docs/oauth2-proxy.md lists the supported options and the native equivalents'
        : 'remove it; docs/configuration.md lists every GATEHOUSE_ variable'),
      source: `env ${name}`,
    });
  }
  reportSecretTwice(result);
  return result;
}

/** A flag gatehouse did not recognise. */
export class UnknownFlagError extends Error {
  constructor(readonly flag: string) {
    super(`unknown flag '${flag}'`);
  }
}

/** True when the flag names a configuration option (native or oauth2-proxy). */
export function isConfigFlag(name: string): boolean {
  const bare = name.endsWith('-file') ? name.slice(0, -'-file'.length) : name;
  return NATIVE_BY_FLAG.has(name) || OPTION_BY_FLAG.has(name) || NATIVE_BY_FLAG.get(bare)?.secret === true || OPTION_BY_FLAG.get(bare)?.secret === true;
}

/** True when the flag takes no value (`--reverse-proxy` alone means true). */
export function isBooleanFlag(name: string): boolean {
  return NATIVE_BY_FLAG.get(name)?.kind === 'boolean' || OPTION_BY_FLAG.get(name)?.kind === 'boolean';
}

/** Maps configuration flags (already split into name and text) onto assignments. Lists accumulate. */
export function readFlags(flags: readonly { name: string; text: string }[]): SourceResult {
  const result = empty();
  const lists = new Map<string, { field?: Field; option?: OptionSpec; items: string[]; origin: Origin }>();
  for (const { name, text } of flags) {
    const origin: Origin = { kind: 'flag', name: `--${name}` };
    const native = NATIVE_BY_FLAG.get(name);
    const option = OPTION_BY_FLAG.get(name);
    const listKind = native?.kind ?? option?.kind;
    if (listKind === 'list' || listKind === 'secretList') {
      const key = native?.path ?? option?.path ?? option?.key ?? name;
      const entry = lists.get(key) ?? { ...(native === undefined ? {} : { field: native }), ...(option === undefined ? {} : { option }), items: [], origin };
      entry.items.push(text);
      lists.set(key, entry);
      continue;
    }
    if (native !== undefined) {
      applyNative(native, text, origin, result);
      continue;
    }
    if (option !== undefined) {
      applyOption(option, text, origin, result);
      continue;
    }
    const bare = name.slice(0, -'-file'.length);
    const nativeSecret = NATIVE_BY_FLAG.get(bare);
    const optionSecret = OPTION_BY_FLAG.get(bare);
    if (nativeSecret?.secret === true) {
      readSecretInto(nativeSecret, text, fromFile(origin), result);
      continue;
    }
    if (optionSecret?.secret === true) {
      try {
        applyOption(optionSecret, readSecretFile(text), fromFile(origin), result);
      } catch (error) {
        result.problems.push(fileProblem(optionSecret.path ?? name, text, error, `flag --${name}`, true));
      }
      continue;
    }
    throw new UnknownFlagError(`--${name}`);
  }
  for (const entry of lists.values()) {
    const joined = entry.items.join(',');
    if (entry.field !== undefined) applyNative(entry.field, joined, entry.origin, result);
    else if (entry.option !== undefined) applyOption(entry.option, joined, entry.origin, result);
  }
  reportSecretTwice(result);
  return result;
}
