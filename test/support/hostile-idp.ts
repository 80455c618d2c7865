/**
 * A scripted OpenID Provider for the cases a well-behaved provider never produces (security-cases.md
 * B: OIDC-15..20, OIDC-25): real OIDC over HTTP on loopback — discovery, a JWKS of jose-generated keys,
 * an authorization endpoint that sends the browser straight back with a code, and a token endpoint whose
 * answer (the ID token above all) each test writes. By default it behaves honestly, PKCE check included.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** What the authorization endpoint received for one code. */
export interface AuthorizationRecord {
  readonly code: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly state: string;
  readonly nonce: string | undefined;
  readonly codeChallenge: string | undefined;
  readonly codeChallengeMethod: string | undefined;
  readonly scope: string;
}

/** One request to the token endpoint. */
export interface TokenRequest {
  readonly grantType: string;
  readonly form: URLSearchParams;
  /** The authorization the code was issued for (authorization_code grant with a known code). */
  readonly record: AuthorizationRecord | undefined;
  /** True when HTTP Basic client authentication matched. */
  readonly clientAuthenticated: boolean;
}

/** What the token endpoint answers. */
export interface TokenReply {
  readonly status?: number;
  readonly body: Readonly<Record<string, unknown>> | string;
}

/** How to sign a crafted ID token. */
export interface SignOptions {
  /** Default ES256 with the published key. */
  readonly alg?: 'ES256' | 'RS256' | 'HS256' | 'none';
  /** `foreign`: a key of the same type that is not in the JWKS (a bad signature). Default `published`. */
  readonly key?: 'published' | 'foreign';
  /** Default the published key's kid. */
  readonly kid?: string | null;
  /** HS256 secret; default the client secret. */
  readonly hmacSecret?: string;
  /** The `typ` header; default `JWT`. */
  readonly typ?: string;
}

/** The subject the provider signs in. */
export interface HostileAccount {
  sub: string;
  email: string;
  /** Extra claims merged into the honest ID token. */
  claims?: Record<string, unknown>;
}

export type TokenScript = (request: TokenRequest, idp: HostileIdp) => TokenReply | Promise<TokenReply>;

/** A running hostile provider. */
export interface HostileIdp {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Who signs in; change it per test. */
  account: HostileAccount;
  /** The token endpoint's behaviour; `undefined` restores honesty. */
  tokenScript: TokenScript | undefined;
  /** Extra or replaced parameters on the redirect back from the authorization endpoint. */
  authorizeExtra: Record<string, string>;
  /** Every token request received. */
  readonly tokenRequests: TokenRequest[];
  /** How many requests reached the advertised userinfo endpoint (which answers with someone else). */
  userinfoRequests: number;
  /** Keys the JWKS publishes after the two real ones (OIDC-21: rotation, extra or unparseable keys). */
  jwksExtra: Record<string, unknown>[];
  /** The public JWK of the `foreign` key of an algorithm, under `kid`: publishing it is a key rotation. */
  foreignJwk(alg: 'ES256' | 'RS256', kid: string): Promise<JWK>;
  /** The honest ID token claims for an authorization (or a refresh when `record` is undefined). */
  honestClaims(record: AuthorizationRecord | undefined): JWTPayload;
  /** Signs claims as an ID token. */
  sign(claims: JWTPayload, options?: SignOptions): Promise<string>;
  /** The honest token response, with `claims` replacing the ID token claims when given. */
  honestReply(request: TokenRequest, claims?: JWTPayload, options?: SignOptions): Promise<TokenReply>;
  /** `at_hash` of an access token for ES256/RS256 (left half of SHA-256, base64url). */
  atHash(accessToken: string): string;
  close(): Promise<void>;
}

/** Options of {@link startHostileIdp}. */
export interface HostileIdpOptions {
  /** Advertise and send the RFC 9207 `iss` authorization response parameter. Default true. */
  readonly issParameter?: boolean;
  /** Algorithms advertised in discovery. Default `['ES256']`. */
  readonly algs?: readonly string[];
  /** The `issuer` the discovery document claims (OIDC-22); default the real one. */
  readonly discoveryIssuer?: string;
}

const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(text);
}

