/** What every gateway action shares: the frozen configuration, the parts built from it, and small helpers. */
import type { Config } from '../config/index.js';
import type { BearerProfile, BearerVerifier, SharedDenyList } from '../jwt/index.js';
import type { Loggers } from '../log/index.js';
import type { OidcClient } from '../oidc/index.js';
import type { EmailPolicy } from '../policy/email-policy.js';
import type { OperatorRegex } from '../policy/regex.js';
import type { PolicySet } from '../policy/routes.js';
import { compileHosts } from '../policy/matchers/host.js';
import { chooseCookieDomain, type CookieAttributes, type LoginTransactions, type SessionStore } from '../session/index.js';
import type { RequestView } from './types.js';

/** The parts a gateway is built from. */
export interface GatewayDeps {
  readonly config: Config;
  /** The embedded development provider is in use: plain http is fine, the demo page is the upstream. */
  readonly devMode: boolean;
  readonly store: SessionStore;
  readonly transactions: LoginTransactions;
  readonly oidc: OidcClient;
  /** The redirect allow-list check (`validateRedirect` bound to the configured domains). */
  readonly validateRedirect: (target: string) => string | undefined;
  readonly emailPolicy: EmailPolicy;
  /** Addresses from `authorization.emailsFile`. */
  readonly emailsFromFile: ReadonlySet<string>;
  readonly bearer: BearerVerifier | undefined;
  /** Named bearer-token profiles, by name. */
  readonly bearerProfiles: ReadonlyMap<string, BearerProfile>;
  /** The deny-list shared through Redis (with the Redis store); the provider's tokens use its `provider` list. */
  readonly sharedDenyList?: Pick<SharedDenyList, 'denies'>;
  /** The compiled routes and named policies. */
  readonly policySet: PolicySet;
  readonly apiRoutes: readonly OperatorRegex[];
  readonly loggers: Loggers;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

/** Shared helpers over the deps. */
export interface GatewayContext extends GatewayDeps {
  nowSeconds(): number;
  /** `https://host[:port]` of the original request. */
  originOf(view: RequestView): string;
  /** Attributes of the session cookie for this request's host. */
  sessionCookie(view: RequestView, maxAgeSeconds: number): CookieAttributes;
  /** Attributes of a login-transaction cookie. */
  transactionCookie(view: RequestView): CookieAttributes;
  /** The OAuth `redirect_uri` for a login started on this request. */
  redirectUriFor(view: RequestView): string;
  /** Where to send the browser back after a login that this request starts. */
  returnToFor(view: RequestView): string;
  /**
   * True when the request's host is one of the deployment's own, so gatehouse may send a browser there
   * and build a callback URL on it (FWD-03): see {@link createContext}.
   */
  hostAllowed(view: RequestView): boolean;
}

/** The callback path, the only place the provider sends browsers back to. */
export const CALLBACK_PATH = '/oauth2/callback';

/** Builds the shared context. */
export function createContext(deps: GatewayDeps): GatewayContext {
  const { config } = deps;
  const secure = (view: RequestView) => (deps.devMode ? view.scheme === 'https' : config.cookie.secure);
  const authorityOf = (view: Pick<RequestView, 'host' | 'port'>) => `${view.host.includes(':') ? `[${view.host}]` : view.host}${view.port === undefined ? '' : `:${view.port}`}`;
  const originOf = (view: RequestView) => `${view.scheme}://${authorityOf(view)}`;
  // The proxy forwards whatever Host a client sent, so a host is the deployment's own only when the
  // redirect allow-list (cookie.domains, proxy.allowedRedirectDomains) accepts it or a route names it. With
  // none of those configured there is nothing to tell by, and every host is accepted (a warning at start
  // says so), as with oauth2-proxy; so is every host of the development provider's loopback set-up.
  const namedHosts = compileHosts(config.routes.flatMap((route) => route.hosts ?? []));
  const anyHost = deps.devMode || (config.cookie.domains.length === 0 && config.proxy.allowedRedirectDomains.length === 0 && !config.routes.some((route) => (route.hosts ?? []).length > 0));
  return {
    ...deps,
    nowSeconds: () => Math.floor(deps.now() / 1000),
    originOf,
    sessionCookie: (view, maxAgeSeconds) => ({
      domain: chooseCookieDomain(view.host, config.cookie.domains),
      path: config.cookie.path,
      maxAge: maxAgeSeconds,
      secure: secure(view),
      httpOnly: config.cookie.httpOnly,
      sameSite: config.cookie.sameSite,
    }),
    // Host-only: the login starts on the host of its callback, and nothing else reads it.
    transactionCookie: (view) => ({
      domain: undefined,
      path: '/oauth2/',
      maxAge: Math.floor(config.cookie.csrfExpire / 1000),
      secure: secure(view),
      httpOnly: true,
      // The provider sends the browser back with a cross-site top-level GET: Lax cookies travel, Strict ones do not.
      sameSite: config.cookie.sameSite === 'none' ? 'none' : 'lax',
    }),
    redirectUriFor: (view) => {
      const configured = config.proxy.redirectUrl === '' ? CALLBACK_PATH : config.proxy.redirectUrl;
      if (!configured.startsWith('/')) return configured;
      // oauth2-proxy: cookie_secure forces https in a relative callback URL.
      const scheme = deps.devMode || !config.cookie.secure ? view.scheme : 'https';
      return `${scheme}://${authorityOf(view)}${configured}`;
    },
    returnToFor: (view) => deps.validateRedirect(`${originOf(view)}${view.uri}`) ?? deps.validateRedirect(view.uri) ?? '/',
    // The host is what counts (cookies ignore ports; an allow-list entry may name one): https whatever the
    // request's scheme, since the question is the host, not a downgrade.
    hostAllowed: (view) =>
      anyHost || namedHosts(view.host) || deps.validateRedirect(`https://${authorityOf({ host: view.host, port: undefined })}/`) !== undefined || deps.validateRedirect(`https://${authorityOf(view)}/`) !== undefined,
  };
}
