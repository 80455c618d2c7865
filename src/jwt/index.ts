export { createProviderBearerVerifier, bearerTokenOf, MAX_TOKEN_LENGTH, ASYMMETRIC_ALGORITHMS, type BearerVerifier, type ProviderBearerOptions } from './provider-bearer.js';
export { compileProfile, MAX_TOKEN_LENGTH as MAX_PROFILE_TOKEN_LENGTH, DEFAULT_ALGORITHMS, type BearerProfile, type ProfileResult, type TokenCarrier, type TokenMemo, type ProfileEnvironment } from './profile.js';
export { parseKeyText, algorithmsFor, MIN_HMAC_BYTES, MIN_RSA_BITS, type VerificationKey } from './keys.js';
export { createRemoteKeySet, type RemoteKeySet, type RemoteKeySetOptions } from './remote-jwks.js';
export { compileRequire, type ClaimsCheck } from './require.js';
export { wildcardMatch, claimMatches } from './match.js';
export { parseTemplate, isTemplate, templateEnvironment, type Template, type TemplateRequest } from './template.js';
export { compileProfiles, profileWarnings, ProfileCompileError, type CompiledProfiles } from './profiles.js';
export { createSharedDenyList, denyListNames, PROVIDER_LIST, listDenyEntries, changeDenyEntry, denyListKeys, denyValueProblem, DENY_LIST_POLL_MS, DENY_LIST_REREAD_MS, MAX_DENY_VALUE_LENGTH, type SharedDenyList, type DenyListCopy, type DenyListState, type DenyEntry, type DenyKind } from './shared-deny-list.js';
