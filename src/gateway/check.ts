/**
 * The forward-auth check: authenticate (bearer token, then session cookie), refresh when due,
 * authorize, and answer. This is the hot path: a valid session cookie is answered from memory after the
 * first time it is seen, with no I/O and no allocation beyond the answer's headers.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { identityFromClaims, type Identity } from '../identity/index.js';
import { bearerTokenOf } from '../jwt/index.js';
import { authorizeIdentity, authorizeQuery, parseQueryConstraints, type Decision } from '../policy/email-policy.js';
import { matchesSkipAuthRoute } from '../policy/regex.js';
import type { LoadResult, Session } from '../session/index.js';
import { forbiddenPage, json, redirect, text, withCookies } from './answers.js';
import type { GatewayContext } from './context.js';
import { identityHeaders } from './headers.js';
import type { Refresher } from './refresh.js';
import type { GatewayRequest, Verdict } from './types.js';

/** `proxy`: any path outside `/oauth2/` (may redirect). `auth`: `/oauth2/auth` (never redirects). */
export type CheckMode = 'proxy' | 'auth';

/** Renders the allowed answer; the demo page replaces the bare status in development mode. */
export type AllowRenderer = (request: GatewayRequest, identity: Identity, headers: OutgoingHttpHeaders) => Verdict;

const ANONYMOUS: Identity = Object.freeze({ sub: '', email: '', emailVerified: false, groups: [], username: '', issuer: '', authMethod: 'session' });

const firstHeader = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/**
 * True when the request comes from a script or API client rather than a person navigating: it gets a
 * 401, never a redirect to a login page it cannot follow (oauth2-proxy #1393, OIDC-02).
 */
export function isApiRequest(context: GatewayContext, request: GatewayRequest): boolean {
  if (context.config.forwardAuth.forceJsonErrors) return true;
  const headers = request.headers;
  const mode = firstHeader(headers['sec-fetch-mode']);
  if (mode !== undefined) {
    if (mode !== 'navigate') return true;
  } else {
    if (firstHeader(headers['x-requested-with'])?.toLowerCase() === 'xmlhttprequest') return true;
    const accept = firstHeader(headers.accept) ?? '';
    if (!accept.includes('text/html')) return true;
  }
  const path = request.view.uri;
  return context.apiRoutes.some((route) => route.test(path));
}

