/**
 * oauth2-proxy's global allow-list: email domains, allowed emails (list and file) and allowed groups,
 * with its exact domain semantics, and the query-string constraints of `/oauth2/auth`.
 */
import type { Config } from '../config/index.js';
import type { Identity } from '../identity/index.js';

/** Stable reason codes of authorization decisions. */
export type DenyReason =
  | 'user-unauthenticated'
  | 'email-missing'
  | 'email-unverified'
  | 'email-not-allowed'
  | 'group-not-allowed'
  | 'query-email-not-allowed'
  | 'query-email-domain-not-allowed'
  | 'query-group-not-allowed';

/** The outcome of an authorization check. */
export type Decision = { allow: true } | { allow: false; reason: DenyReason };

/** Pre-parsed allow-list. */
export interface EmailPolicy {
  readonly anyDomain: boolean;
  readonly exactDomains: ReadonlySet<string>;
  /** Suffixes with their leading dot (`.example.com`). */
  readonly subdomainSuffixes: readonly string[];
  readonly emails: ReadonlySet<string>;
  readonly groups: ReadonlySet<string>;
  readonly requireVerifiedEmail: boolean;
}

/** Addresses compare case-insensitively, as oauth2-proxy compares them (its emails file is lower-cased). */
function normaliseEmail(email: string): string {
  return email.toLowerCase();
}

/**
 * Builds the allow-list. `example.com` allows exactly that domain; `.example.com` and `*.example.com`
 * its subdomains (not the domain itself, as oauth2-proxy); `*` any domain.
 */
export function createEmailPolicy(options: { emailDomains: readonly string[]; emails: readonly string[]; groups: readonly string[]; requireVerifiedEmail: boolean }): EmailPolicy {
  const exactDomains = new Set<string>();
  const subdomainSuffixes: string[] = [];
  let anyDomain = false;
  for (const raw of options.emailDomains) {
    const domain = raw.trim().toLowerCase();
    if (domain === '*') anyDomain = true;
    else if (domain.startsWith('*.')) subdomainSuffixes.push(domain.slice(1));
    else if (domain.startsWith('.')) subdomainSuffixes.push(domain);
    else if (domain !== '') exactDomains.add(domain);
  }
  return {
    anyDomain,
    exactDomains,
    subdomainSuffixes,
    emails: new Set(options.emails.map((email) => normaliseEmail(email.trim())).filter((email) => email !== '')),
    groups: new Set(options.groups.filter((group) => group !== '')),
    requireVerifiedEmail: options.requireVerifiedEmail,
  };
}

/** True when the address's domain passes the domain rules. */
export function isEmailDomainAllowed(email: string, domains: Pick<EmailPolicy, 'anyDomain' | 'exactDomains' | 'subdomainSuffixes'>): boolean {
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@')) return false;
  if (domains.anyDomain) return true;
  const domain = email.slice(at + 1).toLowerCase();
  if (domains.exactDomains.has(domain)) return true;
  return domains.subdomainSuffixes.some((suffix) => domain.endsWith(suffix) && domain.length > suffix.length);
}

/** Checks an identity against the allow-list. */
export function authorizeIdentity(identity: Identity, policy: EmailPolicy, extraEmails?: ReadonlySet<string>): Decision {
  if (identity.email === '') return { allow: false, reason: 'email-missing' };
  if (policy.requireVerifiedEmail && !identity.emailVerified) return { allow: false, reason: 'email-unverified' };
  const email = normaliseEmail(identity.email);
  const listed = policy.emails.has(email) || (extraEmails?.has(email) ?? false);
  if (!listed && !isEmailDomainAllowed(identity.email, policy)) return { allow: false, reason: 'email-not-allowed' };
  if (policy.groups.size > 0 && !identity.groups.some((group) => policy.groups.has(group))) return { allow: false, reason: 'group-not-allowed' };
  return { allow: true };
}

/** The `/oauth2/auth?allowed_groups=&allowed_emails=&allowed_email_domains=` constraints. */
export interface QueryConstraints {
  readonly groups: readonly string[];
  readonly emails: readonly string[];
  readonly emailDomains: readonly string[];
}

/** Reads the constraints from a query string (comma lists, the parameter may repeat). */
export function parseQueryConstraints(search: URLSearchParams): QueryConstraints | undefined {
  const list = (name: string) =>
    search
      .getAll(name)
      .flatMap((value) => value.split(','))
      .map((value) => value.trim())
      .filter((value) => value !== '');
  const groups = list('allowed_groups');
  const emails = list('allowed_emails');
  const emailDomains = list('allowed_email_domains');
  if (groups.length === 0 && emails.length === 0 && emailDomains.length === 0) return undefined;
  return { groups, emails, emailDomains };
}

/** Checks the query constraints, as oauth2-proxy's `authOnlyAuthorize`. */
export function authorizeQuery(identity: Identity, constraints: QueryConstraints): Decision {
  if (constraints.groups.length > 0 && !identity.groups.some((group) => constraints.groups.includes(group))) {
    return { allow: false, reason: 'query-group-not-allowed' };
  }
  if (constraints.emails.length > 0 && !constraints.emails.map(normaliseEmail).includes(normaliseEmail(identity.email))) {
    return { allow: false, reason: 'query-email-not-allowed' };
  }
  if (constraints.emailDomains.length > 0 && !isEmailDomainAllowed(identity.email, createEmailPolicy({ emailDomains: constraints.emailDomains, emails: [], groups: [], requireVerifiedEmail: false }))) {
    return { allow: false, reason: 'query-email-domain-not-allowed' };
  }
  return { allow: true };
}

/**
 * The global allow-list of a configuration. With the development provider and nothing configured, any
 * domain is allowed (anyone can sign in as anyone there anyway).
 */
export function emailPolicyFromConfig(config: Pick<Config, 'authorization' | 'provider'>, devMode: boolean): EmailPolicy {
  const { authorization } = config;
  const nothingConfigured = authorization.emailDomains.length === 0 && authorization.emails.length === 0 && authorization.emailsFile === '';
  return createEmailPolicy({
    emailDomains: devMode && nothingConfigured ? ['*'] : authorization.emailDomains,
    emails: authorization.emails,
    groups: authorization.groups,
    requireVerifiedEmail: !config.provider.insecureAllowUnverifiedEmail,
  });
}
