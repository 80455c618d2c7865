export { compilePolicySet, PolicyCompileError, type PolicySet, type CompiledRoute, type Selection, type PolicyProblem } from './routes.js';
export { compilePolicy, evaluatePolicy, explainPolicy, celContext, type CompiledPolicy, type PolicyDecision, type PolicyRequest, type PolicyDenyReason, type ExplainStep, type AuthMethods } from './requirements.js';
export { explainRequest, type DescribedRequest, type Explanation, type Outcome } from './explain.js';
export { normalizePath, MAX_PATH_LENGTH, type NormalizedPath } from './path.js';
export { createEmailPolicy, emailPolicyFromConfig, authorizeIdentity, authorizeQuery, parseQueryConstraints, isEmailDomainAllowed, type EmailPolicy, type Decision, type DenyReason, type QueryConstraints } from './email-policy.js';
export { compileRegex, parseSkipAuthRoute, matchesSkipAuthRoute, type OperatorRegex, type SkipAuthRoute } from './regex.js';
export { compileExpression, ExpressionError, type CompiledExpression, type CelContext } from './cel.js';
export { parseIp, parseCidrRange, type ParsedIp, type CidrRange } from './ip.js';
