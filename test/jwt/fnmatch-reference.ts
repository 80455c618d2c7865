/**
 * A direct transcription of BSD fnmatch without flags (recursive, exponential in the worst case), the
 * reference the linear matcher of src/jwt/match.ts is checked against on short inputs.
 */

function take(text: string): [number, string] {
  const code = text.codePointAt(0) ?? 0;
  return [code, text.slice(code > 0xffff ? 2 : 1)];
}

function rangeMatch(state: { pattern: string }, test: number): boolean {
  if (state.pattern.length === 0) return false;
  let negate = false;
  let matched = false;
  if (state.pattern[0] === '^' || state.pattern[0] === '!') {
    negate = true;
    state.pattern = state.pattern.slice(1);
  }
  while (!matched && state.pattern.length > 1 && state.pattern[0] !== ']') {
    let c: number;
    [c, state.pattern] = take(state.pattern);
    if (c === 0x5c) {
      if (state.pattern.length > 1) [c, state.pattern] = take(state.pattern);
      else return false;
    }
    if (state.pattern[0] === '-' && state.pattern.length > 1 && state.pattern[1] !== ']') {
      state.pattern = state.pattern.slice(1);
      let c2: number;
      [c2, state.pattern] = take(state.pattern);
      if (c2 === 0x5c) {
        if (state.pattern.length > 0) [c2, state.pattern] = take(state.pattern);
        else return false;
      }
      if (c <= test && test <= c2) matched = true;
    } else if (c === test) {
      matched = true;
    }
  }
  let ok = false;
  while (!ok && state.pattern.length > 0) {
    let c: number;
    [c, state.pattern] = take(state.pattern);
    if (c === 0x5c && state.pattern.length > 0) [, state.pattern] = take(state.pattern);
    else if (c === 0x5d) ok = true;
  }
  return ok && matched !== negate;
}

/** fnmatch(pattern, text, 0). */
export function fnmatchReference(pattern: string, text: string): boolean {
  let p = pattern;
  let s = text;
  while (p.length > 0) {
    let c: number;
    [c, p] = take(p);
    if (c === 0x3f) {
      if (s.length === 0) return false;
      [, s] = take(s);
    } else if (c === 0x2a) {
      while (p.startsWith('*')) p = p.slice(1);
      if (p.length === 0) return true;
      for (let rest = s; rest.length > 0; rest = take(rest)[1]) if (fnmatchReference(p, rest)) return true;
      return false;
    } else if (c === 0x5b) {
      if (s.length === 0) return false;
      let sc: number;
      [sc, s] = take(s);
      const state = { pattern: p };
      if (!rangeMatch(state, sc)) return false;
      p = state.pattern;
    } else {
      if (c === 0x5c && p.length > 0) [c, p] = take(p);
      if (s.length === 0) return false;
      let sc: number;
      [sc, s] = take(s);
      if (sc !== c) return false;
    }
  }
  return s.length === 0;
}
