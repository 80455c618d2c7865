export { createProviderBearerVerifier, bearerTokenOf, MAX_TOKEN_LENGTH, ASYMMETRIC_ALGORITHMS, type BearerVerifier, type ProviderBearerOptions } from './provider-bearer.js';
