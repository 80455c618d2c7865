/**
 * The embedded development identity provider, built on `oidc-provider`: a real OpenID Provider on
 * loopback whose sign-in page accepts any email (and optional groups). For trying gatehouse and for the
 * tests; never for real access control, and never started when a real provider is configured.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { generateKeyPair, exportJWK } from 'jose';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { escapeHtml, renderPage } from '../pages/index.js';
import { parseEmail } from '../identity/index.js';

/** Options of the development provider. */
export interface DevProviderOptions {
  /** Loopback host to bind; default 127.0.0.1. */
  readonly host?: string;
  /** Port; 0 picks a free one. */
  readonly port?: number;
  readonly clientId?: string;
  readonly clientSecret?: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris?: readonly string[];
  /** Lifetime of ID and access tokens, seconds. Default 3600. */
  readonly tokenTtlSeconds?: number;
  /** Where to POST logout tokens when someone signs out here (back-channel logout); none by default. */
  readonly backchannelLogoutUri?: string;
}

/** A running development provider. */
export interface DevProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly provider: Provider;
  close(): Promise<void>;
}

interface Account {
  email: string;
  groups: string[];
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16 * 1024) throw new RangeError('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY' });
  response.end(html);
}

function loginPage(uid: string, error?: string): string {
  const problem = error === undefined ? '' : `<p role="alert" style="color:var(--danger)">${escapeHtml(error)}</p>`;
  return renderPage({
    title: 'Sign in (development provider)',
    body: `<div class="banner">Development identity provider: anyone can sign in as anyone. Not for real use.</div>
<h1>Sign in</h1><p>Pick any email address. Add groups to try group rules.</p>${problem}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="email" placeholder="you@example.com" required autofocus>
<label for="groups">Groups (optional)</label><input id="groups" name="groups" placeholder="admins, family">
<p class="hint">Comma-separated.</p>
<button type="submit">Sign in</button></form>`,
  });
}

/** Starts the development provider on loopback. */
export async function startDevProvider(options: DevProviderOptions): Promise<DevProvider> {
  const host = options.host ?? '127.0.0.1';
  const accounts = new Map<string, Account>();
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const clientId = options.clientId ?? 'gatehouse-dev';
  const clientSecret = options.clientSecret ?? randomBytes(24).toString('base64url');
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'dev-es256', alg: 'ES256', use: 'sig' };
  const ttl = options.tokenTtlSeconds ?? 3600;

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [...options.redirectUris],
        post_logout_redirect_uris: [...(options.postLogoutRedirectUris ?? [])],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
        ...(options.backchannelLogoutUri === undefined ? {} : { backchannel_logout_uri: options.backchannelLogoutUri, backchannel_logout_session_required: true }),
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username', 'name', 'groups'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    conformIdTokenClaims: false,
    findAccount: (_ctx, id) => {
      const account = accounts.get(id);
      if (account === undefined) return undefined;
      return {
        accountId: id,
        claims: () => ({ sub: id, email: account.email, email_verified: true, preferred_username: account.email.split('@')[0] ?? '', name: account.email, groups: account.groups }),
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true }, backchannelLogout: { enabled: options.backchannelLogoutUri !== undefined } },
    // oidc-provider refuses to call loopback addresses (against server-side request forgery); this provider
    // is loopback-only and its one outgoing call, back-channel logout, goes to a gatehouse on loopback too.
    ...(options.backchannelLogoutUri === undefined
      ? {}
      : {
          fetch: (input: string | URL | Request, init?: RequestInit) => {
            const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
            return fetch(input, rest);
          },
        }),
    pkce: { required: () => true },
    issueRefreshToken: (_ctx, client) => Promise.resolve(client.grantTypeAllowed('refresh_token')),
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      // Development only: consent is implied, every requested scope is granted.
      const { oidc } = ctx;
      const accountId = oidc.session?.accountId;
      const clientIdOf = oidc.client?.clientId;
      if (accountId === undefined || clientIdOf === undefined) return undefined;
      const grant = new oidc.provider.Grant({ accountId, clientId: clientIdOf });
      grant.addOIDCScope('openid email profile groups offline_access');
      grant.addOIDCClaims(['email', 'email_verified', 'preferred_username', 'name', 'groups']);
      await grant.save();
      return grant;
    },
    ttl: { IdToken: ttl, AccessToken: ttl, Interaction: 600, Session: 86_400, Grant: 86_400, RefreshToken: 86_400 },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = renderPage({ title: 'Sign-in error', tone: 'error', body: `<h1>Sign-in error</h1><p>${escapeHtml(out.error_description ?? out.error)}</p>` });
    },
  };
  const provider = new Provider(issuer, configuration);
  const oidcHandler = provider.callback();

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', issuer);
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(url.pathname);
    if (match === null) {
      void oidcHandler(request, response);
      return;
    }
    const uid = match[1] ?? '';
    const done = (error: unknown) => {
      if (!response.headersSent) sendHtml(response, 400, renderPage({ title: 'Sign-in error', tone: 'error', body: `<h1>Sign-in error</h1><p>${escapeHtml(error instanceof Error ? error.message : 'failed')}</p>` }));
    };
    if (match[2] === undefined && request.method === 'GET') {
      provider.interactionDetails(request, response).then(() => sendHtml(response, 200, loginPage(uid)), done);
      return;
    }
    if (match[2] !== undefined && request.method === 'POST') {
      readForm(request)
        .then(async (form) => {
          const email = parseEmail((form.get('email') ?? '').trim());
          if (email === undefined) {
            sendHtml(response, 400, loginPage(uid, 'That is not an email address.'));
            return;
          }
          const groups = (form.get('groups') ?? '').split(',').map((group) => group.trim()).filter((group) => group !== '');
          accounts.set(email, { email, groups });
          await provider.interactionFinished(request, response, { login: { accountId: email } }, { mergeWithLastSubmission: false });
        })
        .catch(done);
      return;
    }
    sendHtml(response, 405, 'method not allowed');
  });

  return {
    issuer,
    clientId,
    clientSecret,
    provider,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
