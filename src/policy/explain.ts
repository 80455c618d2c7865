/**
 * The decision for one described request, with every step said in words: what `gatehouse policy explain`
 * prints and `gatehouse policy test` compares. It runs the same selection, global authorization and
 * requirements as the forward-auth check, on the same normalized path.
 */
import type { Identity } from '../identity/index.js';
import { authorizeIdentity, type EmailPolicy } from './email-policy.js';
import { normalizePath } from './path.js';
import { evaluatePolicy, explainPolicy, type ExplainStep, type PolicyRequest } from './requirements.js';
import type { PolicySet } from './routes.js';

/** A request described by an operator. */
export interface DescribedRequest {
  readonly method: string;
  readonly url: URL;
  /** The path and query exactly as written (WHATWG URL parsing would already resolve `..` and `\\`). */
  readonly rawPathAndQuery: string;
  readonly ip: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The identity, or `undefined` for an anonymous request. */
  readonly identity: Identity | undefined;
  readonly claims: Readonly<Record<string, unknown>>;
  /** The policy the proxy names with `?policy=`, if any. */
  readonly policyName?: string | undefined;
}

/** What would happen. */
export type Outcome = 'allow' | 'deny' | 'unauthenticated' | 'bad-request';

/** A decision with its explanation. */
export interface Explanation {
  readonly normalizedPath: string | undefined;
  /** `route:<name>`, `policy:<name>`, `default:<kind>`. */
  readonly selected: string;
  readonly outcome: Outcome;
  /** Stable reason code. */
  readonly reason: string;
  readonly audit: boolean;
  readonly accepts: string;
  readonly steps: readonly ExplainStep[];
}

/** Explains the decision for a described request. */
export function explainRequest(policySet: PolicySet, allowList: { emailPolicy: EmailPolicy; emailsFromFile: ReadonlySet<string> }, input: DescribedRequest): Explanation {
  const normalized = normalizePath(input.rawPathAndQuery);
  if (!normalized.ok) return { normalizedPath: undefined, selected: 'none', outcome: 'bad-request', reason: 'bad-path', audit: false, accepts: '', steps: [] };
  const request: PolicyRequest = {
    method: input.method.toUpperCase(),
    scheme: input.url.protocol.replace(':', ''),
    host: input.url.hostname.toLowerCase(),
    path: normalized.path,
    search: input.rawPathAndQuery.includes('?') ? input.rawPathAndQuery.slice(input.rawPathAndQuery.indexOf('?')) : '',
    ip: input.ip,
    headers: input.headers ?? {},
  };
  const selection = policySet.select(request, input.policyName);
  const base = { normalizedPath: normalized.path, selected: selection.label };
  const policy = selection.policy;
  if (policy === undefined) {
    return { ...base, outcome: 'deny', reason: input.policyName === undefined ? 'no-route-matched' : 'policy-unknown', audit: false, accepts: 'nobody', steps: [] };
  }
  const accepts = policy.auth.public ? 'public' : [...(policy.auth.session ? ['session'] : []), ...policy.auth.bearer.map((profile) => `bearer:${profile}`)].join(', ');
  const common = { ...base, audit: policy.audit, accepts };
  if (policy.auth.public) return { ...common, outcome: 'allow', reason: 'route-public', steps: [] };
  const identity = input.identity;
  if (identity === undefined) return { ...common, outcome: 'unauthenticated', reason: 'user-unauthenticated', steps: [] };
  const accepted = identity.authMethod === 'session' ? policy.auth.session : policy.auth.bearer.length > 0;
  if (!accepted) return { ...common, outcome: 'unauthenticated', reason: identity.authMethod === 'session' ? 'bearer-missing' : 'user-unauthenticated', steps: [] };

  const steps: ExplainStep[] = [];
  // The global allow-list applies to the provider's identities (sessions and its own tokens), not to the
  // tokens of other bearer profiles, as in the forward-auth check.
  const fromProvider = identity.authMethod === 'session' || policy.auth.bearer.includes('provider');
  const global = fromProvider ? authorizeIdentity(identity, allowList.emailPolicy, allowList.emailsFromFile) : ({ allow: true } as const);
  steps.push({ requirement: 'authorization (global)', pass: global.allow, detail: !fromProvider ? 'not applied: a bearer-profile token' : global.allow ? 'met: email, verification and groups pass the global authorization' : `not met: ${global.reason}` });
  steps.push(...explainPolicy(policy, identity, input.claims, request));
  let reason: string | undefined = global.allow ? undefined : global.reason;
  if (reason === undefined) {
    const decision = evaluatePolicy(policy, identity, input.claims, request);
    if (!decision.allow) reason = decision.reason;
  }
  if (reason === undefined) return { ...common, outcome: 'allow', reason: identity.authMethod === 'session' ? 'session-valid' : 'bearer-valid', steps };
  // An audit-mode policy logs the denial of its own requirements and allows; the global check still applies.
  if (policy.audit && global.allow) return { ...common, outcome: 'allow', reason: `audit:${reason}`, steps };
  return { ...common, outcome: 'deny', reason, steps };
}
