/** Identity headers for the upstream: always all emitted on an allowed check, values made header-safe. */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Identity } from '../identity/index.js';

/** Which identity headers to send. */
export interface IdentityHeaderOptions {
  readonly authorization: boolean;
  readonly xAuthRequest: boolean;
  readonly accessToken: boolean;
}

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

/** The headers of an allowed check. Every configured header is present, empty when the claim is. */
export function identityHeaders(identity: Identity, tokens: { idToken?: string | undefined; accessToken?: string | undefined }, options: IdentityHeaderOptions): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'gap-auth': headerSafe(identity.email === '' ? identity.sub : identity.email) };
  if (options.xAuthRequest) {
    headers['x-auth-request-user'] = headerSafe(identity.sub);
    headers['x-auth-request-email'] = headerSafe(identity.email);
    headers['x-auth-request-groups'] = identity.groups.map((group) => headerSafe(group, true)).join(',');
    headers['x-auth-request-preferred-username'] = headerSafe(identity.username);
    if (options.accessToken) headers['x-auth-request-access-token'] = headerSafe(tokens.accessToken ?? '');
  }
  if (options.authorization) headers.authorization = tokens.idToken === undefined ? '' : `Bearer ${headerSafe(tokens.idToken)}`;
  return headers;
}
