/**
 * The `/oauth2/` endpoints a browser visits: start, callback, sign-in page, sign-out, userinfo and the
 * refresh round trip.
 */
import * as client from 'openid-client';
import { isGatewayError } from '../errors.js';
import { identityFromClaims } from '../identity/index.js';
import { escapeHtml } from '../pages/index.js';
import { authorizeIdentity } from '../policy/email-policy.js';
import { GenerationalCache, type Session } from '../session/index.js';
import { isProviderSid } from './backchannel.js';
import { forbiddenPage, hostRefusedPage, json, page, redirect, text, withCookies } from './answers.js';
import type { GatewayContext } from './context.js';
import type { Refresher } from './refresh.js';
import type { GatewayRequest, Verdict } from './types.js';

/** A query parameter that must appear at most once (OIDC-11, REDIR-20): `undefined` if absent, `null` if repeated. */
function single(search: URLSearchParams, name: string): string | null | undefined {
  const values = search.getAll(name);
  if (values.length > 1) return null;
  return values[0];
}

/** Creates the browser-facing endpoints. */
export function createLoginEndpoints(context: GatewayContext, refresher: Refresher) {
  const { config } = context;
  const usedStates = new GenerationalCache<true>(10_000);

  const unavailable = (request: GatewayRequest): Verdict =>
    page(503, 'Sign-in unavailable', '<h1>Sign-in is unavailable right now</h1><p>The identity provider cannot be reached. Try again in a minute.</p>', 'error', 'provider-unavailable', request.requestId, { 'retry-after': '10' });

  /** The validated `rd` of this request, else `X-Auth-Request-Redirect`, else `/`. */
  const requestedReturn = (request: GatewayRequest): string => {
    const rd = single(request.query, 'rd');
    if (typeof rd === 'string' && rd !== '') return context.validateRedirect(rd) ?? '/';
    const header = request.headers['x-auth-request-redirect'];
    if (typeof header === 'string' && header !== '') return context.validateRedirect(header) ?? '/';
    return '/';
  };

  const start = async (request: GatewayRequest, returnTo: string): Promise<Verdict> => {
    const { view } = request;
    const redirectUri = context.redirectUriFor(view);
    const callbackOrigin = new URL(redirectUri).origin;
    const callbackHere = callbackOrigin === context.originOf(view);
    // FWD-03: a callback on a host that is not the deployment's own is never asked for.
    if (callbackHere && !context.hostAllowed(view)) return hostRefusedPage(request.requestId, { 'x-gatehouse-reason': 'host-not-allowed' });
    if (!callbackHere && !context.devMode) {
      // A central auth host: start there, so the transaction cookie lives where the callback reads it. A
      // relative target is this host's, so it travels as an absolute URL (the auth host checks it against
      // the allow-list again), or the browser would come back to the auth host's own path.
      const absolute = returnTo.startsWith('/') ? `${context.originOf(view)}${returnTo}` : returnTo;
      return redirect(`${callbackOrigin}/oauth2/start?rd=${encodeURIComponent(absolute)}`, 'login-start-elsewhere');
    }
    try {
      await context.oidc.ready(2000);
    } catch {
      return unavailable(request);
    }
    const state = client.randomState();
    const nonce = client.randomNonce();
    const codeVerifier = client.randomPKCECodeVerifier();
    const url = await context.oidc.buildAuthorizationUrl({ redirectUri, state, nonce, codeVerifier, scopes: config.provider.scopes, pkceMethod: config.provider.pkce });
    const prompt = single(request.query, 'prompt');
    if (prompt === 'login' || prompt === 'select_account') url.searchParams.set('prompt', prompt);
    const now = context.nowSeconds();
    const cookies = context.transactions.begin(
      { state, nonce, codeVerifier, returnTo, redirectUri, expiresAt: now + Math.floor(config.cookie.csrfExpire / 1000) },
      request.jar,
      context.transactionCookie(view),
      now,
    );
    context.loggers.auth.debug({ requestId: request.requestId }, 'login started');
    return redirect(url.href, 'login-start', cookies);
  };

  const callbackFailure = (request: GatewayRequest, status: number, reason: string, heading: string, detail: string, state: string | undefined): Verdict => {
    context.loggers.auth.warn({ requestId: request.requestId, reason, clientIp: request.view.clientIp }, 'login failed');
    const cookies = state === undefined ? [] : [context.transactions.end(state, context.transactionCookie(request.view))];
    const body = `<h1>${escapeHtml(heading)}</h1><p>${escapeHtml(detail)}</p><a class="button" href="/oauth2/start?rd=%2F">Sign in again</a>`;
    const verdict = page(status, 'Sign-in failed', body, 'deny', reason, request.requestId, { 'x-gatehouse-reason': reason });
    return { ...verdict, headers: withCookies(verdict.headers, cookies) };
  };

  const callback = async (request: GatewayRequest): Promise<Verdict> => {
    if (request.view.method !== 'GET' && request.view.method !== 'HEAD') return text(405, 'Method Not Allowed', 'deny', 'method-not-allowed', { allow: 'GET' });
    const search = request.query;
    const state = single(search, 'state');
    const code = single(search, 'code');
    const error = single(search, 'error');
    if (state === null || code === null || error === null || single(search, 'iss') === null) {
      return callbackFailure(request, 400, 'callback-duplicate-parameter', 'This sign-in link is malformed', 'A parameter appears more than once. Start the sign-in again.', undefined);
    }
    if (typeof error === 'string') {
      // The provider's words only for a sign-in this browser started: on any other link they are whatever
      // its author chose, shown on this deployment's own origin.
      const ours = typeof state === 'string' && state !== '' && context.transactions.find(state, request.jar, context.nowSeconds()) !== undefined;
      const description = single(search, 'error_description');
      const said = ours ? ` It said: ${error.slice(0, 100)}${typeof description === 'string' ? ` (${description.slice(0, 200)})` : ''}` : '';
      return callbackFailure(request, 403, 'provider-error', 'The identity provider refused the sign-in', `The sign-in did not complete.${said}`, state ?? undefined);
    }
    if (state === undefined || state === '') {
      return callbackFailure(request, 400, 'callback-state-missing', 'This sign-in link is incomplete', 'It carries no state. Start the sign-in again.', undefined);
    }
    const now = context.nowSeconds();
    const transaction = context.transactions.find(state, request.jar, now);
    if (transaction === undefined || usedStates.get(state) !== undefined) {
      return callbackFailure(request, 403, 'callback-transaction-invalid', 'This sign-in has expired or was started elsewhere', 'Sign-ins must finish in the browser that started them, within a few minutes. Start again.', state);
    }
    usedStates.set(state, true);
    const currentUrl = new URL(transaction.redirectUri);
    currentUrl.search = request.endpointSearch;
    let tokens;
    try {
      tokens = await context.oidc.exchangeCode(currentUrl, { state: transaction.state, nonce: transaction.nonce, codeVerifier: transaction.codeVerifier });
    } catch (failure) {
      if (isGatewayError(failure, 'ERR_OIDC_UNAVAILABLE')) return unavailable(request);
      const detail = failure instanceof Error ? failure.message : String(failure);
      context.loggers.auth.warn({ requestId: request.requestId, detail }, 'authorization response or ID token rejected');
      return callbackFailure(request, 403, 'callback-rejected', 'The sign-in could not be verified', 'The answer from the identity provider did not pass verification. Start again.', state);
    }
    const identity = identityFromClaims(tokens.claims, config.provider.claims, 'session');
    const endTransaction = context.transactions.end(state, context.transactionCookie(request.view));
    const decision = authorizeIdentity(identity, context.emailPolicy, context.emailsFromFile);
    if (!decision.allow) {
      context.loggers.auth.warn({ requestId: request.requestId, reason: decision.reason, user: identity.email }, 'login refused');
      const switchUrl = `/oauth2/start?prompt=login&rd=${encodeURIComponent(transaction.returnTo)}`;
      const verdict = forbiddenPage(decision.reason, identity.email === '' ? identity.sub : identity.email, switchUrl, request.requestId, true);
      return { ...verdict, headers: withCookies(verdict.headers, [endTransaction]) };
    }
    const session: Session = {
      identity,
      createdAt: now,
      refreshedAt: now,
      expiresAt: now + Math.floor(config.cookie.expire / 1000),
      ...(config.identityHeaders.authorization || config.provider.endSessionRedirect ? { idToken: tokens.idToken, idTokenExpiresAt: tokens.idTokenExpiresAt } : {}),
      ...(config.identityHeaders.accessToken ? { accessToken: tokens.accessToken } : {}),
      ...((config.cookie.refresh > 0 || config.identityHeaders.authorization) && tokens.refreshToken !== undefined ? { refreshToken: tokens.refreshToken } : {}),
      ...(config.provider.backchannelLogout && isProviderSid(tokens.claims.sid) ? { providerSid: tokens.claims.sid } : {}),
    };
    let sessionCookies: string[];
    try {
      sessionCookies = await context.store.save(session, request.jar, context.sessionCookie(request.view, session.expiresAt - now));
    } catch (error) {
      if (isGatewayError(error, 'ERR_SESSION_ENDED')) {
        return callbackFailure(request, 403, 'session-ended', 'You were signed out', 'The identity provider ended this sign-in while it was completing. Start again.', state);
      }
      if (!(error instanceof RangeError)) throw error;
      context.loggers.auth.error({ requestId: request.requestId, user: identity.email, reason: 'session-too-large' }, 'the session does not fit in cookies');
      return callbackFailure(request, 500, 'session-too-large', 'Your sign-in is too large to keep', 'Your account carries more information (groups, tokens) than fits in browser cookies. Ask the owner of this site to use the Redis session store, or to stop forwarding the ID token.', state);
    }
    context.loggers.auth.info({ requestId: request.requestId, user: identity.email, clientIp: request.view.clientIp }, 'login succeeded');
    const target = context.validateRedirect(transaction.returnTo) ?? '/';
    return { ...redirect(target, 'login-complete', [endTransaction, ...sessionCookies]), outcome: 'allow', user: identity.email };
  };

  const startEndpoint = async (request: GatewayRequest): Promise<Verdict> => {
    // Starting a login ends any session first, as the sign-in page does (SESS-09, GHSA-f24x-5g9q-753f).
    const cleared = request.jar.has(config.cookie.name) || request.jar.has(`${config.cookie.name}_0`) ? await context.store.clear(request.jar, context.sessionCookie(request.view, 0)) : [];
    const verdict = await start(request, requestedReturn(request));
    return cleared.length === 0 ? verdict : { ...verdict, headers: withCookies(verdict.headers, cleared) };
  };

  const signIn = async (request: GatewayRequest): Promise<Verdict> => {
    // FWD-03: no sign-in (page or login) on a host that is not the deployment's own.
    if (!context.hostAllowed(request.view)) return hostRefusedPage(request.requestId, { 'x-gatehouse-reason': 'host-not-allowed' });
    if (config.forwardAuth.skipProviderButton) return startEndpoint(request);
    const returnTo = requestedReturn(request);
    // Showing the sign-in page ends any session first (GHSA-f24x-5g9q-753f).
    const cleared = await context.store.clear(request.jar, context.sessionCookie(request.view, 0));
    const name = config.provider.displayName === '' ? (context.devMode ? 'the development provider' : 'your identity provider') : config.provider.displayName;
    const body = `<h1>Sign in to continue</h1><p>This site is protected. Sign in with ${escapeHtml(name)} to continue.</p>
<a class="button" href="/oauth2/start?rd=${escapeHtml(encodeURIComponent(returnTo))}">Sign in with ${escapeHtml(name)}</a>`;
    const verdict = page(200, 'Sign in', body, 'deny', 'sign-in-page', request.requestId);
    return { ...verdict, headers: withCookies(verdict.headers, cleared) };
  };

  const signOut = async (request: GatewayRequest): Promise<Verdict> => {
    const returnTo = requestedReturn(request);
    const loaded = await context.store.load(request.jar, context.nowSeconds());
    const cleared = await context.store.clear(request.jar, context.sessionCookie(request.view, 0));
    const user = loaded.kind === 'session' ? loaded.session.identity.email : undefined;
    context.loggers.auth.info({ requestId: request.requestId, user }, 'signed out');
    // The provider's end-session redirect comes back to this host: only to one of the deployment's own.
    if (config.provider.endSessionRedirect && context.hostAllowed(request.view)) {
      const absolute = returnTo.startsWith('/') ? `${context.originOf(request.view)}${returnTo}` : returnTo;
      const hint = loaded.kind === 'session' ? loaded.session.idToken : undefined;
      const endSession = context.oidc.buildEndSessionUrl({ ...(hint === undefined ? {} : { idTokenHint: hint }), postLogoutRedirectUri: absolute });
      if (endSession !== undefined) return redirect(endSession.href, 'signed-out', cleared);
    }
    return redirect(returnTo, 'signed-out', cleared);
  };

  const userinfo = async (request: GatewayRequest): Promise<Verdict> => {
    const loaded = await context.store.load(request.jar, context.nowSeconds());
    if (loaded.kind !== 'session') return json(401, { error: 'unauthenticated' }, 'deny', 'user-unauthenticated');
    const { identity } = loaded.session;
    // Only for a session the check would let through: the global email, domain and group rules may have
    // changed since the login (oauth2-proxy refuses such a session here too).
    const decision = authorizeIdentity(identity, context.emailPolicy, context.emailsFromFile);
    if (!decision.allow) return json(403, { error: 'forbidden', reason: decision.reason }, 'deny', decision.reason, { 'x-gatehouse-reason': decision.reason });
    return { ...json(200, { user: identity.sub, email: identity.email, groups: identity.groups, preferredUsername: identity.username }, 'allow', 'session-valid'), user: identity.email };
  };

  const refreshEndpoint = async (request: GatewayRequest): Promise<Verdict> => {
    const returnTo = requestedReturn(request);
    const now = context.nowSeconds();
    const loaded = await context.store.load(request.jar, now);
    if (loaded.kind !== 'session') return start(request, returnTo);
    if (refresher.due(loaded.session, now) === 'none') return redirect(returnTo, 'session-valid');
    const refreshed = await refresher.refresh(loaded.handle, loaded.session, request);
    if (refreshed === undefined) {
      const cleared = await context.store.clear(request.jar, context.sessionCookie(request.view, 0));
      const verdict = await start(request, returnTo);
      return { ...verdict, headers: withCookies(verdict.headers, cleared) };
    }
    return redirect(returnTo, 'session-refreshed', refreshed.cookies);
  };

  return { start: startEndpoint, callback, signIn, signOut, userinfo, refresh: refreshEndpoint };
}
