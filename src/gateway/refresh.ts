/**
 * Session refresh with the provider's refresh token: due when the session is older than
 * `cookie.refresh`, or when the ID token that is forwarded upstream has expired (the upstream never gets
 * an expired token, unlike oauth2-proxy #780). One refresh per session at a time in this process; checks
 * that arrive with the old cookie meanwhile or afterwards reuse the result instead of refreshing again.
 */
import { isGatewayError } from '../errors.js';
import { identityFromClaims } from '../identity/index.js';
import { GenerationalCache, type Session } from '../session/index.js';
import type { GatewayContext } from './context.js';
import type { GatewayRequest } from './types.js';

/** The outcome of a refresh: the new session and the cookies that carry it. */
export interface Refreshed {
  readonly session: Session;
  readonly cookies: readonly string[];
  /** The provider was unreachable; the session was kept as it was and is not cached as refreshed. */
  readonly retryLater?: boolean;
}

/** Refreshes sessions. */
export interface Refresher {
  /** `refresh` when a refresh is due, `relogin` when one is needed but impossible. */
  due(session: Session, nowSeconds: number): 'none' | 'refresh' | 'relogin';
  /** True when the session's ID token is forwarded upstream and has expired (or is about to). */
  forwardedTokenExpired(session: Session, nowSeconds: number): boolean;
  /** Refreshes; `undefined` when the provider refused (the session is over). */
  refresh(handle: string, session: Session, request: GatewayRequest): Promise<Refreshed | undefined>;
  /**
   * Refreshes, but waits at most `budgetMs`: after that the current session is returned and the refresh
   * finishes in the background (its result serves the next checks). `undefined` when the provider refused.
   */
  refreshWithin(handle: string, session: Session, request: GatewayRequest, budgetMs: number): Promise<Refreshed | undefined>;
}

/**
 * How much longer than the provider's timeout a refresh lease lasts in a shared store, ms: the lease must
 * outlast the whole refresh (the provider's answer, then the store's writes), or a second replica would
 * use the same refresh token, which a provider with refresh-token rotation treats as theft.
 */
const LEASE_MARGIN_MS = 5000;
/** How long the other replicas wait for the lease holder's result, ms. */
const WAIT_MS = 2000;
const POLL_MS = 50;

/** How long to wait before asking an unreachable provider again for the same session, ms. */
const RETRY_MS = 30_000;

/** How long before its `exp` an ID token counts as expired, seconds. */
const EXPIRY_MARGIN = 30;

