/**
 * The ordered routes: the first route whose hosts, paths, methods and sources all match decides which
 * policy applies; a configurable default applies when none does. oauth2-proxy's `skip_auth_routes` become
 * public routes at the front. Pure: no I/O, compiled once per configuration.
 */
import type { Config, RouteConfig } from '../config/index.js';
import { compileHosts, type HostMatcher } from './matchers/host.js';
import { compileMethods, type MethodMatcher } from './matchers/method.js';
import { compilePaths, type PathMatcher } from './matchers/path.js';
import { compileSources, type SourceMatcher } from './matchers/source.js';
import { matchesSkipAuthRoute, parseSkipAuthRoute } from './regex.js';
import { compilePolicy, type CompiledPolicy, type PolicyRequest } from './requirements.js';

/** A compiled route. */
export interface CompiledRoute {
  readonly name: string;
  /** Index in the configuration's `routes`, or -1 for a route derived from skip-auth routes. */
  readonly index: number;
  matches(request: PolicyRequest): boolean;
  readonly policy: CompiledPolicy;
  /** Name of the policy it applies, when it names one. */
  readonly policyName: string | undefined;
}

/** What was selected for a request. */
export interface Selection {
  /** The matched route, or `undefined` when the default applies or a policy was named. */
  readonly route: CompiledRoute | undefined;
  readonly policy: CompiledPolicy | undefined;
  /** A short label for logs: `route:<name>`, `policy:<name>`, `default:<deny|authenticated>`. */
  readonly label: string;
}

/** All routes and policies of one configuration. */
export interface PolicySet {
  readonly routes: readonly CompiledRoute[];
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
  /** What applies when no route matches: a policy, or `undefined` for deny. */
  readonly fallback: CompiledPolicy | undefined;
  readonly fallbackLabel: string;
  /** Picks the policy for a request; `policyName` is the proxy's `?policy=` choice. */
  select(request: PolicyRequest, policyName: string | undefined): Selection;
}

/** A problem compiling one part of the routes or policies. */
export interface PolicyProblem {
  readonly path: string;
  readonly message: string;
}

/** Thrown when routes or policies do not compile; carries every problem. */
export class PolicyCompileError extends Error {
  constructor(readonly problems: readonly PolicyProblem[]) {
    super(problems.map((problem) => `${problem.path}: ${problem.message}`).join('; '));
  }
}

const always = () => true;

function attempt<T>(problems: PolicyProblem[], path: string, build: () => T): T | undefined {
  try {
    return build();
  } catch (error) {
    problems.push({ path, message: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}

function compileRoute(route: RouteConfig, index: number, policies: ReadonlyMap<string, CompiledPolicy>, bearerProvider: boolean, problems: PolicyProblem[]): CompiledRoute | undefined {
  const at = `routes[${index}]`;
  let policy: CompiledPolicy | undefined;
  if (route.policy !== undefined) {
    const inline = ['auth', 'require', 'allow', 'deny', 'mode'].filter((key) => route[key as keyof RouteConfig] !== undefined);
    if (inline.length > 0) problems.push({ path: `${at}.policy`, message: `names a policy and also sets ${inline.join(', ')}; use one or the other` });
    policy = policies.get(route.policy);
    if (policy === undefined) problems.push({ path: `${at}.policy`, message: `names the policy '${route.policy}', which is not defined in policies` });
  } else {
    policy = attempt(problems, at, () => compilePolicy(route, { bearerProvider }));
  }
  const host: HostMatcher | undefined = route.hosts === undefined ? always : attempt(problems, `${at}.hosts`, () => compileHosts(route.hosts ?? []));
  // A route that is not public also takes its paths' other trailing-slash spelling (matchers/path.ts).
  const eitherSlash = policy?.auth.public !== true;
  const path: PathMatcher | undefined = route.paths === undefined ? always : attempt(problems, `${at}.paths`, () => compilePaths(route.paths ?? [], route.caseSensitive === true, eitherSlash));
  const method: MethodMatcher | undefined = route.methods === undefined ? always : attempt(problems, `${at}.methods`, () => compileMethods(route.methods ?? []));
  const source: SourceMatcher | undefined = route.sources === undefined ? always : attempt(problems, `${at}.sources`, () => compileSources(route.sources ?? []));
  if (host === undefined || path === undefined || method === undefined || source === undefined || policy === undefined) return undefined;
  return {
    name: route.name,
    index,
    policy,
    policyName: route.policy,
    matches: (request) => host(request.host) && path(request.path) && method(request.method) && source(request.ip),
  };
}

/**
 * Compiles the routes and policies of a configuration.
 * @throws PolicyCompileError with every problem, each with its key path.
 */
export function compilePolicySet(config: Pick<Config, 'routes' | 'policies' | 'routeDefault' | 'bearer' | 'forwardAuth'>): PolicySet {
  const problems: PolicyProblem[] = [];
  const bearerProvider = config.bearer.provider;
  const policies = new Map<string, CompiledPolicy>();
  for (const [name, policy] of Object.entries(config.policies)) {
    const compiled = attempt(problems, `policies.${name}`, () => compilePolicy(policy, { bearerProvider }));
    if (compiled !== undefined) policies.set(name, compiled);
  }
  const names = new Set<string>();
  const routes: CompiledRoute[] = [];
  const publicPolicy = compilePolicy({ auth: 'public' }, { bearerProvider });
  if (config.forwardAuth.skipAuthPreflight) {
    // oauth2-proxy's skip_auth_preflight: any OPTIONS request, whatever its path or headers.
    routes.push({ name: 'skip-auth-preflight', index: -1, policy: publicPolicy, policyName: undefined, matches: (request) => request.method === 'OPTIONS' });
  }
  config.forwardAuth.skipAuthRoutes.forEach((text, index) => {
    const route = attempt(problems, `forwardAuth.skipAuthRoutes[${index}]`, () => parseSkipAuthRoute(text));
    if (route === undefined) return;
    routes.push({
      name: `skip-auth-route-${index}`,
      index: -1,
      policy: publicPolicy,
      policyName: undefined,
      // oauth2-proxy matches these on the path only (CVE-2025-54576); here, the normalized path.
      matches: (request) => matchesSkipAuthRoute(route, request.method, request.path),
    });
  });
  config.routes.forEach((route, index) => {
    if (names.has(route.name)) problems.push({ path: `routes[${index}].name`, message: `'${route.name}' is already the name of an earlier route` });
    names.add(route.name);
    const compiled = compileRoute(route, index, policies, bearerProvider, problems);
    if (compiled !== undefined) routes.push(compiled);
  });
  if (problems.length > 0) throw new PolicyCompileError(problems);

  const defaultKind = config.routeDefault === 'auto' ? (config.routes.length > 0 ? 'deny' : 'authenticated') : config.routeDefault;
  const fallback = defaultKind === 'deny' ? undefined : compilePolicy({}, { bearerProvider });
  const fallbackLabel = `default:${defaultKind}`;
  return {
    routes,
    policies,
    fallback,
    fallbackLabel,
    select(request, policyName) {
      if (policyName !== undefined) {
        const policy = policies.get(policyName);
        // Labels feed metrics and traces: only configured names, so no request can add a series.
        return { route: undefined, policy, label: policy === undefined ? 'policy:unknown' : `policy:${policyName}` };
      }
      for (const route of routes) if (route.matches(request)) return { route, policy: route.policy, label: `route:${route.name}` };
      return { route: undefined, policy: fallback, label: fallbackLabel };
    },
  };
}
