/**
 * Who someone is, as gatehouse uses it after authentication: subject, email, groups, username and how
 * they proved it. Built only from verified claims.
 */

/** How an identity was established. */
export type AuthMethod = 'session' | 'bearer';

/** An authenticated identity. */
export interface Identity {
  readonly sub: string;
  /** Lower-case domain part; empty when the provider gave no email. */
  readonly email: string;
  readonly emailVerified: boolean;
  readonly groups: readonly string[];
  readonly username: string;
  readonly issuer: string;
  readonly authMethod: AuthMethod;
}

/** Where the claims live (dot paths, as oauth2-proxy's `oidc_email_claim` / `oidc_groups_claim`). */
export interface ClaimNames {
  readonly email: string;
  readonly groups: string;
  readonly username: string;
}

/** Reads a claim by dot path (`realm_access.roles`); own properties only, so `__proto__` reads nothing. */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  let node: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * Parses an email strictly: exactly one `@`, a non-empty local part, a domain of letters, digits, dots
 * and hyphens (CVE-2026-40574: `a@evil.com@corp.com` must not pass as corp.com). The domain is
 * lower-cased; the local part is kept as given.
 * @returns the normalised address, or `undefined`.
 */
export function parseEmail(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 320) return undefined;
  const at = value.indexOf('@');
  if (at <= 0 || at !== value.lastIndexOf('@')) return undefined;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1).toLowerCase();
  if (!/^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$/.test(local)) return undefined;
  if (!/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/.test(domain)) return undefined;
  return `${local}@${domain}`;
}

/** Groups from a claim: a list of strings, or one string (documented); anything else counts as none. */
export function readGroups(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === 'string' && item !== '').slice(0, 256);
}

/** True only for the boolean `true` or the string `"true"` (some providers send strings). */
export function isEmailVerified(value: unknown): boolean {
  return value === true || value === 'true';
}

/** Builds an identity from verified ID token (or bearer) claims. */
export function identityFromClaims(claims: Readonly<Record<string, unknown>>, names: ClaimNames, authMethod: AuthMethod): Identity {
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  const username = readClaim(claims, names.username);
  return {
    sub,
    email: parseEmail(readClaim(claims, names.email)) ?? '',
    emailVerified: isEmailVerified(claims.email_verified),
    groups: readGroups(readClaim(claims, names.groups)),
    username: typeof username === 'string' ? username : '',
    issuer: typeof claims.iss === 'string' ? claims.iss : '',
    authMethod,
  };
}