/** Creates the refresher. */
export function createRefresher(context: GatewayContext): Refresher {
  const { config } = context;
  const refreshAfter = Math.floor(config.cookie.refresh / 1000);
  const forwardsIdToken = config.identityHeaders.authorization;
  const leaseMs = config.provider.timeout + LEASE_MARGIN_MS;
  const inFlight = new Map<string, Promise<Refreshed | undefined>>();
  const done = new GenerationalCache<Refreshed>(10_000);
  const failed = new GenerationalCache<true>(10_000);
  const retryAfter = new GenerationalCache<number>(10_000);

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
      const attributes = context.sessionCookie(request.view, next.expiresAt - now);
      const cookies = await (context.store.replace === undefined ? context.store.save(next, request.jar, attributes) : context.store.replace(next, request.jar, attributes));
      context.loggers.auth.info({ requestId: request.requestId, user: identity.email }, 'session refreshed');
      return { session: next, cookies };
    } catch (error) {
      // A store outage is a 503, never a logout (SESS-11).
      if (isGatewayError(error, 'ERR_SESSION_STORE_UNAVAILABLE')) throw error;
      if (isGatewayError(error, 'ERR_SESSION_ENDED')) {
        // Signed out or revoked while the provider answered: the refresh is dropped, the session is over.
        context.loggers.auth.info({ requestId: request.requestId, reason: 'session-ended-during-refresh' }, 'the session ended while it was being refreshed');
        return undefined;
      }
      if (isGatewayError(error, 'ERR_OIDC_UNAVAILABLE')) {
        // The provider is unreachable: keep the session while what it forwards is still valid.
        context.loggers.auth.warn({ requestId: request.requestId, reason: 'session-refresh-unavailable', detail: error.message }, 'the provider could not be reached to refresh a session; trying again later');
        const now = context.nowSeconds();
        const usable = !forwardsIdToken || session.idTokenExpiresAt === undefined || session.idTokenExpiresAt - EXPIRY_MARGIN > now;
        return usable ? { session, cookies: [], retryLater: true } : undefined;
      }
      context.loggers.auth.warn({ requestId: request.requestId, reason: 'session-refresh-failed', detail: error instanceof Error ? error.message : String(error) }, 'session refresh failed; the session ends');
      return undefined;
    }
  };

  /**
   * With a shared store, one replica refreshes at a time: it takes a lease in the store; the others wait
   * briefly for its result and use it (SESS refresh race), or keep the current tokens while they are valid.
   */
  const coordinated = async (handle: string, session: Session, request: GatewayRequest): Promise<Refreshed | undefined> => {
    const { lock, unlock, reload } = context.store;
    if (lock === undefined || unlock === undefined || reload === undefined) return run(session, request);
    const newer = async (): Promise<Session | undefined | null> => {
      const current = await reload(handle, context.nowSeconds());
      if (current.kind !== 'session') return null;
      return current.session.refreshedAt > session.refreshedAt ? current.session : undefined;
    };
    if (await lock(handle, leaseMs)) {
      try {
        // Another replica may have finished a refresh just before this one took the lease.
        const done = await newer();
        if (done === null) return undefined;
        if (done !== undefined) return { session: done, cookies: [] };
        return await run(session, request);
      } finally {
        await unlock(handle);
      }
    }
    for (let waited = 0; waited < WAIT_MS; waited += POLL_MS) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const done = await newer();
      if (done === null) return undefined;
      if (done !== undefined) return { session: done, cookies: [] };
    }
    // The other replica is slow: keep the current session while its forwarded token is still valid.
    const tokenExpired = forwardsIdToken && session.idTokenExpiresAt !== undefined && session.idTokenExpiresAt - EXPIRY_MARGIN <= context.nowSeconds();
    return tokenExpired ? undefined : { session, cookies: [] };
  };

  const forwardedTokenExpired = (session: Session, nowSeconds: number): boolean => forwardsIdToken && session.idTokenExpiresAt !== undefined && session.idTokenExpiresAt - EXPIRY_MARGIN <= nowSeconds;

  return {
    forwardedTokenExpired,
    due(session, nowSeconds) {
      const tokenExpired = forwardedTokenExpired(session, nowSeconds);
      const old = refreshAfter > 0 && nowSeconds - session.refreshedAt >= refreshAfter;
      if (!tokenExpired && !old) return 'none';
      if (session.refreshToken !== undefined) return 'refresh';
      // Without a refresh token an age-based refresh cannot re-read anything, so it is skipped; an expired
      // token that would be forwarded means a new login.
      return tokenExpired ? 'relogin' : 'none';
    },
    async refreshWithin(handle, session, request, budgetMs) {
      const cached = done.get(handle);
      // A remembered result serves only while it is still fresh and newer than what the store holds (with
      // Redis the handle outlives many refreshes, some by other replicas).
      if (cached !== undefined && cached.session.refreshedAt >= session.refreshedAt && refresherStillFresh(cached.session, context.nowSeconds())) return cached;
      // The provider refused this session's refresh: it is over.
      if (failed.get(handle) !== undefined) return undefined;
      // The provider was down a moment ago: do not ask it again on every check.
      if ((retryAfter.get(handle) ?? 0) > context.now()) return { session, cookies: [] };
      const running = this.refresh(handle, session, request);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), budgetMs);
      });
      const first = await Promise.race([running, late]);
      clearTimeout(timer);
      if (first !== 'late') return first;
      running.catch((error: unknown) => {
        context.loggers.auth.warn({ requestId: request.requestId, detail: error instanceof Error ? error.message : String(error) }, 'background refresh failed');
      });
      return { session, cookies: [] };
    },
    refresh(handle, session, request) {
      const cached = done.get(handle);
      if (cached !== undefined && cached.session.refreshedAt >= session.refreshedAt && refresherStillFresh(cached.session, context.nowSeconds())) return Promise.resolve(cached);
      const running = inFlight.get(handle);
      if (running !== undefined) return running;
      const started = coordinated(handle, session, request)
        .then((result) => {
          if (result === undefined) failed.set(handle, true);
          else if (result.retryLater === true) retryAfter.set(handle, context.now() + RETRY_MS);
          else done.set(handle, result);
          return result;
        })
        .finally(() => inFlight.delete(handle));
      inFlight.set(handle, started);
      return started;
    },
  };

  function refresherStillFresh(session: Session, nowSeconds: number): boolean {
    return (refreshAfter === 0 || nowSeconds - session.refreshedAt < refreshAfter) && !(forwardsIdToken && session.idTokenExpiresAt !== undefined && session.idTokenExpiresAt - EXPIRY_MARGIN <= nowSeconds);
  }
}
