/** Host matching: exact names, and `*.example.com` for every subdomain (at any depth, not the name itself). */

/** Matches a lower-case host without port. */
export type HostMatcher = (host: string) => boolean;

/**
 * Compiles host patterns.
 * @throws TypeError for a pattern that is neither a host name nor `*.` plus one.
 */
export function compileHosts(patterns: readonly string[]): HostMatcher {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const raw of patterns) {
    const pattern = raw.trim().toLowerCase().replace(/\.$/, '');
    const bare = pattern.startsWith('*.') ? pattern.slice(2) : pattern;
    if (!/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/.test(bare)) {
      throw new TypeError(`'${raw}' is not a host name or *.domain pattern`);
    }
    if (pattern.startsWith('*.')) suffixes.push(`.${bare}`);
    else exact.add(pattern);
  }
  return (host) => {
    if (exact.has(host)) return true;
    for (const suffix of suffixes) if (host.length > suffix.length && host.endsWith(suffix)) return true;
    return false;
  };
}
