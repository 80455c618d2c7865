/**
 * Session refresh with the provider's refresh token: due when the session is older than
 * `cookie.refresh`, or when the ID token that is forwarded upstream has expired (the upstream never gets
 * an expired token, unlike oauth2-proxy #780). One refresh per session at a time in this process; checks
 * that arrive with the old cookie meanwhile or afterwards reuse the result instead of refreshing again.
 */
import { identityFromClaims } from '../identity/index.js';
import { GenerationalCache, type Session } from '../session/index.js';
import type { GatewayContext } from './context.js';
import type { GatewayRequest } from './types.js';

/** The outcome of a refresh: the new session and the cookies that carry it. */
export interface Refreshed {
  readonly session: Session;
  readonly cookies: readonly string[];
}

/** Refreshes sessions. */
export interface Refresher {
  /** `refresh` when a refresh is due, `relogin` when one is needed but impossible. */
  due(session: Session, nowSeconds: number): 'none' | 'refresh' | 'relogin';
  /** Refreshes; `undefined` when the provider refused (the session is over). */
  refresh(handle: string, session: Session, request: GatewayRequest): Promise<Refreshed | undefined>;
}

/** How long before its `exp` an ID token counts as expired, seconds. */
const EXPIRY_MARGIN = 30;

/** Creates the refresher. */
export function createRefresher(context: GatewayContext): Refresher {
  const { config } = context;
  const refreshAfter = Math.floor(config.cookie.refresh / 1000);
  const forwardsIdToken = config.identityHeaders.authorization;
  const inFlight = new Map<string, Promise<Refreshed | undefined>>();
  const done = new GenerationalCache<Refreshed>(10_000);

  const run = async (session: Session, request: GatewayRequest): Promise<Refreshed | undefined> => {
    const refreshToken = session.refreshToken;
    if (refreshToken === undefined) return undefined;
    try {
      const tokens = await context.oidc.refresh(refreshToken, { sub: session.identity.sub, issuer: session.identity.issuer });
      const now = context.nowSeconds();
      // Claims are read again when the provider sends a new ID token, so a user removed from a group
      // loses access at the next refresh (SESS-14); without one, the identity stays as it was.
      const identity = tokens.claims === undefined ? session.identity : identityFromClaims(tokens.claims, config.provider.claims, 'session');
      const next: Session = {
        ...session,
        identity,
        refreshedAt: now,
        ...(session.idToken === undefined || tokens.idToken === undefined ? {} : { idToken: tokens.idToken, idTokenExpiresAt: tokens.idTokenExpiresAt ?? 0 }),
        ...(session.accessToken === undefined ? {} : { accessToken: tokens.accessToken }),
        refreshToken: tokens.refreshToken ?? refreshToken,
      };
      if (forwardsIdToken && next.idTokenExpiresAt !== undefined && next.idTokenExpiresAt - EXPIRY_MARGIN <= now) {
        // The provider refreshed but gave no fresh ID token, and an expired one must not go upstream.
        context.loggers.auth.warn({ requestId: request.requestId, reason: 'session-refresh-no-id-token' }, 'refresh brought no new ID token; a new login is needed');
        return undefined;
      }
      const cookies = await context.store.save(next, request.jar, context.sessionCookie(request.view, next.expiresAt - now));
      context.loggers.auth.info({ requestId: request.requestId, user: identity.email }, 'session refreshed');
      return { session: next, cookies };
    } catch (error) {
      context.loggers.auth.warn({ requestId: request.requestId, reason: 'session-refresh-failed', detail: error instanceof Error ? error.message : String(error) }, 'session refresh failed; the session ends');
      return undefined;
    }
  };

  return {
    due(session, nowSeconds) {
      const tokenExpired = forwardsIdToken && session.idTokenExpiresAt !== undefined && session.idTokenExpiresAt - EXPIRY_MARGIN <= nowSeconds;
      const old = refreshAfter > 0 && nowSeconds - session.refreshedAt >= refreshAfter;
      if (!tokenExpired && !old) return 'none';
      if (session.refreshToken !== undefined) return 'refresh';
      // Without a refresh token an age-based refresh cannot re-read anything, so it is skipped; an expired
      // token that would be forwarded means a new login.
      return tokenExpired ? 'relogin' : 'none';
    },
    refresh(handle, session, request) {
      const cached = done.get(handle);
      if (cached !== undefined && refresherStillFresh(cached.session, context.nowSeconds())) return Promise.resolve(cached);
      const running = inFlight.get(handle);
      if (running !== undefined) return running;
      const started = run(session, request).then((result) => {
        inFlight.delete(handle);
        if (result !== undefined) done.set(handle, result);
        return result;
      });
      inFlight.set(handle, started);
      return started;
    },
  };

  function refresherStillFresh(session: Session, nowSeconds: number): boolean {
    return (refreshAfter === 0 || nowSeconds - session.refreshedAt < refreshAfter) && !(forwardsIdToken && session.idTokenExpiresAt !== undefined && session.idTokenExpiresAt - EXPIRY_MARGIN <= nowSeconds);
  }
}