/** Creates the check. */
export function createCheck(context: GatewayContext, refresher: Refresher, renderAllow: AllowRenderer) {
  const { config } = context;
  const headerOptions = config.identityHeaders;

  const authorize = (identity: Identity, request: GatewayRequest): Decision => {
    const decision = authorizeIdentity(identity, context.emailPolicy, context.emailsFromFile);
    if (!decision.allow) return decision;
    if (request.endpointSearch === '') return decision;
    const constraints = parseQueryConstraints(request.query);
    return constraints === undefined ? decision : authorizeQuery(identity, constraints);
  };

  const unauthenticated = (request: GatewayRequest, mode: CheckMode, reason: string, cookies: readonly string[]): Verdict => {
    const { view } = request;
    if (mode === 'auth') {
      const login = `${context.originOf(view)}/oauth2/start?rd=${encodeURIComponent(context.returnToFor(view))}`;
      return { ...text(401, 'Unauthorized', 'deny', reason, { 'x-gatehouse-reason': reason, 'x-gatehouse-login': login }), headers: withCookies({ 'content-type': 'text/plain; charset=utf-8', 'x-gatehouse-reason': reason, 'x-gatehouse-login': login }, cookies) };
    }
    if (isApiRequest(context, request)) {
      const verdict = json(401, { error: 'unauthenticated', reason }, 'deny', reason, { 'x-gatehouse-reason': reason, 'www-authenticate': 'Bearer' });
      return { ...verdict, headers: withCookies(verdict.headers, cookies) };
    }
    const returnTo = context.returnToFor(view);
    const target = config.forwardAuth.skipProviderButton ? 'start' : 'sign_in';
    // Absolute: Traefik resolves a relative Location against its auth address, not the original host.
    return redirect(`${context.originOf(view)}/oauth2/${target}?rd=${encodeURIComponent(returnTo)}`, reason, cookies);
  };

  const forbidden = (request: GatewayRequest, mode: CheckMode, identity: Identity, reason: string): Verdict => {
    if (mode === 'auth') return text(403, 'Forbidden', 'deny', reason, { 'x-gatehouse-reason': reason });
    if (isApiRequest(context, request)) return json(403, { error: 'forbidden', reason }, 'deny', reason, { 'x-gatehouse-reason': reason });
    const back = context.returnToFor(request.view);
    const switchUrl = `${context.originOf(request.view)}/oauth2/sign_out?rd=${encodeURIComponent(`/oauth2/start?prompt=login&rd=${encodeURIComponent(back)}`)}`;
    return { ...forbiddenPage(reason, identity.email === '' ? identity.sub : identity.email, switchUrl, request.requestId), user: identity.email };
  };

  const allow = (request: GatewayRequest, mode: CheckMode, identity: Identity, session: Pick<Session, 'idToken' | 'accessToken'>, reason: string, cookies: readonly string[]): Verdict => {
    const headers = withCookies(identityHeaders(identity, session, headerOptions), cookies);
    const verdict: Verdict = mode === 'auth' ? { status: 202, headers, body: '', outcome: 'allow', reason } : renderAllow(request, identity, headers);
    return { ...verdict, reason, user: identity.email === '' ? identity.sub : identity.email };
  };

  const checkBearer = async (request: GatewayRequest, mode: CheckMode, token: string): Promise<Verdict> => {
    const bearer = context.bearer;
    if (bearer === undefined) return unauthenticated(request, mode, 'bearer-not-accepted', []);
    try {
      const claims = await bearer.verify(token);
      const identity = identityFromClaims(claims, config.provider.claims, 'bearer');
      const decision = authorize(identity, request);
      if (!decision.allow) return forbidden(request, mode, identity, decision.reason);
      return allow(request, mode, identity, { idToken: token }, 'bearer-valid', []);
    } catch (error) {
      const description = error instanceof Error ? error.message : 'invalid token';
      context.loggers.auth.info({ requestId: request.requestId, reason: 'bearer-invalid', detail: description }, 'bearer token rejected');
      // An invalid bearer never falls back to the cookie (POL-20): the caller meant the token.
      return json(401, { error: 'invalid_token', reason: 'bearer-invalid' }, 'deny', 'bearer-invalid', {
        'www-authenticate': `Bearer error="invalid_token", error_description="${description.replace(/["\\]/g, '')}"`,
        'x-gatehouse-reason': 'bearer-invalid',
      });
    }
  };

  return async function check(request: GatewayRequest, mode: CheckMode): Promise<Verdict> {
    const { view } = request;
    const path = view.uri.split('?')[0] ?? '/';
    const skipped = context.skipAuthRoutes.some((route) => matchesSkipAuthRoute(route, view.method, path));

    const authorization = firstHeader(request.headers.authorization);
    const token = bearerTokenOf(authorization);
    if (token !== undefined && context.bearer !== undefined && !skipped) return checkBearer(request, mode, token);

    const now = context.nowSeconds();
    const loaded: LoadResult = context.store.loadSync?.(request.jar, now) ?? (await context.store.load(request.jar, now));
    if (skipped) {
      // Public route: allowed, with the identity headers of a session if there is one (oauth2-proxy does
      // the same), and empty ones otherwise so the proxy still overwrites whatever the client sent.
      const session = loaded.kind === 'session' ? loaded.session : undefined;
      return allow(request, mode, session?.identity ?? ANONYMOUS, session ?? {}, 'skip-auth-route', []);
    }
    if (loaded.kind === 'none') return unauthenticated(request, mode, 'user-unauthenticated', []);
    if (loaded.kind === 'invalid') {
      context.loggers.auth.info({ requestId: request.requestId, reason: loaded.reason }, 'session cookie not usable');
      const cleared = await context.store.clear(request.jar, context.sessionCookie(view, 0));
      return unauthenticated(request, mode, loaded.reason, cleared);
    }

    let { session } = loaded;
    let cookies: readonly string[] = [];
    const due = refresher.due(session, now);
    if (due === 'relogin') {
      const cleared = await context.store.clear(request.jar, context.sessionCookie(view, 0));
      return unauthenticated(request, mode, 'session-token-expired', cleared);
    }
    if (due === 'refresh') {
      const navigation = mode === 'proxy' && (view.method === 'GET' || view.method === 'HEAD') && !isApiRequest(context, request);
      if (navigation) {
        // Proxies drop Set-Cookie from a 2xx auth answer; a round trip through /oauth2/ delivers it.
        return redirect(`${context.originOf(view)}/oauth2/refresh?rd=${encodeURIComponent(context.returnToFor(view))}`, 'session-refresh');
      }
      const refreshed = await refresher.refresh(loaded.handle, session, request);
      if (refreshed === undefined) {
        const cleared = await context.store.clear(request.jar, context.sessionCookie(view, 0));
        return unauthenticated(request, mode, 'session-refresh-failed', cleared);
      }
      session = refreshed.session;
      cookies = refreshed.cookies;
    } else if (loaded.stale) {
      cookies = await context.store.save(session, request.jar, context.sessionCookie(view, session.expiresAt - now));
    }

    const decision = authorize(session.identity, request);
    if (!decision.allow) return forbidden(request, mode, session.identity, decision.reason);
    return allow(request, mode, session.identity, session, 'session-valid', cookies);
  };
}
