/**
 * Shell-style wildcard matching (fnmatch without flags, as jwt-middleware uses for claims): `*` any run,
 * `?` one character, `[...]` classes, `\` escapes. Iterative with single-star backtracking, so the work is
 * bounded by pattern × text, never exponential.
 */

function classMatches(pattern: string, start: number, char: string): { end: number; matched: boolean } | undefined {
  let index = start + 1;
  let negate = false;
  if (pattern[index] === '!' || pattern[index] === '^') {
    negate = true;
    index++;
  }
  let matched = false;
  let first = true;
  while (index < pattern.length && (first || pattern[index] !== ']')) {
    first = false;
    let low = pattern[index] ?? '';
    if (low === '\\') low = pattern[++index] ?? '';
    let high = low;
    if (pattern[index + 1] === '-' && pattern[index + 2] !== undefined && pattern[index + 2] !== ']') {
      high = pattern[index + 2] ?? '';
      if (high === '\\') high = pattern[index + 3] ?? '';
      index += high === pattern[index + 2] ? 2 : 3;
    }
    if (char >= low && char <= high) matched = true;
    index++;
  }
  if (index >= pattern.length) return undefined;
  return { end: index, matched: matched !== negate };
}

const SPECIAL = /[*?[\\]/;

/** True when `text` matches the wildcard `pattern`. A malformed class matches literally. */
export function wildcardMatch(pattern: string, text: string): boolean {
  // Most claims hold no wildcard at all (an audience, a host): then only the same text matches.
  return SPECIAL.test(pattern) ? wildcardMatchFully(pattern, text) : pattern === text;
}

/** {@link wildcardMatch} without the shortcut for patterns with no special character (exported for tests). */
export function wildcardMatchFully(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const char = pattern[p];
    if (char === '*') {
      starP = p++;
      starT = t;
      continue;
    }
    if (char === '?') {
      p++;
      t++;
      continue;
    }
    if (char === '[') {
      const cls = classMatches(pattern, p, text[t] ?? '');
      if (cls !== undefined && cls.matched) {
        p = cls.end + 1;
        t++;
        continue;
      }
      if (cls === undefined && text[t] === '[') {
        p++;
        t++;
        continue;
      }
    } else if (char === '\\' && pattern[p + 1] === text[t]) {
      p += 2;
      t++;
      continue;
    } else if (char !== undefined && char !== '\\' && char === text[t]) {
      p++;
      t++;
      continue;
    }
    if (starP === -1) return false;
    p = starP + 1;
    t = ++starT;
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
