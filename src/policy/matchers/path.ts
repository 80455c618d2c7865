/**
 * Path matching on the normalized path: exact (`/api/health`), `*` within one segment, `**` across
 * segments (`/admin/**` is /admin and everything below it). At most one `**` per pattern, so matching
 * stays linear in the path length.
 */

/** Matches a normalized path. */
export type PathMatcher = (path: string) => boolean;

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Compiles path patterns.
 * @throws TypeError for a pattern that does not start with `/`, or holds more than one `**`.
 */
export function compilePaths(patterns: readonly string[], caseSensitive: boolean): PathMatcher {
  const exact = new Set<string>();
  const expressions: RegExp[] = [];
  for (const raw of patterns) {
    if (!raw.startsWith('/')) throw new TypeError(`'${raw}' does not start with /`);
    const pattern = caseSensitive ? raw : raw.toLowerCase();
    const doubles = pattern.split('**').length - 1;
    if (doubles > 1) throw new TypeError(`'${raw}' has more than one **`);
    if (/\*{3,}/.test(pattern)) throw new TypeError(`'${raw}' has *** (use * or **)`);
    if (!pattern.includes('*')) {
      exact.add(pattern);
      continue;
    }
    let source = '';
    for (let index = 0; index < pattern.length; index++) {
      if (pattern.startsWith('/**', index) && index + 3 === pattern.length) {
        // A trailing /** also covers the directory itself.
        source += '(?:/.*)?';
        break;
      }
      if (pattern.startsWith('**', index)) {
        source += '.*';
        index++;
        continue;
      }
      const char = pattern[index] ?? '';
      source += char === '*' ? '[^/]*' : escapeRegExp(char);
    }
    expressions.push(new RegExp(`^${source}$`));
  }
  return (path) => {
    const subject = caseSensitive ? path : path.toLowerCase();
    return exact.has(subject) || expressions.some((expression) => expression.test(subject));
  };
}
