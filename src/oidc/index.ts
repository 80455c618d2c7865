export { createOidcClient, type OidcClient, type OidcClientOptions, type TokenSet, type RefreshedTokens } from './client.js';
