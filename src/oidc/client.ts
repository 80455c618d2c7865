/**
 * The OpenID Connect relying party, thin over openid-client: discovery (retried in the background while
 * the provider is down), the authorization URL with PKCE, state and nonce always, the code exchange with
 * ID token validation (OIDC Core 3.1.3.7, RFC 9207 `iss`), refresh, and the end-session URL.
 */
import { createHash } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { GatewayError } from '../errors.js';

/** Options of the relying party. */
export interface OidcClientOptions {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Per-request timeout, milliseconds. */
  readonly timeoutMs: number;
  /** Plain-http issuers are accepted only on loopback (the development provider, tests). */
  readonly allowHttpLoopback: boolean;
  /** Seconds of clock skew tolerated in ID token times. */
  readonly clockToleranceSeconds?: number;
  /** Called after every request to the provider, for metrics. */
  readonly onRequest?: (operation: 'discovery' | 'token' | 'refresh', ok: boolean, seconds: number) => void;
}

/** Tokens from the provider, with the verified ID token claims. */
export interface TokenSet {
  readonly claims: Readonly<Record<string, unknown>>;
  readonly idToken: string;
  readonly idTokenExpiresAt: number;
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
}

/** Tokens from a refresh: the provider may or may not send a new ID token. */
export interface RefreshedTokens {
  /** Verified claims of the new ID token, when there is one. */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
  readonly idToken: string | undefined;
  readonly idTokenExpiresAt: number | undefined;
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
}

/** The relying party. */
export interface OidcClient {
  /** Resolves once discovery has succeeded; rejects with the last error after `waitMs`. */
  ready(waitMs?: number): Promise<client.Configuration>;
  /** Whether discovery has succeeded, and the last error otherwise. */
  status(): { ok: boolean; detail: string };
  buildAuthorizationUrl(parameters: { redirectUri: string; state: string; nonce: string; codeVerifier: string; scopes: readonly string[]; pkceMethod: 'S256' | 'plain' }): Promise<URL>;
  /** Validates the authorization response and redeems the code; throws `ERR_OIDC_CALLBACK` on any failure. */
  exchangeCode(currentUrl: URL, checks: { state: string; nonce: string; codeVerifier: string }): Promise<TokenSet>;
  /** Redeems a refresh token; the new ID token must have the same `iss` and `sub`. Throws `ERR_OIDC_REFRESH`. */
  refresh(refreshToken: string, expected: { sub: string; issuer: string }): Promise<RefreshedTokens>;
  /** The provider's end-session URL, when it has one. */
  buildEndSessionUrl(parameters: { idTokenHint?: string; postLogoutRedirectUri?: string }): URL | undefined;
  /** The discovered `jwks_uri`. */
  jwksUri(): string | undefined;
  close(): void;
}

const AT_HASH: Record<string, string> = { RS256: 'sha256', PS256: 'sha256', ES256: 'sha256', HS256: 'sha256', RS384: 'sha384', PS384: 'sha384', ES384: 'sha384', HS384: 'sha384', RS512: 'sha512', PS512: 'sha512', ES512: 'sha512', HS512: 'sha512', EdDSA: 'sha512', Ed25519: 'sha512' };

/**
 * Checks what openid-client leaves to the relying party: `azp`, when present, must be this client even
 * with a single audience (OIDC-17); `at_hash`, when present, must match the access token (OIDC Core
 * 3.1.3.8, OIDC-20).
 */
function checkIdTokenBindings(idToken: string, claims: Readonly<Record<string, unknown>>, accessToken: string, clientId: string): void {
  if (claims.azp !== undefined && claims.azp !== clientId) throw new GatewayError('ERR_OIDC_CALLBACK', 'the ID token was issued to another client (azp)');
  if (claims.at_hash === undefined) return;
  const { alg } = decodeProtectedHeader(idToken);
  const algorithm = typeof alg === 'string' ? AT_HASH[alg] : undefined;
  if (algorithm === undefined) throw new GatewayError('ERR_OIDC_CALLBACK', 'the ID token at_hash cannot be checked for its algorithm');
  const digest = createHash(algorithm).update(accessToken, 'ascii').digest();
  const expected = digest.subarray(0, digest.length / 2).toString('base64url');
  if (claims.at_hash !== expected) throw new GatewayError('ERR_OIDC_CALLBACK', 'the ID token at_hash does not match the access token');
}

