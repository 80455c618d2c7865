/**
 * Path normalization before matching, so a rule sees the path the application will serve: query and
 * fragment dropped, `;` parameters dropped, percent-escapes of characters a path may hold as they are
 * (unreserved, `:`, `@` and the sub-delimiters but `;`) decoded once, since applications read them as those
 * characters (`/v1/secrets%3Alist` is `/v1/secrets:list`), duplicate slashes merged, `.` and `..` resolved. Encodings whose meaning differs between a proxy and an application
 * (`%2F`, `%5C`, `%25`, `%3B`, `%23`, `%3F`, controls) and raw backslashes are refused outright, because
 * no single reading of them is safe (CVE-2025-47952, CVE-2025-66490, CVE-2026-41059).
 * @see RFC 3986 §2.3 (unreserved), §5.2.4 (remove_dot_segments)
 */

/** The outcome of normalization. */
export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: 'bad-path' };

/** Longest path accepted for matching; longer ones are refused (bounded work for every matcher). */
export const MAX_PATH_LENGTH = 4096;

const HEX = '0123456789ABCDEF';
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

function isUnreserved(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2e || code === 0x5f || code === 0x7e;
}

/** `!$&'()*+,=` (the sub-delimiters but `;`), `:` and `@`: RFC 3986 `pchar`, the same as or escaped. */
const PATH_CHARACTERS = new Set([0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x3d, 0x3a, 0x40]);

/** Decodes one segment's unreserved escapes; `undefined` when it holds a refused byte or escape. */
function decodeSegment(segment: string): string | undefined {
  if (!segment.includes('%')) {
    for (let i = 0; i < segment.length; i++) {
      const code = segment.charCodeAt(i);
      if (code <= 0x20 || code === 0x7f || code === 0x5c || code > 0x7e) return undefined;
    }
    return segment;
  }
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const code = segment.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f || code === 0x5c || code > 0x7e) return undefined;
    if (code !== 0x25) {
      out += String.fromCharCode(code);
      continue;
    }
    const high = hexValue(segment.charCodeAt(i + 1));
    const low = hexValue(segment.charCodeAt(i + 2));
    if (high < 0 || low < 0) return undefined;
    const byte = high * 16 + low;
    // Separators, the escape character itself and controls have no single safe reading.
    if (byte === 0x2f || byte === 0x5c || byte === 0x25 || byte === 0x3b || byte === 0x23 || byte === 0x3f || byte < 0x20 || byte === 0x7f) return undefined;
    if (byte >= 0x80) {
      // A run of escaped bytes must be well-formed UTF-8: overlong forms such as %c0%ae ('.') are read
      // as dots by some servers (POL-11).
      let end = i;
      const bytes: number[] = [];
      while (segment.charCodeAt(end) === 0x25) {
        const h = hexValue(segment.charCodeAt(end + 1));
        const l = hexValue(segment.charCodeAt(end + 2));
        if (h < 0 || l < 0 || h * 16 + l < 0x80) break;
        bytes.push(h * 16 + l);
        end += 3;
      }
      try {
        UTF8.decode(Uint8Array.from(bytes));
      } catch {
        return undefined;
      }
      out += segment.slice(i, end).toUpperCase();
      i = end - 1;
      continue;
    }
    out += isUnreserved(byte) || PATH_CHARACTERS.has(byte) ? String.fromCharCode(byte) : `%${HEX[high] ?? ''}${HEX[low] ?? ''}`;
    i += 2;
  }
  return out;
}

/**
 * The end of the path of `uri` when that path is already normal, else -1: printable ASCII without `%`, `;`
 * or `\\`, no empty segment but a trailing one, and no segment ending in `.` (which also rules out `.` and
 * `..`). Nearly every real path is like this, and one scan decides it.
 */
function normalPathEnd(uri: string): number {
  if (uri.charCodeAt(0) !== 0x2f) return -1;
  let index = 1;
  for (; index < uri.length; index++) {
    const code = uri.charCodeAt(index);
    if (code === 0x3f || code === 0x23) break;
    if (code <= 0x20 || code >= 0x7f || code === 0x25 || code === 0x3b || code === 0x5c) return -1;
    if (code === 0x2f) {
      const previous = uri.charCodeAt(index - 1);
      if (previous === 0x2f || previous === 0x2e) return -1;
    }
  }
  return uri.charCodeAt(index - 1) === 0x2e || index > MAX_PATH_LENGTH ? -1 : index;
}

/**
 * Normalizes the path of a request URI (`/a/./b//c;x=1?q#f` → `/a/b/c`). A trailing slash is kept.
 * Case is kept; matchers fold it when a rule is case-insensitive.
 */
export function normalizePath(uri: string): NormalizedPath {
  const normalEnd = normalPathEnd(uri);
  if (normalEnd !== -1) return { ok: true, path: normalEnd === uri.length ? uri : uri.slice(0, normalEnd) };
  return normalizePathFully(uri);
}

/** {@link normalizePath} without the shortcut for paths that are already normal (exported for tests). */
export function normalizePathFully(uri: string): NormalizedPath {
  let end = uri.length;
  const query = uri.indexOf('?');
  if (query !== -1) end = query;
  const hash = uri.indexOf('#');
  if (hash !== -1 && hash < end) end = hash;
  if (end > MAX_PATH_LENGTH || uri.charCodeAt(0) !== 0x2f) return { ok: false, reason: 'bad-path' };
  const raw = uri.slice(0, end);
  const out: string[] = [];
  const segments = raw.split('/');
  const last = segments.length - 1;
  for (let index = 1; index <= last; index++) {
    let segment = segments[index] ?? '';
    const semicolon = segment.indexOf(';');
    if (semicolon !== -1) segment = segment.slice(0, semicolon);
    const decoded = decodeSegment(segment);
    if (decoded === undefined) return { ok: false, reason: 'bad-path' };
    // A segment that is nothing but parameters, or a dot segment with parameters (`..;x`), is a dot segment
    // or an empty one only to servlet containers; Go, Node, nginx and Envoy keep it as a name, so
    // `/admin/..;/public` would be /public here and /admin/… to the application.
    if (semicolon !== -1 && (decoded === '' || decoded === '.' || decoded === '..')) return { ok: false, reason: 'bad-path' };
    // Servers that trim a trailing space or dot (IIS, some Java stacks) would read `/admin%20` or
    // `/admin.` as `/admin` (POL-10).
    if (decoded !== '.' && decoded !== '..' && (decoded.endsWith('.') || decoded.endsWith('%20') || decoded.startsWith('%20'))) return { ok: false, reason: 'bad-path' };
    if (decoded === '' || decoded === '.') {
      if (index === last) out.push('');
      continue;
    }
    if (decoded === '..') {
      out.pop();
      if (index === last) out.push('');
      continue;
    }
    out.push(decoded);
  }
  const path = `/${out.join('/')}`;
  return { ok: true, path: path.length > 1 && path.endsWith('//') ? path.slice(0, -1) : path };
}
