/**
 * The forward-auth check: normalize the path, select the route (or the policy the proxy names), then
 * authenticate the way that route accepts (bearer token or session cookie, refreshing when due), then
 * authorize, and answer. This is the hot path: a valid session cookie is answered from memory after the
 * first time it is seen, with no I/O.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { isGatewayError } from '../errors.js';
import { identityFromClaims, type Identity } from '../identity/index.js';
import { bearerTokenOf, PROVIDER_LIST, type BearerProfile, type ProfileResult, type TemplateRequest, type TokenCarrier, type TokenMemo } from '../jwt/index.js';
import { authorizeIdentity, authorizeQuery, parseQueryConstraints, type Decision } from '../policy/email-policy.js';
import { normalizePath } from '../policy/path.js';
import { evaluatePolicy, type CompiledPolicy, type PolicyRequest } from '../policy/requirements.js';
import { GenerationalCache, remembered, type LoadResult, type Session } from '../session/index.js';
import { decided, forbiddenPage, hostRefusedPage, json, redirect, text, withCookies, withHeaders } from './answers.js';
import type { GatewayContext } from './context.js';
import { identityHeaders } from './headers.js';
import type { Refresher } from './refresh.js';
import type { GatewayRequest, Verdict } from './types.js';

/**
 * `proxy`: any path outside `/oauth2/` (may redirect; allows with `forwardAuth.status`). `auth`:
 * `/oauth2/auth` (never redirects; allows with 202). `envoy`: Envoy's ext_authz (may redirect; allows with
 * exactly 200, since Envoy denies every other status).
 */
export type CheckMode = 'proxy' | 'auth' | 'envoy';

/** Renders the allowed answer; the demo page replaces the bare status in development mode. */
export type AllowRenderer = (request: GatewayRequest, identity: Identity, headers: OutgoingHttpHeaders) => Verdict;

/** How long a check waits for a due refresh while the current tokens are still valid, ms. */
const REFRESH_BUDGET_MS = 120;

const ANONYMOUS: Identity = Object.freeze({ sub: '', email: '', emailVerified: false, groups: [], username: '', issuer: '', authMethod: 'session' });
const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({});

const firstHeader = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** The check URL's own parameters: the proxy's choice of policy, and oauth2-proxy's `/oauth2/auth` constraints. */
const CHECK_PARAMETERS = ['policy', 'allowed_groups', 'allowed_emails', 'allowed_email_domains'];

/** Where a request carries a bearer token, for a profile to read: one object per check, methods shared. */
class RequestCarrier implements TokenCarrier {
  constructor(readonly request: GatewayRequest) {}

  header(name: string): string | undefined {
    return firstHeader(this.request.headers[name]);
  }

  cookie(name: string): string | undefined {
    return this.request.jar.get(name)?.[0];
  }

  query(name: string): string | undefined {
    const uri = this.request.view.uri;
    const at = uri.indexOf('?');
    return at === -1 ? undefined : (new URLSearchParams(uri.slice(at)).get(name) ?? undefined);
  }
}

/**
 * A request's fields for jwt-middleware templates and source binding. `Host` and `URL` are built when a
 * template first reads them: most profiles have no template, and a token check should not build strings
 * nobody reads.
 */
class TemplateFields implements TemplateRequest {
  #host: string | undefined;

  constructor(readonly view: GatewayRequest['view']) {}

  get Method(): string {
    return this.view.method;
  }

  get Host(): string {
    this.#host ??= this.view.port === undefined ? this.view.host : `${this.view.host}:${this.view.port}`;
    return this.#host;
  }

  get Path(): string {
    return this.view.uri;
  }

  get Scheme(): string {
    return this.view.scheme;
  }

  get URL(): string {
    return `${this.view.scheme}://${this.Host}${this.view.uri}`;
  }

  get ip(): string {
    return this.view.clientIp;
  }
}

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
  const uri = request.view.uri;
  return context.apiRoutes.some((route) => route.test(uri));
}

