/**
 * Regular expressions from operators (oauth2-proxy `api_routes`, `skip_auth_routes`) run on RE2, the engine
 * oauth2-proxy uses: same syntax, and linear-time matching, so a hostile URI cannot cause a ReDoS.
 */
import { RE2JS } from 're2js';

/** A compiled operator regex. */
export interface OperatorRegex {
  readonly source: string;
  test(input: string): boolean;
}

/**
 * Compiles an RE2 pattern.
 * @throws SyntaxError with RE2's description when the pattern is invalid.
 */
export function compileRegex(source: string): OperatorRegex {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source);
  } catch (error) {
    throw new SyntaxError(error instanceof Error ? error.message : String(error), { cause: error });
  }
  return { source, test: (input) => compiled.matcher(input).find() };
}

/** One oauth2-proxy skip-auth route: `[METHOD=]regex` or `[METHOD!=]regex`, matched on the path only. */
export interface SkipAuthRoute {
  /** Upper-case method, or empty for any. */
  readonly method: string;
  /** True for `METHOD!=regex`: every method but this one. */
  readonly negate: boolean;
  readonly path: OperatorRegex;
}

/**
 * Parses a skip-auth route as oauth2-proxy does.
 * @throws SyntaxError when the regex is invalid.
 */
export function parseSkipAuthRoute(text: string): SkipAuthRoute {
  const match = /^([A-Za-z]*)(!?)=(.*)$/.exec(text);
  // An empty expression matches every path: a whole site made public by a typo (POL-19).
  if ((match === null ? text : (match[3] ?? '')).trim() === '') throw new SyntaxError('the path expression is empty, which would make every path public');
  if (match === null || (match[1] === '' && match[2] === '')) {
    return { method: '', negate: false, path: compileRegex(match === null ? text : (match[3] ?? '')) };
  }
  return { method: (match[1] ?? '').toUpperCase(), negate: match[2] === '!', path: compileRegex(match[3] ?? '') };
}

/** True when the route lets `method` on `path` through. */
export function matchesSkipAuthRoute(route: SkipAuthRoute, method: string, path: string): boolean {
  if (route.method !== '') {
    const sameMethod = route.method === method;
    if (sameMethod === route.negate) return false;
  }
  return route.path.test(path);
}