/** Starts the hostile provider on 127.0.0.1. */
export async function startHostileIdp(options: HostileIdpOptions = {}): Promise<HostileIdp> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'gatehouse-test';
  const clientSecret = randomBytes(24).toString('base64url');
  const issParameter = options.issParameter ?? true;

  const es = await generateKeyPair('ES256', { extractable: true });
  const rs = await generateKeyPair('RS256', { extractable: true });
  const foreignEs = await generateKeyPair('ES256', { extractable: true });
  const foreignRs = await generateKeyPair('RS256', { extractable: true });
  const esJwk: JWK = { ...(await exportJWK(es.publicKey)), kid: 'es-1', alg: 'ES256', use: 'sig' };
  const rsJwk: JWK = { ...(await exportJWK(rs.publicKey)), kid: 'rs-1', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, AuthorizationRecord>();
  const refreshTokens = new Set<string>();

  const sign = async (claims: JWTPayload, signOptions: SignOptions = {}): Promise<string> => {
    const alg = signOptions.alg ?? 'ES256';
    if (alg === 'none') return `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.`;
    let key: CryptoKey | Uint8Array;
    let kid: string | undefined;
    if (alg === 'HS256') {
      key = new TextEncoder().encode(signOptions.hmacSecret ?? clientSecret);
      kid = undefined;
    } else {
      const foreign = signOptions.key === 'foreign';
      key = alg === 'ES256' ? (foreign ? foreignEs.privateKey : es.privateKey) : foreign ? foreignRs.privateKey : rs.privateKey;
      kid = alg === 'ES256' ? 'es-1' : 'rs-1';
    }
    if (signOptions.kid !== undefined) kid = signOptions.kid ?? undefined;
    return new SignJWT(claims).setProtectedHeader({ alg, typ: signOptions.typ ?? 'JWT', ...(kid === undefined ? {} : { kid }) }).sign(key);
  };

  const atHash = (accessToken: string) => createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');

  const idp: HostileIdp = {
    issuer,
    clientId,
    clientSecret,
    account: { sub: 'hostile-user-1', email: 'mallory@homelab.example.com' },
    tokenScript: undefined,
    authorizeExtra: {},
    tokenRequests: [],
    jwksExtra: [],
    userinfoRequests: 0,
    foreignJwk: async (alg, kid) => ({ ...(await exportJWK((alg === 'ES256' ? foreignEs : foreignRs).publicKey)), kid, alg, use: 'sig' }),
    honestClaims(record) {
      const now = Math.floor(Date.now() / 1000);
      return {
        iss: issuer,
        aud: clientId,
        sub: idp.account.sub,
        iat: now,
        exp: now + 600,
        email: idp.account.email,
        email_verified: true,
        ...(record?.nonce === undefined ? {} : { nonce: record.nonce }),
        ...(idp.account.claims ?? {}),
      };
    },
    sign,
    async honestReply(request, claims, signOptions) {
      const accessToken = randomBytes(24).toString('base64url');
      const refreshToken = randomBytes(24).toString('base64url');
      refreshTokens.add(refreshToken);
      const idToken = await sign(claims ?? idp.honestClaims(request.record), signOptions);
      return { body: { access_token: accessToken, token_type: 'Bearer', expires_in: 600, id_token: idToken, refresh_token: refreshToken } };
    },
    atHash,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  const honest: TokenScript = async (request) => {
    if (!request.clientAuthenticated) return { status: 401, body: { error: 'invalid_client' } };
    if (request.grantType === 'authorization_code') {
      const record = request.record;
      if (record === undefined) return { status: 400, body: { error: 'invalid_grant', error_description: 'unknown code' } };
      const verifier = request.form.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (record.codeChallengeMethod !== 'S256' || challenge !== record.codeChallenge) return { status: 400, body: { error: 'invalid_grant', error_description: 'PKCE verification failed' } };
      if (request.form.get('redirect_uri') !== record.redirectUri) return { status: 400, body: { error: 'invalid_grant', error_description: 'redirect_uri mismatch' } };
      return idp.honestReply(request);
    }
    if (request.grantType === 'refresh_token') {
      if (!refreshTokens.has(request.form.get('refresh_token') ?? '')) return { status: 400, body: { error: 'invalid_grant' } };
      return idp.honestReply(request);
    }
    return { status: 400, body: { error: 'unsupported_grant_type' } };
  };

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', issuer);
    const fail = (error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: 'server_error', error_description: String(error) });
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      sendJson(response, 200, {
        issuer: options.discoveryIssuer ?? issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        userinfo_endpoint: `${issuer}/userinfo`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: options.algs ?? ['ES256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
        scopes_supported: ['openid', 'email', 'profile'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        authorization_response_iss_parameter_supported: issParameter,
      });
      return;
    }
    if (url.pathname === '/jwks') {
      sendJson(response, 200, { keys: [esJwk, rsJwk, ...idp.jwksExtra] });
      return;
    }
    if (url.pathname === '/userinfo') {
      // OIDC-23: claims that contradict the ID token; a relying party that read them could be fooled.
      idp.userinfoRequests += 1;
      sendJson(response, 200, { sub: 'someone-else', email: 'admin@homelab.example.com', email_verified: true, groups: ['admins'] });
      return;
    }
    if (url.pathname === '/authorize') {
      const query = url.searchParams;
      const record: AuthorizationRecord = {
        code: randomBytes(24).toString('base64url'),
        clientId: query.get('client_id') ?? '',
        redirectUri: query.get('redirect_uri') ?? '',
        state: query.get('state') ?? '',
        nonce: query.get('nonce') ?? undefined,
        codeChallenge: query.get('code_challenge') ?? undefined,
        codeChallengeMethod: query.get('code_challenge_method') ?? undefined,
        scope: query.get('scope') ?? '',
      };
      codes.set(record.code, record);
      const back = new URL(record.redirectUri);
      back.searchParams.set('code', record.code);
      back.searchParams.set('state', record.state);
      if (issParameter) back.searchParams.set('iss', issuer);
      for (const [name, value] of Object.entries(idp.authorizeExtra)) back.searchParams.set(name, value);
      response.writeHead(302, { location: back.href, 'cache-control': 'no-store' });
      response.end();
      return;
    }
    if (url.pathname === '/token' && request.method === 'POST') {
      readBody(request)
        .then(async (text) => {
          const form = new URLSearchParams(text);
          const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '')?.[1];
          const [id = '', secret = ''] = basic === undefined ? [] : Buffer.from(basic, 'base64').toString('utf8').split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
          const code = form.get('code') ?? '';
          const record = codes.get(code);
          // Codes are single-use, as at a real provider.
          codes.delete(code);
          const tokenRequest: TokenRequest = { grantType: form.get('grant_type') ?? '', form, record, clientAuthenticated: id === clientId && secret === clientSecret };
          idp.tokenRequests.push(tokenRequest);
          const reply = await (idp.tokenScript ?? honest)(tokenRequest, idp);
          sendJson(response, reply.status ?? 200, reply.body);
        })
        .catch(fail);
      return;
    }
    sendJson(response, 404, { error: 'not_found' });
  });

  return idp;
}