/** True for failures to reach the provider (network, timeout, a non-OAuth answer such as a 502 page). */
function isOutage(error: unknown): boolean {
  if (error instanceof client.ResponseBodyError) return false;
  if (error instanceof TypeError || (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError'))) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON';
}

function describe(error: unknown): string {
  if (error instanceof client.ResponseBodyError) return `${error.error}${error.error_description === undefined ? '' : `: ${error.error_description}`}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Creates the relying party and starts discovery. */
export function createOidcClient(options: OidcClientOptions): OidcClient {
  const issuerUrl = new URL(options.issuer);
  const insecure = issuerUrl.protocol === 'http:' && options.allowHttpLoopback;
  let configuration: client.Configuration | undefined;
  let lastError = 'discovery has not finished';
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let waiters: { resolve: (config: client.Configuration) => void }[] = [];

  const timed = async <T>(operation: 'discovery' | 'token' | 'refresh', work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await work();
      options.onRequest?.(operation, true, (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      options.onRequest?.(operation, false, (performance.now() - started) / 1000);
      throw error;
    }
  };

  const discover = async (attempt: number): Promise<void> => {
    try {
      const metadata: Partial<client.ClientMetadata> = { client_secret: options.clientSecret };
      if (options.clockToleranceSeconds !== undefined) metadata[client.clockTolerance] = options.clockToleranceSeconds;
      const discovered = await timed('discovery', () => client.discovery(issuerUrl, options.clientId, metadata, client.ClientSecretBasic(options.clientSecret), {
        timeout: Math.ceil(options.timeoutMs / 1000),
        // Plain http only for a loopback issuer (the development provider); checked by the config validation.
        // eslint-disable-next-line @typescript-eslint/no-deprecated
        ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
      }));
      discovered.timeout = Math.ceil(options.timeoutMs / 1000);
      // ID tokens from the token endpoint are verified against the provider's keys too (OIDC-15), not only
      // trusted for having come over TLS.
      client.enableNonRepudiationChecks(discovered);
      configuration = discovered;
      for (const waiter of waiters) waiter.resolve(discovered);
      waiters = [];
    } catch (error) {
      lastError = `discovery at ${issuerUrl.href} failed: ${describe(error)}`;
      if (closed) return;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      retryTimer = setTimeout(() => void discover(attempt + 1), delay);
      retryTimer.unref();
    }
  };
  void discover(0);

  const need = (): client.Configuration => {
    if (configuration === undefined) throw new GatewayError('ERR_OIDC_UNAVAILABLE', lastError);
    return configuration;
  };

  const toTokenSet = (response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers): TokenSet => {
    const claims = response.claims();
    const idToken = response.id_token;
    if (claims === undefined || idToken === undefined) throw new GatewayError('ERR_OIDC_NO_ID_TOKEN', 'the provider returned no ID token');
    checkIdTokenBindings(idToken, claims, response.access_token, options.clientId);
    return {
      claims,
      idToken,
      idTokenExpiresAt: typeof claims.exp === 'number' ? claims.exp : 0,
      accessToken: response.access_token,
      refreshToken: response.refresh_token,
    };
  };

  return {
    ready(waitMs = 0) {
      if (configuration !== undefined) return Promise.resolve(configuration);
      return new Promise((resolve, reject) => {
        const waiter = { resolve };
        waiters.push(waiter);
        setTimeout(() => {
          waiters = waiters.filter((candidate) => candidate !== waiter);
          reject(new GatewayError('ERR_OIDC_UNAVAILABLE', lastError));
        }, waitMs).unref();
      });
    },
    status: () => (configuration === undefined ? { ok: false, detail: lastError } : { ok: true, detail: 'provider discovered' }),
    async buildAuthorizationUrl({ redirectUri, state, nonce, codeVerifier, scopes, pkceMethod }) {
      const config = need();
      const challenge = pkceMethod === 'S256' ? await client.calculatePKCECodeChallenge(codeVerifier) : codeVerifier;
      return client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: scopes.join(' '),
        state,
        nonce,
        code_challenge: challenge,
        code_challenge_method: pkceMethod,
      });
    },
    async exchangeCode(currentUrl, checks) {
      const config = need();
      try {
        const response = await timed('token', () =>
          client.authorizationCodeGrant(config, currentUrl, {
            pkceCodeVerifier: checks.codeVerifier,
            expectedState: checks.state,
            expectedNonce: checks.nonce,
            idTokenExpected: true,
          }),
        );
        return toTokenSet(response);
      } catch (error) {
        if (error instanceof GatewayError) throw error;
        throw new GatewayError('ERR_OIDC_CALLBACK', describe(error), { cause: error });
      }
    },
    async refresh(refreshToken, expected) {
      const config = need();
      let response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
      try {
        response = await timed('refresh', () => client.refreshTokenGrant(config, refreshToken));
      } catch (error) {
        // The provider said no (invalid_grant and the like): the session is over. Anything else (network,
        // timeout, a 5xx) is an outage, and the session may wait for the provider to come back.
        throw new GatewayError(isOutage(error) ? 'ERR_OIDC_UNAVAILABLE' : 'ERR_OIDC_REFRESH', describe(error), { cause: error });
      }
      const claims = response.claims();
      // A refresh must not turn one user into another (OIDC-25).
      if (claims !== undefined && (claims.sub !== expected.sub || claims.iss !== expected.issuer)) {
        throw new GatewayError('ERR_OIDC_REFRESH', 'the refreshed ID token names another subject or issuer');
      }
      // The same bindings as at login (OIDC-17, OIDC-20): openid-client checks azp only with several audiences.
      if (claims !== undefined && response.id_token !== undefined) {
        try {
          checkIdTokenBindings(response.id_token, claims, response.access_token, options.clientId);
        } catch (error) {
          throw new GatewayError('ERR_OIDC_REFRESH', error instanceof Error ? error.message : String(error), { cause: error });
        }
      }
      return {
        claims,
        idToken: response.id_token,
        idTokenExpiresAt: typeof claims?.exp === 'number' ? claims.exp : undefined,
        accessToken: response.access_token,
        refreshToken: response.refresh_token,
      };
    },
    buildEndSessionUrl({ idTokenHint, postLogoutRedirectUri }) {
      if (configuration?.serverMetadata().end_session_endpoint === undefined) return undefined;
      const parameters: Record<string, string> = {};
      if (idTokenHint !== undefined) parameters.id_token_hint = idTokenHint;
      if (postLogoutRedirectUri !== undefined) parameters.post_logout_redirect_uri = postLogoutRedirectUri;
      return client.buildEndSessionUrl(configuration, parameters);
    },
    jwksUri: () => configuration?.serverMetadata().jwks_uri,
    close() {
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
    },
  };
}