/** Creates the check. */
export function createCheck(context: GatewayContext, refresher: Refresher, renderAllow: AllowRenderer) {
  const { config } = context;
  const headerOptions = config.identityHeaders;
  const reasonHeaders = (reason: string): OutgoingHttpHeaders => ({ 'x-gatehouse-reason': reason });
  // Every header a bearer profile's headerMap sets, empty on every other allowed answer (a session, a
  // public route, the provider's tokens, another profile's token): a proxy told to copy them (Envoy's
  // allowed_upstream_headers, Traefik's authResponseHeaders) replaces only what the answer carries, so a
  // client's own `X-Device` would otherwise reach the application. `Authorization` is left out: emptying the
  // request's own credentials is `forwardToken`'s business.
  const mappedNames = [...new Set([...context.bearerProfiles.values()].flatMap((profile) => profile.headerNames))].filter((name) => name !== 'authorization');
  const withMappedHeaders = (headers: OutgoingHttpHeaders): OutgoingHttpHeaders => {
    for (const name of mappedNames) if (!Object.hasOwn(headers, name)) headers[name] = '';
    return headers;
  };
  const upstreamHeaders = (identity: Identity, tokens: { idToken?: string | undefined; accessToken?: string | undefined }): OutgoingHttpHeaders => withMappedHeaders(identityHeaders(identity, tokens, headerOptions));
  const anonymousHeaders = Object.freeze(upstreamHeaders(ANONYMOUS, {}));

  /**
   * A 403 in the form its reader takes: text for nginx's `/oauth2/auth`, JSON for scripts and API clients
   * (and whenever `asJson`), else the page `render` makes for a person.
   */
  const refusal = (request: GatewayRequest, mode: CheckMode, reason: string, headers: OutgoingHttpHeaders, render: () => Verdict, asJson = false): Verdict => {
    if (mode === 'auth') return text(403, 'Forbidden', 'deny', reason, headers);
    if (asJson || isApiRequest(context, request)) return json(403, { error: 'forbidden', reason }, 'deny', reason, headers);
    return render();
  };

  /** 403 for a request whose host the configuration does not name (FWD-03). */
  const hostRefused = (request: GatewayRequest, mode: CheckMode, cookies: readonly string[]): Verdict => {
    const headers = withCookies(reasonHeaders('host-not-allowed'), cookies);
    return refusal(request, mode, 'host-not-allowed', headers, () => hostRefusedPage(request.requestId, headers));
  };

  const unauthenticated = (request: GatewayRequest, mode: CheckMode, reason: string, cookies: readonly string[], policy: CompiledPolicy): Verdict => {
    const { view } = request;
    // A route that accepts only bearer tokens never sends anyone to a login page.
    if (!policy.auth.session) {
      return json(401, { error: 'unauthenticated', reason }, 'deny', reason, withCookies({ 'x-gatehouse-reason': reason, 'www-authenticate': 'Bearer realm="gatehouse"' }, cookies));
    }
    // FWD-03: never a login (or a redirect to one) on a host that is not the deployment's own.
    if (!context.hostAllowed(view)) return hostRefused(request, mode, cookies);
    if (mode === 'auth') {
      const login = `${context.originOf(view)}/oauth2/start?rd=${encodeURIComponent(context.returnToFor(view))}`;
      return text(401, 'Unauthorized', 'deny', reason, withCookies({ 'x-gatehouse-reason': reason, 'x-gatehouse-login': login }, cookies));
    }
    if (isApiRequest(context, request)) {
      return json(401, { error: 'unauthenticated', reason }, 'deny', reason, withCookies({ 'x-gatehouse-reason': reason, 'www-authenticate': 'Bearer' }, cookies));
    }
    const returnTo = context.returnToFor(view);
    const target = config.forwardAuth.skipProviderButton ? 'start' : 'sign_in';
    // Absolute: Traefik resolves a relative Location against its auth address, not the original host.
    return redirect(`${context.originOf(view)}/oauth2/${target}?rd=${encodeURIComponent(returnTo)}`, reason, cookies);
  };

  const forbidden = (request: GatewayRequest, mode: CheckMode, identity: Identity, reason: string): Verdict => {
    const user = identity.email === '' ? identity.sub : identity.email;
    const page = () => {
      // The page on this host, relative: sign-out refuses a target whose query carries a URL (REDIR-22), so
      // an absolute one nested in its rd would send the browser to / and lose the page and prompt=login.
      const back = new URL(context.returnToFor(request.view), context.originOf(request.view));
      const switchUrl = `${context.originOf(request.view)}/oauth2/sign_out?rd=${encodeURIComponent(`/oauth2/start?prompt=login&rd=${encodeURIComponent(`${back.pathname}${back.search}`)}`)}`;
      return withHeaders(forbiddenPage(reason, user === '' ? 'nobody' : user, switchUrl, request.requestId), reasonHeaders(reason));
    };
    // A bearer token's caller is a program: JSON even when it navigates.
    return decided(refusal(request, mode, reason, reasonHeaders(reason), page, identity.authMethod === 'bearer'), undefined, user);
  };

  // A session opens to the same Session object on every check while the store's cache holds it, so what
  // depends on the session alone (the global authorization and the identity headers) is worked out once.
  const sessionGlobal = new WeakMap<Identity, Decision>();
  const sessionHeaders = new WeakMap<Session, OutgoingHttpHeaders>();
  const globalDecisionOf = (identity: Identity): Decision => authorizeIdentity(identity, context.emailPolicy, context.emailsFromFile);
  // Frozen: shared by every answer for this session, so nothing downstream may change it.
  const sealedHeaders = (session: Session): OutgoingHttpHeaders => Object.freeze(upstreamHeaders(session.identity, session));
  const globalDecisionOfSession = (session: Session): Decision => remembered(sessionGlobal, session.identity, globalDecisionOf);
  const headersOfSession = (session: Session): OutgoingHttpHeaders => remembered(sessionHeaders, session, sealedHeaders);

  const allow = (request: GatewayRequest, mode: CheckMode, identity: Identity, identityHeaderValues: OutgoingHttpHeaders, reason: string, cookies: readonly string[]): Verdict => {
    const headers = withCookies(identityHeaderValues, cookies);
    const user = identity.email === '' ? identity.sub : identity.email;
    if (mode !== 'proxy') return { status: mode === 'auth' ? 202 : 200, headers, body: '', outcome: 'allow', reason, user };
    const rendered = renderAllow(request, identity, headers);
    return { status: rendered.status, headers: rendered.headers, body: rendered.body, outcome: rendered.outcome, reason, user };
  };

  /**
   * Global authorization (oauth2-proxy's; `global` is its decision for identities from the provider,
   * undefined for bearer profiles), then query constraints, then the route's policy.
   */
  const authorize = (request: GatewayRequest, mode: CheckMode, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest, identity: Identity, claims: Readonly<Record<string, unknown>>, global: Decision | undefined): { allow: true } | { allow: false; verdict: Verdict } => {
    let reason: string | undefined;
    if (global !== undefined && !global.allow) reason = global.reason;
    if (reason === undefined && request.endpointSearch !== '') {
      const constraints = parseQueryConstraints(request.query);
      const decision = constraints === undefined ? { allow: true as const } : authorizeQuery(identity, constraints);
      if (!decision.allow) reason = decision.reason;
    }
    if (reason === undefined) {
      const decision = evaluatePolicy(policy, identity, claims, policyRequest);
      if (!decision.allow) {
        if (policy.audit) {
          context.loggers.auth.warn({ requestId: request.requestId, policy: label, reason: decision.reason, requirement: decision.requirement, user: identity.email }, 'audit: this request would be denied');
          return { allow: true };
        }
        reason = decision.reason;
      }
    }
    return reason === undefined ? { allow: true } : { allow: false, verdict: forbidden(request, mode, identity, reason) };
  };

  /**
   * A description for `WWW-Authenticate` (RFC 6750 §3): printable ASCII without quotes or backslashes, and
   * short. It can quote a token's own header (its `alg`), which must not break the header or the answer.
   */
  const quotable = (description: string): string => description.replace(/[^\x20-\x7e]|["\\]/g, '').slice(0, 200);

  // The same few refusals answer every junk token: built once each, by reason (a few, all gatehouse's own)
  // and description (which can quote a token's header, so that memo is bounded).
  const rejections = new Map<string, GenerationalCache<Verdict>>();
  const bearerRejected = (description: string, reason: string): Verdict => {
    let byDescription = rejections.get(reason);
    if (byDescription === undefined) rejections.set(reason, (byDescription = new GenerationalCache<Verdict>(256)));
    let verdict = byDescription.get(description);
    if (verdict === undefined) {
      verdict = json(401, { error: 'invalid_token', reason }, 'deny', reason, {
        'x-gatehouse-reason': reason,
        'www-authenticate': `Bearer error="invalid_token", error_description="${quotable(description)}"`,
      });
      Object.freeze(verdict.headers);
      if (description.length <= 256) byDescription.set(description, verdict);
    }
    return verdict;
  };

  /** The provider's own tokens (oauth2-proxy `skip_jwt_bearer_tokens`, `extra_jwt_issuers`). */
  const checkProviderBearer = async (request: GatewayRequest, mode: CheckMode, token: string, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest): Promise<Verdict> => {
    const bearer = context.bearer;
    if (bearer === undefined) return bearerRejected('bearer tokens are not accepted', 'bearer-invalid');
    try {
      const claims = await bearer.verify(token);
      // Throws (a 503) while the shared list has never been read, like a profile's token.
      if (context.sharedDenyList?.denies(PROVIDER_LIST, claims.jti, claims.sub) === true) {
        context.loggers.auth.info({ requestId: request.requestId, reason: 'bearer-revoked' }, 'bearer token rejected');
        return bearerRejected('token revoked', 'bearer-revoked');
      }
      const identity = identityFromClaims(claims, config.provider.claims, 'bearer');
      const decision = authorize(request, mode, policy, label, policyRequest, identity, claims, globalDecisionOf(identity));
      if (!decision.allow) return decision.verdict;
      return allow(request, mode, identity, upstreamHeaders(identity, { idToken: token }), 'bearer-valid', []);
    } catch (error) {
      if (isGatewayError(error, 'ERR_SESSION_STORE_UNAVAILABLE')) throw error;
      const description = error instanceof Error ? error.message : 'invalid token';
      context.loggers.auth.info({ requestId: request.requestId, reason: 'bearer-invalid', detail: description }, 'bearer token rejected');
      // An invalid bearer never falls back to the cookie (POL-20): the caller meant the token.
      return bearerRejected(description, 'bearer-invalid');
    }
  };

  /** A named profile's token (jwt-middleware semantics, with gatehouse's stricter checks). */
  const checkProfileBearer = (request: GatewayRequest, mode: CheckMode, profile: BearerProfile, token: string, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest): Verdict | Promise<Verdict> => {
    const facts = new TemplateFields(request.view);
    const checked = profile.check(token, facts);
    return checked instanceof Promise ? checked.then((result) => profileVerdict(request, mode, profile, token, policy, label, policyRequest, facts, result)) : profileVerdict(request, mode, profile, token, policy, label, policyRequest, facts, checked);
  };

  /** The answer for what a profile made of a token. */
  const profileVerdict = (request: GatewayRequest, mode: CheckMode, profile: BearerProfile, token: string, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest, facts: TemplateFields, result: ProfileResult): Verdict => {
    const redirectTo = (template: ((input: typeof facts) => string) | undefined, reason: string): Verdict | undefined => {
      if (template === undefined || mode === 'auth') return undefined;
      try {
        return redirect(template(facts), reason);
      } catch {
        return text(500, 'Internal Server Error', 'error', 'redirect-template-failed');
      }
    };
    if (result.kind === 'invalid' || result.kind === 'absent') {
      const reason = result.kind === 'invalid' ? result.reason : 'bearer-missing';
      const description = result.kind === 'invalid' ? result.description : 'no token';
      context.loggers.auth.info({ requestId: request.requestId, profile: profile.name, reason, detail: description }, 'bearer token rejected');
      return redirectTo(profile.redirectUnauthorized, reason) ?? bearerRejected(description, reason);
    }
    const fromToken = tokenFactsOf(profile, result.claims, result.kind === 'valid' ? result.memo : undefined);
    const { identity } = fromToken;
    if (result.kind === 'forbidden') {
      context.loggers.auth.info({ requestId: request.requestId, profile: profile.name, reason: result.reason, detail: result.description, user: identity.sub }, 'bearer token refused');
      if (result.stale) {
        // jwt-middleware's freshness: an old token might carry the claim once reissued, so 401, not 403.
        return redirectTo(profile.redirectUnauthorized, result.reason) ?? bearerRejected(`${result.description}; the token is older than the freshness window`, result.reason);
      }
      return (
        redirectTo(profile.redirectForbidden ?? profile.redirectUnauthorized, result.reason) ??
        json(403, { error: 'insufficient_scope', reason: result.reason }, 'deny', result.reason, { 'x-gatehouse-reason': result.reason, 'www-authenticate': `Bearer error="insufficient_scope", error_description="${quotable(result.description)}"` })
      );
    }
    const decision = authorize(request, mode, policy, label, policyRequest, identity, result.claims, undefined);
    if (!decision.allow) return decision.verdict;
    return allow(request, mode, identity, bearerHeaders(fromToken, result.claims, token), 'bearer-valid', []);
  };

  // A token in a profile's verified-token cache comes with a memo from its second check on, so the identity
  // and the headers its claims give are worked out once per cached token (the headers when first needed).
  // Kept in the cache entry rather than in a WeakMap keyed by the claims: tens of thousands of WeakMap keys
  // made V8's marking steps take up to 20 ms under a stream of new tokens.
  interface TokenFacts {
    readonly profile: BearerProfile;
    readonly identity: Identity;
    headers?: OutgoingHttpHeaders;
  }
  const tokenFactsOf = (profile: BearerProfile, claims: Readonly<Record<string, unknown>>, memo: TokenMemo | undefined): TokenFacts => {
    const known = memo?.facts as TokenFacts | undefined;
    if (known !== undefined) return known;
    const facts: TokenFacts = { profile, identity: identityFromClaims(claims, profile.claimNames, 'bearer') };
    if (memo !== undefined) memo.facts = facts;
    return facts;
  };
  /** Identity headers, then the profile's `headerMap` (the token goes on, jwt-middleware's forwardToken default, unless blanked). */
  const bearerHeaders = (facts: TokenFacts, claims: Readonly<Record<string, unknown>>, token: string): OutgoingHttpHeaders => {
    if (facts.headers !== undefined) return facts.headers;
    const headers = withMappedHeaders(Object.assign(identityHeaders(facts.identity, { idToken: token }, headerOptions), facts.profile.headersFor(claims)));
    if (facts.profile.blankHeader !== undefined) headers[facts.profile.blankHeader] = '';
    facts.headers = Object.freeze(headers);
    return facts.headers;
  };

  /** Authenticates with the first accepted bearer profile whose token the request carries. */
  const checkBearer = (request: GatewayRequest, mode: CheckMode, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest): Verdict | Promise<Verdict> | undefined => {
    const carrier = new RequestCarrier(request);
    for (const name of policy.auth.bearer) {
      if (name === 'provider') {
        const token = bearerTokenOf(firstHeader(request.headers.authorization));
        if (token !== undefined) return checkProviderBearer(request, mode, token, policy, label, policyRequest);
        continue;
      }
      const profile = context.bearerProfiles.get(name);
      if (profile === undefined) continue;
      const token = profile.extract(carrier);
      if (token !== undefined) return checkProfileBearer(request, mode, profile, token, policy, label, policyRequest);
    }
    return undefined;
  };

  /** No token for a route that accepts only tokens: `optional` and `unauthenticatedMethods` may still let it pass. */
  const withoutToken = (request: GatewayRequest, mode: CheckMode, policy: CompiledPolicy, label: string): Verdict => {
    for (const name of policy.auth.bearer) {
      const profile = context.bearerProfiles.get(name);
      if (profile === undefined) continue;
      if (profile.optional || profile.unauthenticatedMethods.has(request.view.method)) {
        const verdict = allow(request, mode, ANONYMOUS, anonymousHeaders, profile.optional ? 'bearer-optional' : 'method-unauthenticated', []);
        const blank = Object.fromEntries(Object.keys(profile.headersFor({})).map((header) => [header, '']));
        return withHeaders(verdict, blank);
      }
      if (profile.redirectUnauthorized !== undefined && mode === 'proxy') {
        try {
          return redirect(profile.redirectUnauthorized(new TemplateFields(request.view)), 'bearer-missing');
        } catch {
          return text(500, 'Internal Server Error', 'error', 'redirect-template-failed');
        }
      }
    }
    return decided(unauthenticated(request, mode, 'bearer-missing', [], policy), label);
  };

  const denyWithoutPolicy = (request: GatewayRequest, mode: CheckMode, reason: string): Verdict =>
    refusal(request, mode, reason, reasonHeaders(reason), () => {
      // An absolute link only to a host of the deployment's own (FWD-03); the browser resolves `/` the same.
      const home = context.hostAllowed(request.view) ? `${context.originOf(request.view)}/` : '/';
      return withHeaders(forbiddenPage(reason, 'nobody in particular', home, request.requestId), reasonHeaders(reason));
    });

  /**
   * The check. Answers synchronously when nothing needs waiting for (a cookie session that is valid and
   * due for nothing, a public route, a refusal), and with a promise otherwise; it never throws.
   */
  return function check(request: GatewayRequest, mode: CheckMode): Verdict | Promise<Verdict> {
    try {
      return checkNow(request, mode);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };

  function checkNow(request: GatewayRequest, mode: CheckMode): Verdict | Promise<Verdict> {
    const { view } = request;
    const normalized = normalizePath(view.uri);
    if (!normalized.ok) return text(400, 'Bad Request', 'deny', 'bad-path', reasonHeaders('bad-path'));
    const queryAt = view.uri.indexOf('?');
    const policyRequest: PolicyRequest = {
      method: view.method,
      scheme: view.scheme,
      host: view.host,
      path: normalized.path,
      search: queryAt === -1 ? '' : view.uri.slice(queryAt),
      ip: view.clientIp,
      headers: request.headers,
    };
    if (request.endpointSearch !== '' && request.endpointSearch === policyRequest.search && CHECK_PARAMETERS.some((name) => request.query.has(name))) {
      // The check URL carries the browser's own query (a proxy that passes it on, as Caddy's `uri /` does):
      // a visitor would pick the policy or the constraints. Never read as the proxy's choice.
      context.loggers.auth.warn({ requestId: request.requestId, reason: 'check-query-from-client' }, "the check URL's query is the browser's own: configure the proxy not to pass it on (Caddy: uri /?)");
      return decided(denyWithoutPolicy(request, mode, 'check-query-from-client'), undefined);
    }
    const policyName = request.endpointSearch === '' ? undefined : (request.query.getAll('policy').length > 1 ? '' : (request.query.get('policy') ?? undefined));
    const selection = context.policySet.select(policyRequest, policyName);
    const policy = selection.policy;
    if (policy === undefined) {
      if (policyName !== undefined) context.loggers.standard.warn({ requestId: request.requestId, policy: policyName.slice(0, 64) }, 'the proxy named a policy that is not configured');
      return decided(denyWithoutPolicy(request, mode, policyName === undefined ? 'no-route-matched' : 'policy-unknown'), selection.label);
    }
    const label = selection.label;

    const now = context.nowSeconds();
    if (policy.auth.public) {
      // Public: allowed, with the identity headers of a session if there is one (oauth2-proxy does the
      // same), and empty ones otherwise so the proxy still overwrites whatever the client sent.
      // A public route refreshes nothing, so a session whose forwarded ID token has expired passes as
      // anonymous: the upstream never receives an expired token.
      const loaded = context.store.loadSync?.(request.jar, now);
      const session = loaded?.kind === 'session' && !refresher.forwardedTokenExpired(loaded.session, now) ? loaded.session : undefined;
      return decided(allow(request, mode, session?.identity ?? ANONYMOUS, session === undefined ? anonymousHeaders : headersOfSession(session), 'route-public', []), label);
    }

    if (policy.auth.bearer.length > 0) return checkWithBearer(request, mode, policy, label, policyRequest, now);
    return checkSession(request, mode, policy, label, policyRequest, now);
  }

  /** A route that accepts bearer tokens: the token decides if there is one, else the session (if accepted). */
  function checkWithBearer(request: GatewayRequest, mode: CheckMode, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest, now: number): Verdict | Promise<Verdict> {
    const verdict = checkBearer(request, mode, policy, label, policyRequest);
    if (verdict instanceof Promise) return verdict.then((answer) => decided(answer, label));
    if (verdict !== undefined) return decided(verdict, label);
    if (!policy.auth.session) return decided(withoutToken(request, mode, policy, label), label);
    return checkSession(request, mode, policy, label, policyRequest, now);
  }

  /** The session of the request: opened at once when the store can (the cookie store), else awaited. */
  function checkSession(request: GatewayRequest, mode: CheckMode, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest, now: number): Verdict | Promise<Verdict> {
    const loaded = context.store.loadSync?.(request.jar, now);
    if (loaded !== undefined) return withSession(request, mode, policy, label, policyRequest, loaded, now);
    return context.store.load(request.jar, now).then((result) => withSession(request, mode, policy, label, policyRequest, result, now));
  }

  /** The session part of a check. Synchronous for a session that needs nothing done (the hot path). */
  function withSession(request: GatewayRequest, mode: CheckMode, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest, loaded: LoadResult, now: number): Verdict | Promise<Verdict> {
    if (loaded.kind === 'none') return decided(unauthenticated(request, mode, 'user-unauthenticated', [], policy), label);
    if (loaded.kind === 'session' && !loaded.stale && refresher.due(loaded.session, now) === 'none') return sessionVerdict(request, mode, policy, label, policyRequest, loaded.session, []);
    return maintainSession(request, mode, policy, label, policyRequest, loaded, now);
  }

  /** A session cookie that must be cleared, refreshed or sealed again before the answer. */
  async function maintainSession(request: GatewayRequest, mode: CheckMode, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest, loaded: Exclude<LoadResult, { kind: 'none' }>, now: number): Promise<Verdict> {
    const { view } = request;
    if (loaded.kind === 'invalid') {
      context.loggers.auth.info({ requestId: request.requestId, reason: loaded.reason }, 'session cookie not usable');
      const cleared = await context.store.clear(request.jar, context.sessionCookie(view, 0));
      return decided(unauthenticated(request, mode, loaded.reason, cleared, policy), label);
    }

    let { session } = loaded;
    let cookies: readonly string[] = [];
    const due = refresher.due(session, now);
    if (due === 'relogin') {
      const cleared = await context.store.clear(request.jar, context.sessionCookie(view, 0));
      return decided(unauthenticated(request, mode, 'session-token-expired', cleared, policy), label);
    }
    if (due === 'refresh') {
      // Proxies drop Set-Cookie from a 2xx auth answer (and nginx keeps only the first of several); a round
      // trip through /oauth2/refresh delivers every cookie. /oauth2/auth cannot redirect, so it answers 401
      // with the refresh URL as the login URL.
      const refreshUrl = () => `${context.originOf(view)}/oauth2/refresh?rd=${encodeURIComponent(context.returnToFor(view))}`;
      const refreshInAuth = () => decided(text(401, 'Unauthorized', 'deny', 'session-refresh', { 'x-gatehouse-reason': 'session-refresh', 'x-gatehouse-login': refreshUrl() }), label);
      const navigation = (view.method === 'GET' || view.method === 'HEAD') && !isApiRequest(context, request);
      if (navigation) return mode === 'auth' ? refreshInAuth() : decided(redirect(refreshUrl(), 'session-refresh'), label);
      const forwardedTokenValid = !config.identityHeaders.authorization || session.idTokenExpiresAt === undefined || session.idTokenExpiresAt - 30 > now;
      if (mode === 'auth' && splitAcrossCookies(request)) {
        // nginx hands the browser only the first Set-Cookie of an auth answer, and a refreshed session split
        // over several cookies would reach it half renewed and open no more. A script's check leaves the
        // refresh to the next page load (its round trip through /oauth2/refresh delivers every cookie), and
        // until then answers with the current session while what it forwards is valid.
        return forwardedTokenValid ? sessionVerdict(request, mode, policy, label, policyRequest, session, []) : refreshInAuth();
      }
      // Tokens still valid: wait for the refresh only briefly, then answer with the current session while it
      // finishes in the background, so no check waits long on a slow provider (Envoy allows ~200 ms).
      const refreshed = forwardedTokenValid ? await refresher.refreshWithin(loaded.handle, session, request, REFRESH_BUDGET_MS) : await refresher.refresh(loaded.handle, session, request);
      if (refreshed === undefined) {
        const cleared = await context.store.clear(request.jar, context.sessionCookie(view, 0));
        return decided(unauthenticated(request, mode, 'session-refresh-failed', cleared, policy), label);
      }
      session = refreshed.session;
      // A session that grew into several cookies at this refresh cannot go out in an nginx auth answer,
      // which passes on only the first: the browser keeps its current cookie, which still opens, until a
      // page load's round trip through /oauth2/refresh.
      cookies = mode === 'auth' && refreshed.cookies.length > 1 ? [] : refreshed.cookies;
    } else if (loaded.stale && !(mode === 'auth' && splitAcrossCookies(request))) {
      // Sealed with an older secret: sealed again with the current one (a split session in an nginx auth
      // answer waits for an answer that can carry all its cookies; every configured secret still opens it).
      cookies = await context.store.save(session, request.jar, context.sessionCookie(view, session.expiresAt - now));
    }
    return sessionVerdict(request, mode, policy, label, policyRequest, session, cookies);
  }

  /** True when the request's session cookie comes in chunks (`_gatehouse_0`, `_1`, …). */
  function splitAcrossCookies(request: GatewayRequest): boolean {
    return request.jar.has(`${config.cookie.name}_0`);
  }

  /** Authorizes a usable session and answers. */
  function sessionVerdict(request: GatewayRequest, mode: CheckMode, policy: CompiledPolicy, label: string, policyRequest: PolicyRequest, session: Session, cookies: readonly string[]): Verdict {
    const decision = authorize(request, mode, policy, label, policyRequest, session.identity, NO_CLAIMS, globalDecisionOfSession(session));
    if (!decision.allow) return decided(decision.verdict, label);
    return decided(allow(request, mode, session.identity, headersOfSession(session), 'session-valid', cookies), label);
  }
}
