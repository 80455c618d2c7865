/**
 * jwt-middleware's claim requirements (`require`), with the semantics of its validate.go (v1.3.1 and later):
 * every claim of a map must pass (AND), to any depth; a list means any of (OR); a one-key map
 * `{$and: [...]}` / `{$or: [...]}` combines, at the top of `require` as anywhere else; a claim may hold a
 * wildcard (`*.example.com` satisfies `app.example.com`, and also `example.com`), in a string, in a key of
 * an object claim and in a claim name; array claims pass when one element does; numbers compare as numbers
 * and never equal strings; strings with `{{ }}` are per-request templates.
 *
 * Stricter than the plugin: numbers are compared only within ±(2^53 − 1), where a token's numbers are read
 * exactly; an empty list, an unknown `$` operator and `$and` / `$or` beside other keys are configuration
 * errors rather than requirements that pass, or fail, every token.
 * @see docs/bearer.md
 */
import { claimMatches } from './match.js';
import { isTemplate, parseTemplate, type TemplateRequest } from './template.js';

/**
 * A compiled requirement over a value: `undefined` when the value passes, else what failed (a claim name,
 * `$and` / `$or`, or '' for a plain value).
 */
type Check = (value: unknown, request: TemplateRequest) => string | undefined;

/** A compiled requirement over a claims object. */
export type ClaimsCheck = (claims: Readonly<Record<string, unknown>>, request: TemplateRequest) => { pass: true } | { pass: false; claim: string };

/** The one passing outcome: a check that passes allocates nothing. */
const PASS: { pass: true } = Object.freeze({ pass: true });
/** What a plain value reports when it fails. */
const FAIL = '';

type Group = '$and' | '$or';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A required string: the claim (a string, an element of a list, or a key of an object) must match it. */
function stringCheck(required: string, env: ReadonlyMap<string, string>): Check {
  const template = isTemplate(required) ? parseTemplate(required, env) : undefined;
  const matches = (claim: unknown, want: string): boolean => {
    if (typeof claim === 'string') return claimMatches(claim, want);
    if (Array.isArray(claim)) return claim.some((item) => matches(item, want));
    if (isRecord(claim)) {
      // An object claim passes when one of its keys matches, whatever the key holds.
      for (const key in claim) if (claimMatches(key, want)) return true;
    }
    return false;
  };
  return (claim, request) => {
    let want = required;
    if (template !== undefined) {
      try {
        want = template(request);
      } catch {
        // An unknown template field fails the claim (the plugin's missingkey=error).
        return FAIL;
      }
    }
    return matches(claim, want) ? undefined : FAIL;
  };
}

/**
 * A required number. Only numbers within ±(2^53 − 1) are compared: a token's integer beyond that range was
 * rounded when it was read (9007199254740993 reads as 9007199254740992), so it can never equal a
 * requirement, which must lie inside the range.
 */
function numberCheck(required: number, path: string): Check {
  if (!Number.isFinite(required) || Math.abs(required) > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${path}: ${String(required)} is beyond ±9007199254740991, where numbers in a token cannot be compared exactly`);
  }
  const matches = (claim: unknown): boolean => (Array.isArray(claim) ? claim.some(matches) : typeof claim === 'number' && Math.abs(claim) <= Number.MAX_SAFE_INTEGER && claim === required);
  return (claim) => (matches(claim) ? undefined : FAIL);
}

function booleanCheck(required: boolean): Check {
  const matches = (claim: unknown): boolean => (Array.isArray(claim) ? claim.some(matches) : claim === required);
  return (claim) => (matches(claim) ? undefined : FAIL);
}

/** A list: any item passes (`$or`, the default), or every item (`$and`). A nested list keeps the group. */
function listCheck(required: readonly unknown[], env: ReadonlyMap<string, string>, path: string, group: Group): Check {
  if (required.length === 0) throw new TypeError(`${path}: an empty list can never be met`);
  const checks = required.map((item, index) => valueCheck(item, env, `${path}[${index}]`, group));
  if (group === '$and') {
    return (value, request) => {
      for (const check of checks) {
        const failed = check(value, request);
        if (failed !== undefined) return failed === FAIL ? '$and' : failed;
      }
      return undefined;
    };
  }
  return (value, request) => {
    for (const check of checks) if (check(value, request) === undefined) return undefined;
    return '$or';
  };
}

/**
 * True when a claim whose name is a wildcard matching `name` passes `check`: every such claim is tried, as
 * the plugin does for a required claim that the token does not have.
 */
function wildcardNamed(claims: Readonly<Record<string, unknown>>, name: string, check: Check, request: TemplateRequest): boolean {
  for (const candidate in claims) if (claimMatches(candidate, name) && check(claims[candidate], request) === undefined) return true;
  return false;
}

/** A map: a one-key `{$and: [...]}` / `{$or: [...]}`, or claims that must all pass. */
function mapCheck(required: Readonly<Record<string, unknown>>, env: ReadonlyMap<string, string>, path: string): Check {
  const keys = Object.keys(required);
  const [only] = keys;
  if (keys.length === 1 && only?.startsWith('$') === true) {
    if (only !== '$and' && only !== '$or') throw new TypeError(`${path}: unknown operator '${only}' (use $and or $or)`);
    const list = required[only];
    if (!Array.isArray(list) || list.length === 0) throw new TypeError(`${path}.${only}: needs a non-empty list`);
    return listCheck(list, env, `${path}.${only}`, only);
  }
  for (const key of keys) {
    if (key === '$and' || key === '$or') throw new TypeError(`${path}: ${key} must be the only key of its map (beside other keys it would be read as a claim named '${key}')`);
  }
  const claims = keys.map((claim) => ({ claim, check: valueCheck(required[claim], env, `${path}.${claim}`, '$or') }));
  return (value, request) => {
    if (!isRecord(value)) return FAIL;
    for (const { claim, check } of claims) {
      if (Object.hasOwn(value, claim)) {
        if (check(value[claim], request) !== undefined) return claim;
      } else if (!wildcardNamed(value, claim, check, request)) {
        return claim;
      }
    }
    return undefined;
  };
}

function valueCheck(required: unknown, env: ReadonlyMap<string, string>, path: string, group: Group): Check {
  if (typeof required === 'string') return stringCheck(required, env);
  if (typeof required === 'number') return numberCheck(required, path);
  if (typeof required === 'boolean') return booleanCheck(required);
  if (Array.isArray(required)) return listCheck(required, env, path, group);
  if (isRecord(required)) return mapCheck(required, env, path);
  throw new TypeError(`${path}: a requirement must be a string, number, boolean, list or map`);
}

/**
 * Compiles a `require` map.
 * @throws TypeError, RangeError or SyntaxError naming the part that is wrong.
 */
export function compileRequire(require: Readonly<Record<string, unknown>>, env: ReadonlyMap<string, string>, path = 'require'): ClaimsCheck {
  const check = mapCheck(require, env, path);
  return (claims, request) => {
    const failed = check(claims, request);
    return failed === undefined ? PASS : { pass: false, claim: failed === FAIL ? path : failed };
  };
}
