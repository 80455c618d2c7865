/**
 * jwt-middleware's claim requirements (`require`), with its semantics: all listed claims must pass (AND);
 * a list means any of (OR); a nested map applies to an object claim; `{$and: [...]}` / `{$or: [...]}`
 * combine; a string claim may hold a wildcard (`*.example.com` satisfies `app.example.com`, and also
 * `example.com`); array claims pass when one element does; numbers compare as numbers, never as strings;
 * strings with `{{ }}` are per-request templates.
 * @see docs/bearer.md
 */
import { wildcardMatch } from './match.js';
import { isTemplate, parseTemplate, type TemplateRequest } from './template.js';

/** A compiled requirement over a claim value. */
type ValueCheck = (claim: unknown, request: TemplateRequest) => boolean;

/** A compiled requirement over a claims object. */
export type ClaimsCheck = (claims: Readonly<Record<string, unknown>>, request: TemplateRequest) => { pass: true } | { pass: false; claim: string };

/** The one passing outcome: a check that passes allocates nothing. */
const PASS: { pass: true } = Object.freeze({ pass: true });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function ownValue(record: Readonly<Record<string, unknown>>, key: string): unknown {
  if (Object.hasOwn(record, key)) return record[key];
  // A required key missing from the token may be matched by a wildcard key in the token.
  for (const candidate of Object.keys(record)) if (candidate.includes('*') && wildcardMatch(candidate, key)) return record[candidate];
  return undefined;
}

function scalarCheck(required: string | number | boolean, env: ReadonlyMap<string, string>): ValueCheck {
  if (typeof required === 'string') {
    const template = isTemplate(required) ? parseTemplate(required, env) : undefined;
    const check: ValueCheck = (claim, request) => {
      if (Array.isArray(claim)) return claim.some((item) => check(item, request));
      let want: string;
      try {
        want = template === undefined ? required : template(request);
      } catch {
        // An unknown template field fails the claim (the plugin's missingkey=error).
        return false;
      }
      if (typeof claim === 'string') return wildcardMatch(claim, want) || claim === `*.${want}`;
      if (isRecord(claim)) return Object.keys(claim).some((key) => wildcardMatch(key, want));
      return false;
    };
    return check;
  }
  const check: ValueCheck = (claim) => {
    if (Array.isArray(claim)) return claim.some((item) => check(item, { Method: '', Host: '', Path: '', Scheme: '', URL: '' }));
    return typeof claim === typeof required && claim === required;
  };
  return check;
}

function valueCheck(required: unknown, env: ReadonlyMap<string, string>, path: string): ValueCheck {
  if (typeof required === 'string' || typeof required === 'number' || typeof required === 'boolean') return scalarCheck(required, env);
  if (Array.isArray(required)) {
    if (required.length === 0) throw new TypeError(`${path}: an empty list can never be met`);
    const checks = required.map((item, index) => valueCheck(item, env, `${path}[${index}]`));
    return (claim, request) => checks.some((check) => check(claim, request));
  }
  if (isRecord(required)) {
    const keys = Object.keys(required);
    const [only] = keys;
    if (keys.length === 1 && only !== undefined && only.startsWith('$')) {
      const list = required[only];
      if (!Array.isArray(list) || list.length === 0) throw new TypeError(`${path}.${only}: needs a non-empty list`);
      const checks = list.map((item, index) => valueCheck(item, env, `${path}.${only}[${index}]`));
      if (only === '$and') return (claim, request) => checks.every((check) => check(claim, request));
      if (only === '$or') return (claim, request) => checks.some((check) => check(claim, request));
      throw new TypeError(`${path}: unknown operator '${only}' (use $and or $or)`);
    }
    const nested = compileRequire(required, env, path);
    return (claim, request) => isRecord(claim) && nested(claim, request).pass;
  }
  throw new TypeError(`${path}: a requirement must be a string, number, boolean, list or map`);
}

/**
 * Compiles a `require` map.
 * @throws TypeError or SyntaxError naming the part that is wrong.
 */
export function compileRequire(require: Readonly<Record<string, unknown>>, env: ReadonlyMap<string, string>, path = 'require'): ClaimsCheck {
  const checks = Object.entries(require).map(([claim, required]) => ({ claim, check: valueCheck(required, env, `${path}.${claim}`) }));
  return (claims, request) => {
    for (const { claim, check } of checks) {
      const value = ownValue(claims, claim);
      if (value === undefined || value === null || !check(value, request)) return { pass: false, claim };
    }
    return PASS;
  };
}
