/**
 * What a route or policy demands of an identity: email domains, emails, groups, claims, and CEL `allow`
 * and `deny` expressions (deny wins). Every requirement is a named predicate, so the fast evaluation on the
 * hot path and the explanation for people run exactly the same checks.
 */
import { readClaim, type Identity } from '../identity/index.js';
import { remembered } from '../session/cache.js';
import type { PolicyConfig } from '../config/index.js';
import { compileExpression, type CelContext, type CompiledExpression } from './cel.js';
import { createEmailPolicy, isEmailDomainAllowed } from './email-policy.js';

/** The request as policies see it. */
export interface PolicyRequest {
  readonly method: string;
  readonly scheme: string;
  readonly host: string;
  /** Normalized path. */
  readonly path: string;
  /** Original query, with its `?`, or empty. */
  readonly search: string;
  readonly ip: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** Stable reason codes of policy denials. */
export type PolicyDenyReason =
  | 'no-route-matched'
  | 'policy-unknown'
  | 'email-not-allowed'
  | 'group-not-allowed'
  | 'claim-not-allowed'
  | 'allow-expression-false'
  | 'deny-expression-true'
  | 'expression-error';

/** One requirement. */
interface Requirement {
  readonly name: string;
  readonly reason: PolicyDenyReason;
  /** True when satisfied; throws only for expressions that fail to evaluate. */
  test(identity: Identity, claims: Readonly<Record<string, unknown>>, context: () => CelContext): boolean;
  describe(): string;
}

/** Authentication methods a policy accepts. */
export interface AuthMethods {
  readonly public: boolean;
  readonly session: boolean;
  /** Bearer profile names. */
  readonly bearer: readonly string[];
}

/** A compiled policy. */
export interface CompiledPolicy {
  readonly auth: AuthMethods;
  readonly audit: boolean;
  readonly requirements: readonly Requirement[];
  /** Whether any requirement needs the CEL context (built lazily otherwise). */
  readonly usesExpressions: boolean;
}

/** The outcome of evaluating a policy for an identity. */
export type PolicyDecision = { allow: true } | { allow: false; reason: PolicyDenyReason; requirement: string };

/** One line of an explanation. */
export interface ExplainStep {
  readonly requirement: string;
  readonly pass: boolean;
  readonly detail: string;
}

function claimValues(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  if (Array.isArray(value)) return value.filter((item): item is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof item)).map(String);
  return [];
}

/**
 * Compiles a policy.
 * @throws TypeError or ExpressionError naming the part that is wrong.
 */
