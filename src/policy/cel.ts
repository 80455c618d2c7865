/**
 * CEL (Common Expression Language) for `allow` and `deny` rules, on @marcbachmann/cel-js: compiled and
 * type-checked once at load against typed `identity` and `request` variables, so a typo such as
 * `identity.emial` is a configuration error with its position, not a silent deny at run time.
 * Helpers: `cidr("10.0.0.0/24")` with `ip in cidr(...)`, and `ipInCidr(ip, range)`.
 * @see https://github.com/google/cel-spec
 */
import { Environment } from '@marcbachmann/cel-js';
import { parseCidrRange, parseIp, type CidrRange } from './ip.js';

/** What an expression sees of the identity. Session identities carry no raw claims (`claims` is empty). */
export interface CelIdentity {
  sub: string;
  email: string;
  emailVerified: boolean;
  groups: string[];
  username: string;
  issuer: string;
  authMethod: string;
  claims: Record<string, unknown>;
}

/** What an expression sees of the request (the original request, as the trusted proxy described it). */
export interface CelRequest {
  method: string;
  scheme: string;
  host: string;
  path: string;
  query: Record<string, string>;
  ip: string;
  headers: Record<string, string>;
}

/** The variables of an evaluation. */
export interface CelContext {
  identity: CelIdentity;
  request: CelRequest;
}

/** A compiled expression. */
export interface CompiledExpression {
  readonly source: string;
  /** Evaluates to a boolean; throws when evaluation fails (a missing key, a bad address) or yields anything else. */
  evaluate(context: CelContext): boolean;
}

/** Holds a parsed range so `in` can test an address against it. */
class Cidr {
  constructor(readonly range: CidrRange) {}
}

const rangeCache = new Map<string, Cidr>();

function cidrOf(text: string): Cidr {
  let cidr = rangeCache.get(text);
  if (cidr === undefined) {
    cidr = new Cidr(parseCidrRange(text));
    // Ranges come from expression literals, so the cache holds as many as the configuration names.
    if (rangeCache.size < 10_000) rangeCache.set(text, cidr);
  }
  return cidr;
}

function ipIn(ip: string, cidr: Cidr): boolean {
  const parsed = parseIp(ip);
  return parsed !== undefined && cidr.range.contains(parsed);
}

const environment = new Environment({ unlistedVariablesAreDyn: false, limits: { maxAstNodes: 1000, maxDepth: 50, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 8 } })
  .registerType('CIDR', Cidr)
  .registerVariable({
    name: 'identity',
    schema: { sub: 'string', email: 'string', emailVerified: 'bool', groups: 'list<string>', username: 'string', issuer: 'string', authMethod: 'string', claims: 'map' },
  })
  .registerVariable({
    name: 'request',
    schema: { method: 'string', scheme: 'string', host: 'string', path: 'string', query: 'map', ip: 'string', headers: 'map' },
  })
  .registerFunction('cidr(string): CIDR', cidrOf)
  .registerFunction('ipInCidr(string, string): bool', (ip: string, range: string) => ipIn(ip, cidrOf(range)))
  .registerOperator('string in CIDR', ipIn);

/** A compile error with the expression's own position text. */
export class ExpressionError extends SyntaxError {}

/**
 * Compiles and type-checks an expression that must yield a boolean.
 * @throws ExpressionError with the library's message (which shows the position).
 */
export function compileExpression(source: string): CompiledExpression {
  let evaluate: (context: CelContext) => unknown;
  try {
    const parsed = environment.parse(source);
    const checked = parsed.check();
    if (!checked.valid) throw checked.error ?? new Error('type check failed');
    if (checked.type !== 'bool' && checked.type !== 'dyn') throw new Error(`the expression yields ${checked.type}, not bool\n\n>    1 | ${source}\n         ^`);
    evaluate = parsed;
  } catch (error) {
    throw new ExpressionError(error instanceof Error ? error.message : String(error), { cause: error });
  }
  return {
    source,
    // An expression of type `dyn` (a claim, a header, a query value) may yield anything at run time. Only
    // a boolean is an answer: anything else throws, and the policy counts it as an expression error, which
    // denies. Reading `false` into it would let a `deny` whose claim is the text "true" or 1 pass.
    evaluate: (context) => {
      const value = evaluate(context);
      if (typeof value !== 'boolean') throw new TypeError(`the expression yielded ${value === null ? 'null' : typeof value}, not a boolean`);
      return value;
    },
  };
}
