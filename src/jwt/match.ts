/**
 * Shell-style wildcard matching, as jwt-middleware matches claims: BSD fnmatch without flags (`*` any run,
 * `/` and `.` included; `?` one character; `[...]` classes with `!` or `^` to negate and `a-z` ranges; `\`
 * escapes; case-sensitive), plus the plugin's own rule that a pattern `*.example.com` also matches
 * `example.com`. Characters are Unicode code points, as Go's runes.
 *
 * The pattern is split at its stars into pieces of fixed width. The first piece is matched at the start of
 * the text, the last at its end, and each piece between at the leftmost place after the one before: since
 * a star absorbs anything, that place is as good as any later one, so no place is ever tried twice. The
 * work is linear in the text for a given pattern, never exponential, and capped ({@link MAX_STEPS}: a match
 * that would need more fails, which can only refuse), whatever a token or a request holds. No regular
 * expression is built from a pattern.
 */

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BACKSLASH = 0x5c;
const BANG = 0x21;
const CARET = 0x5e;
const DASH = 0x2d;

/** Code units taken by the code point at `index`. */
function width(text: string, index: number): number {
  return (text.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
}

/**
 * Where the class opening at `start` ends (the index after its `]`), or 0 when it never closes: such a
 * class matches nothing, as in fnmatch. A `]` right after `[` (or `[!`) closes an empty class.
 */
function classEnd(pattern: string, start: number): number {
  let index = start + 1;
  const first = pattern.charCodeAt(index);
  if (first === BANG || first === CARET) index++;
  while (pattern.length - index > 1 && pattern.charCodeAt(index) !== CLOSE) {
    const escaped = pattern.charCodeAt(index) === BACKSLASH;
    index += width(pattern, index);
    if (escaped) {
      if (pattern.length - index <= 1) return 0;
      index += width(pattern, index);
    }
    if (pattern.charCodeAt(index) === DASH && pattern.length - index > 1 && pattern.charCodeAt(index + 1) !== CLOSE) {
      index++;
      const rangeEscaped = pattern.charCodeAt(index) === BACKSLASH;
      index += width(pattern, index);
      if (rangeEscaped) {
        if (index >= pattern.length) return 0;
        index += width(pattern, index);
      }
    }
  }
  return pattern.charCodeAt(index) === CLOSE ? index + 1 : 0;
}

/** True when the class from `start` to `end` (as {@link classEnd} found it) holds the code point `char`. */
function classHas(pattern: string, start: number, end: number, char: number): boolean {
  let index = start + 1;
  let negate = false;
  const first = pattern.charCodeAt(index);
  if (first === BANG || first === CARET) {
    negate = true;
    index++;
  }
  let matched = false;
  while (index < end - 1) {
    if (pattern.charCodeAt(index) === BACKSLASH) index++;
    const low = pattern.codePointAt(index) ?? 0;
    index += width(pattern, index);
    let high = low;
    if (pattern.charCodeAt(index) === DASH && pattern.charCodeAt(index + 1) !== CLOSE) {
      index++;
      if (pattern.charCodeAt(index) === BACKSLASH) index++;
      high = pattern.codePointAt(index) ?? 0;
      index += width(pattern, index);
    }
    if (low <= char && char <= high) matched = true;
  }
  return matched !== negate;
}

/** A piece that can never match: it holds a class that never closes. */
const NEVER = -2;

/**
 * Matches the piece `pattern[from, to)` (no star in it) at `at` in `text`: the index in `text` after it,
 * -1 when it does not match there, or {@link NEVER}.
 */
function pieceAt(pattern: string, from: number, to: number, text: string, at: number): number {
  let p = from;
  let t = at;
  while (p < to) {
    if (t >= text.length) return -1;
    const char = text.codePointAt(t) ?? 0;
    const code = pattern.charCodeAt(p);
    if (code === QUESTION) {
      p++;
    } else if (code === OPEN) {
      const end = classEnd(pattern, p);
      if (end === 0) return NEVER;
      if (!classHas(pattern, p, end, char)) return -1;
      p = end;
    } else {
      // A backslash escapes the next character; a trailing one is itself.
      if (code === BACKSLASH && p + 1 < pattern.length) p++;
      if ((pattern.codePointAt(p) ?? 0) !== char) return -1;
      p += width(pattern, p);
    }
    t += char > 0xffff ? 2 : 1;
  }
  return t;
}

/** The end of the piece starting at `from`: the next star outside a class and not escaped, or the end. */
function pieceEnd(pattern: string, from: number): { end: number; chars: number; plain: boolean } {
  let index = from;
  let chars = 0;
  let plain = true;
  while (index < pattern.length) {
    const code = pattern.charCodeAt(index);
    if (code === STAR) break;
    if (code === QUESTION) {
      index++;
      plain = false;
    } else if (code === OPEN) {
      const end = classEnd(pattern, index);
      // A class that never closes runs to the end of the pattern (and matches nothing).
      index = end === 0 ? pattern.length : end;
      plain = false;
    } else {
      if (code === BACKSLASH) {
        plain = false;
        if (index + 1 < pattern.length) index++;
      }
      index += width(pattern, index);
    }
    chars++;
  }
  return { end: index, chars, plain };
}

/** The index in `text` that leaves exactly `chars` code points after it, or -1 when it is shorter. */
function charsFromEnd(text: string, chars: number): number {
  let index = text.length;
  for (let count = 0; count < chars; count++) {
    if (index === 0) return -1;
    const low = text.charCodeAt(index - 1);
    index -= index >= 2 && low >= 0xdc00 && low <= 0xdfff && text.charCodeAt(index - 2) >= 0xd800 && text.charCodeAt(index - 2) <= 0xdbff ? 2 : 1;
  }
  return index;
}

const SPECIAL = /[*?[\\]/;

/**
 * Most character comparisons one match may make while looking for pieces that hold `?` or a class; beyond
 * it the match fails. Ordinary patterns need a few per character of the text.
 */
export const MAX_STEPS = 100_000;

/** True when `text` matches the wildcard `pattern` (fnmatch without flags). */
export function wildcardMatch(pattern: string, text: string): boolean {
  // Most claims hold no wildcard at all (an audience, a host): then only the same text matches.
  return SPECIAL.test(pattern) ? wildcardMatchFully(pattern, text) : pattern === text;
}

/** {@link wildcardMatch} without the shortcut for patterns with no special character (exported for tests). */
export function wildcardMatchFully(pattern: string, text: string): boolean {
  // The first piece, at the start of the text.
  const head = pieceEnd(pattern, 0);
  let t = pieceAt(pattern, 0, head.end, text, 0);
  if (t < 0) return false;
  if (head.end === pattern.length) return t === text.length;
  let p = head.end;
  let budget = MAX_STEPS;
  for (;;) {
    while (pattern.charCodeAt(p) === STAR) p++;
    if (p === pattern.length) return true;
    const piece = pieceEnd(pattern, p);
    if (piece.end === pattern.length) {
      // The last piece, at the end of the text, after everything matched so far.
      const at = charsFromEnd(text, piece.chars);
      return at >= t && pieceAt(pattern, p, piece.end, text, at) === text.length;
    }
    // A piece between stars, at its leftmost place.
    let found = -1;
    if (piece.plain) {
      const at = text.indexOf(pattern.slice(p, piece.end), t);
      if (at >= 0) found = at + (piece.end - p);
    } else {
      for (let at = t; at < text.length; at += width(text, at)) {
        // Each try costs at most the piece's length; a match that would need more than the budget fails.
        budget -= piece.chars;
        if (budget < 0) return false;
        const end = pieceAt(pattern, p, piece.end, text, at);
        if (end === NEVER) return false;
        if (end >= 0) {
          found = end;
          break;
        }
      }
    }
    if (found < 0) return false;
    t = found;
    p = piece.end;
  }
}

/**
 * jwt-middleware's match of a claim (the pattern: a string claim, a key of an object claim or a claim name)
 * against what the configuration requires: fnmatch, or the claim is `*.` followed by the requirement.
 */
export function claimMatches(claim: string, required: string): boolean {
  return wildcardMatch(claim, required) || (claim.length === required.length + 2 && claim.startsWith('*.') && claim.endsWith(required));
}
