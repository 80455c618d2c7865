/**
 * Path matching on the normalized path: exact (`/api/health`), `*` within one segment, `**` as a whole
 * segment for any number of segments (`/admin/**` is /admin and everything below it; at most one `**`).
 * With `eitherSlash` (every route but a public one) one trailing slash makes no difference
 * (`/admin/settings` is also `/admin/settings/`, a pattern with a segment after `**` the same, and
 * `/admin/*`, which covers `/admin/` as written, also `/admin`): most frameworks serve both the same, so
 * a rule that protects one spelling must not let the other fall to a broader route. A public route matches only the
 * spelling it names, so it never opens more than is written.
 * Matched segment by segment with a linear-backtracking wildcard, never a regular expression, so no
 * pattern can make a long path expensive (DOS-09).
 */
import { normalizePath } from '../path.js';

/** Matches a normalized path. */
export type PathMatcher = (path: string) => boolean;

/** Matches one segment against a pattern segment where `*` is any run of characters. */
function segmentMatches(pattern: string, text: string): boolean {
  if (!pattern.includes('*')) return pattern === text;
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (star !== -1) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

interface CompiledPattern {
  readonly head: readonly string[];
  /** Segments after `**`, or `undefined` when the pattern has none. */
  readonly tail: readonly string[] | undefined;
}

function compilePattern(raw: string, caseSensitive: boolean): CompiledPattern {
  if (!raw.startsWith('/')) throw new TypeError(`'${raw}' does not start with /`);
  const pattern = caseSensitive ? raw : raw.toLowerCase();
  const segments = pattern.slice(1).split('/');
  const doubles = segments.filter((segment) => segment.includes('**'));
  if (doubles.length > 1) throw new TypeError(`'${raw}' has more than one **`);
  if (doubles.some((segment) => segment !== '**')) throw new TypeError(`'${raw}': ** must be a whole segment, such as /admin/**`);
  // A pattern must be in the normalized form the paths are in, or it could never match (an admin rule
  // written as /%61dmin/** would silently fall through to a broader one).
  const normalized = normalizePath(raw.replace(/\*/g, 'x'));
  if (!normalized.ok || normalized.path !== raw.replace(/\*/g, 'x')) throw new TypeError(`'${raw}' is not a normalized path (no //, ., .., %-escapes of letters or ;)`);
  const at = segments.indexOf('**');
  if (at === -1) return { head: segments, tail: undefined };
  return { head: segments.slice(0, at), tail: segments.slice(at + 1) };
}

/** The segments without the empty last one of a trailing slash (the root `/` keeps its one). */
function withoutTrailingSlash(segments: readonly string[]): readonly string[] {
  return segments.length > 1 && segments[segments.length - 1] === '' ? segments.slice(0, -1) : segments;
}

/** The other spelling of a path as to its trailing slash (`/a` and `/a/`); the root has none. */
function otherSpelling(path: string): string | undefined {
  if (path === '/') return undefined;
  return path.endsWith('/') ? path.slice(0, -1) : `${path}/`;
}

/** The path's segments as written, matched against the pattern as written. */
function matchesAsWritten(head: readonly string[], tail: readonly string[] | undefined, segments: readonly string[]): boolean {
  if (tail === undefined) {
    if (segments.length !== head.length) return false;
    return head.every((segment, index) => segmentMatches(segment, segments[index] ?? ''));
  }
  if (segments.length < head.length + tail.length) return false;
  for (let index = 0; index < head.length; index++) if (!segmentMatches(head[index] ?? '', segments[index] ?? '')) return false;
  const offset = segments.length - tail.length;
  for (let index = 0; index < tail.length; index++) if (!segmentMatches(tail[index] ?? '', segments[offset + index] ?? '')) return false;
  return true;
}

/** The other spelling of a path's segments as to its trailing slash; the root has none. */
function otherSegments(segments: readonly string[]): readonly string[] | undefined {
  if (segments.length === 1 && segments[0] === '') return undefined;
  return segments[segments.length - 1] === '' ? segments.slice(0, -1) : [...segments, ''];
}

function matchesPattern(pattern: CompiledPattern, all: readonly string[], eitherSlash: boolean): boolean {
  const { head, tail } = pattern;
  if (matchesAsWritten(head, tail, all)) return true;
  if (!eitherSlash) return false;
  // Either spelling of the path against either spelling of the pattern: one trailing slash never makes a
  // difference, after `**` too (`/api/**/delete` covers `/api/x/delete/`), and a protected pattern covers
  // at least what it covers on a public route (`/admin/*` covers `/admin/`, whose last segment is empty).
  const bareHead = tail === undefined ? withoutTrailingSlash(head) : head;
  const bareTail = tail !== undefined && tail.length > 0 && tail[tail.length - 1] === '' ? tail.slice(0, -1) : tail;
  const other = otherSegments(all);
  if (matchesAsWritten(bareHead, bareTail, all)) return true;
  return other !== undefined && (matchesAsWritten(head, tail, other) || matchesAsWritten(bareHead, bareTail, other));
}

/**
 * Compiles path patterns.
 * @throws TypeError for a pattern that does not start with `/`, is not normalized, or misuses `**`.
 */
export function compilePaths(patterns: readonly string[], caseSensitive: boolean, eitherSlash = false): PathMatcher {
  const exact = new Set<string>();
  const compiled: CompiledPattern[] = [];
  for (const raw of patterns) {
    const pattern = compilePattern(raw, caseSensitive);
    if (pattern.tail === undefined && !raw.includes('*')) {
      const text = caseSensitive ? raw : raw.toLowerCase();
      exact.add(text);
      const other = eitherSlash ? otherSpelling(text) : undefined;
      if (other !== undefined) exact.add(other);
    } else compiled.push(pattern);
  }
  return (path) => {
    const subject = caseSensitive ? path : path.toLowerCase();
    if (exact.has(subject)) return true;
    if (compiled.length === 0) return false;
    const segments = subject.slice(1).split('/');
    return compiled.some((pattern) => matchesPattern(pattern, segments, eitherSlash));
  };
}
