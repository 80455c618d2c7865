/**
 * Header values made from claims (identity headers, a bearer profile's `headerMap`): safe to send whatever
 * a token or a provider put in them.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\uffff%]/;
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_LIST = /[\u0000-\u001f\u007f-\uffff%,]/;

/**
 * Makes a claim value safe for a header: control characters removed (no header splitting, FWD-17),
 * non-ASCII percent-encoded, and in lists the separator escaped so group names cannot forge entries.
 */
export function headerSafe(value: string, escapeComma = false): string {
  // Nearly every value is plain ASCII: one scan, no copy.
  if (!(escapeComma ? UNSAFE_IN_LIST : UNSAFE).test(value)) return value;
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) continue;
    if (code > 0x7e || char === '%' || (escapeComma && char === ',')) out += encodeURIComponent(char);
    else out += char;
  }
  return out;
}
