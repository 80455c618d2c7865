/**
 * Case-insensitive comparisons of protocol tokens (header names, the `Bearer` and `http(s)` schemes) by
 * character. On Node 20 `toLowerCase` is a call into the runtime and allocates, and these run on every
 * forward-auth check.
 */

/**
 * True when `text` spells `lower` at `at`, in any letter case. `lower` must be lower-case ASCII letters:
 * setting 0x20 folds A–Z onto a–z, and nothing else folds onto a letter (other characters could).
 */
export function spellsAt(text: string, lower: string, at = 0): boolean {
  if (text.length < at + lower.length) return false;
  for (let index = 0; index < lower.length; index++) if ((text.charCodeAt(at + index) | 0x20) !== lower.charCodeAt(index)) return false;
  return true;
}

/** True when `text` is `lower` in any letter case (`lower`: lower-case ASCII letters). */
export function isAsciiWord(text: string, lower: string): boolean {
  return text.length === lower.length && spellsAt(text, lower);
}