export function compilePolicy(config: PolicyConfig, defaults: { bearerProvider: boolean }): CompiledPolicy {
  const auth: AuthMethods =
    config.auth === 'public'
      ? { public: true, session: false, bearer: [] }
      : config.auth === undefined
        ? { public: false, session: true, bearer: defaults.bearerProvider ? ['provider'] : [] }
        : {
            public: false,
            session: config.auth.includes('session'),
            bearer: config.auth.filter((method) => method.startsWith('bearer:')).map((method) => method.slice('bearer:'.length)),
          };
  if (auth.public && (config.require !== undefined || config.allow !== undefined || config.deny !== undefined)) {
    // A public route is answered before any requirement could run; silently ignoring them would be worse.
    throw new TypeError('a public route cannot have require, allow or deny: nobody is authenticated to check them against');
  }
  const requirements: Requirement[] = [];
  const require = config.require ?? {};
  if (require.emailDomains !== undefined || require.emails !== undefined) {
    const domains = createEmailPolicy({ emailDomains: require.emailDomains ?? [], emails: [], groups: [], requireVerifiedEmail: false });
    const emails = new Set((require.emails ?? []).map((email) => email.toLowerCase()));
    const allowed = (identity: Identity) => identity.email !== '' && (emails.has(identity.email.toLowerCase()) || ((require.emailDomains?.length ?? 0) > 0 && isEmailDomainAllowed(identity.email, domains)));
    // A session's identity is the same object on every check: its answer is kept, not worked out again.
    const answers = new WeakMap<Identity, boolean>();
    requirements.push({
      name: 'require.emails/emailDomains',
      reason: 'email-not-allowed',
      test: (identity) => remembered(answers, identity, allowed),
      describe: () => `email in [${[...(require.emails ?? []), ...(require.emailDomains ?? []).map((domain) => `*@${domain}`)].join(', ')}]`,
    });
  }
  if (require.groups !== undefined) {
    const groups = new Set(require.groups);
    requirements.push({
      name: 'require.groups',
      reason: 'group-not-allowed',
      test: (identity) => identity.groups.some((group) => groups.has(group)),
      describe: () => `one of the groups [${require.groups?.join(', ') ?? ''}]`,
    });
  }
  for (const [claim, accepted] of Object.entries(require.claims ?? {})) {
    const values = new Set(Array.isArray(accepted) ? accepted : [accepted]);
    requirements.push({
      name: `require.claims.${claim}`,
      reason: 'claim-not-allowed',
      test: (_identity, claims) => claimValues(readClaim(claims, claim)).some((value) => values.has(value)),
      describe: () => `claim ${claim} is one of [${[...values].join(', ')}]`,
    });
  }
  const expression = (label: string, source: string): CompiledExpression => {
    try {
      return compileExpression(source);
    } catch (error) {
      throw new TypeError(`${label}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };
  if (config.allow !== undefined) {
    const compiled = expression('allow', config.allow);
    requirements.push({
      name: 'allow',
      reason: 'allow-expression-false',
      test: (_identity, _claims, context) => compiled.evaluate(context()),
      describe: () => `allow: ${compiled.source}`,
    });
  }
  if (config.deny !== undefined) {
    const compiled = expression('deny', config.deny);
    requirements.push({
      name: 'deny',
      reason: 'deny-expression-true',
      test: (_identity, _claims, context) => !compiled.evaluate(context()),
      describe: () => `not deny: ${compiled.source}`,
    });
  }
  return {
    auth,
    audit: config.mode === 'audit',
    requirements,
    usesExpressions: config.allow !== undefined || config.deny !== undefined,
  };
}

function firstValues(record: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[key] = first;
  }
  return out;
}

/** Builds the CEL variables for a request and identity. */
export function celContext(identity: Identity, claims: Readonly<Record<string, unknown>>, request: PolicyRequest): CelContext {
  const query: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(request.search)) if (!(key in query)) query[key] = value;
  return {
    identity: {
      sub: identity.sub,
      email: identity.email,
      emailVerified: identity.emailVerified,
      groups: [...identity.groups],
      username: identity.username,
      issuer: identity.issuer,
      authMethod: identity.authMethod,
      claims: { ...claims },
    },
    request: { method: request.method, scheme: request.scheme, host: request.host, path: request.path, query, ip: request.ip, headers: firstValues(request.headers) },
  };
}

/** Evaluates a policy's requirements; the first unmet one decides. Fails closed on expression errors. */
export function evaluatePolicy(policy: CompiledPolicy, identity: Identity, claims: Readonly<Record<string, unknown>>, request: PolicyRequest): PolicyDecision {
  let context: CelContext | undefined;
  const lazyContext = () => (context ??= celContext(identity, claims, request));
  for (const requirement of policy.requirements) {
    try {
      if (!requirement.test(identity, claims, lazyContext)) return { allow: false, reason: requirement.reason, requirement: requirement.name };
    } catch {
      return { allow: false, reason: 'expression-error', requirement: requirement.name };
    }
  }
  return { allow: true };
}

/** Evaluates every requirement and says why each passed or failed. */
export function explainPolicy(policy: CompiledPolicy, identity: Identity, claims: Readonly<Record<string, unknown>>, request: PolicyRequest): ExplainStep[] {
  let context: CelContext | undefined;
  const lazyContext = () => (context ??= celContext(identity, claims, request));
  return policy.requirements.map((requirement) => {
    try {
      const pass = requirement.test(identity, claims, lazyContext);
      return { requirement: requirement.name, pass, detail: `${pass ? 'met' : 'not met'}: ${requirement.describe()}` };
    } catch (error) {
      return { requirement: requirement.name, pass: false, detail: `evaluation failed (${error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error)}): ${requirement.describe()}` };
    }
  });
}
