/** Identity headers for the upstream: always all emitted on an allowed check, values made header-safe. */
import type { OutgoingHttpHeaders } from 'node:http';
import { headerSafe } from '../header-value.js';
import type { Identity } from '../identity/index.js';

export { headerSafe };

/** Which identity headers to send. */
export interface IdentityHeaderOptions {
  readonly authorization: boolean;
  readonly xAuthRequest: boolean;
  readonly accessToken: boolean;
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
