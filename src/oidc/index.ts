export { createOidcClient, type OidcClient, type OidcClientOptions, type TokenSet } from './client.js';
