export { identityFromClaims, parseEmail, readClaim, readGroups, isEmailVerified, type Identity, type AuthMethod, type ClaimNames } from './identity.js';
