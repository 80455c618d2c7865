/** Method matching on the original method (from trusted X-Forwarded-Method). HEAD counts as GET. */

/** Matches an upper-case method. */
export type MethodMatcher = (method: string) => boolean;

/**
 * Compiles method names.
 * @throws TypeError for a name that is not a method token.
 */
export function compileMethods(methods: readonly string[]): MethodMatcher {
  const allowed = new Set<string>();
  for (const raw of methods) {
    const method = raw.trim().toUpperCase();
    if (!/^[A-Z]{1,20}$/.test(method)) throw new TypeError(`'${raw}' is not an HTTP method`);
    allowed.add(method);
  }
  // A rule for GET also covers HEAD (POL-14), as servers answer HEAD like GET.
  if (allowed.has('GET')) allowed.add('HEAD');
  return (method) => allowed.has(method);
}
