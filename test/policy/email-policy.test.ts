/**
 * oauth2-proxy's global allow-list and the `/oauth2/auth?allowed_*=` constraints
 * (src/policy/email-policy.ts): exact domains, `.x` and `*.x` for subdomains only, `*` for any,
 * case-insensitive domains, and addresses with more than one `@` never allowed (POL-15, POL-16, POL-17).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEmailsFile } from '../../src/config/index.js';
import type { Identity } from '../../src/identity/index.js';
import { authorizeIdentity, authorizeQuery, createEmailPolicy, emailPolicyFromConfig, isEmailDomainAllowed, parseQueryConstraints, type Decision } from '../../src/policy/email-policy.js';
import { configOf } from './support.js';

function identity(email: string, options: { verified?: boolean; groups?: string[] } = {}): Identity {
  return { sub: 'sub', email, emailVerified: options.verified ?? true, groups: options.groups ?? [], username: '', issuer: 'https://idp.test', authMethod: 'session' };
}

function domains(...emailDomains: string[]) {
  return createEmailPolicy({ emailDomains, emails: [], groups: [], requireVerifiedEmail: true });
}

describe('createEmailPolicy', () => {
  test('sorts entries into exact domains, subdomain suffixes and any', () => {
    const policy = createEmailPolicy({ emailDomains: ['Example.COM', ' .corp.example ', '*.Sub.Example', '', '  '], emails: [' Alice@Example.COM ', ''], groups: ['admins', ''], requireVerifiedEmail: true });
    assert.equal(policy.anyDomain, false);
    assert.deepEqual([...policy.exactDomains], ['example.com']);
    assert.deepEqual(policy.subdomainSuffixes, ['.corp.example', '.sub.example']);
    // The local part keeps its case; the domain is folded.
    assert.deepEqual([...policy.emails], ['alice@example.com']);
    assert.deepEqual([...policy.groups], ['admins']);
    assert.equal(policy.requireVerifiedEmail, true);
    assert.equal(domains('*').anyDomain, true);
  });
});

describe('isEmailDomainAllowed', () => {
  const CASES: readonly { id?: string; domains: string[]; email: string; allowed: boolean }[] = [
    { domains: ['homelab.example.com'], email: 'user@homelab.example.com', allowed: true },
    { id: 'POL-16', domains: ['homelab.example.com'], email: 'user@HOMELAB.EXAMPLE.COM', allowed: true },
    { id: 'POL-16', domains: ['HomeLab.Example.com'], email: 'user@homelab.example.com', allowed: true },
    { id: 'POL-16', domains: ['homelab.example.com'], email: 'user@evilhomelab.example.com', allowed: false },
    { id: 'POL-16', domains: ['homelab.example.com'], email: 'user@homelab.example.com.evil.com', allowed: false },
    { id: 'POL-16', domains: ['homelab.example.com'], email: 'user@sub.homelab.example.com', allowed: false },
    { id: 'POL-16', domains: ['homelab.example.com'], email: 'user@homelab.example.com.', allowed: false },
    { id: 'POL-16', domains: ['homelab.example.com'], email: 'user@homelab.ex\u0430mple.com', allowed: false },
    { id: 'POL-16', domains: ['homelab.example.com'], email: '"user@evil.com"@homelab.example.com', allowed: false },
    { id: 'POL-15', domains: ['homelab.example.com'], email: 'attacker@evil.com@homelab.example.com', allowed: false },
    { id: 'POL-15', domains: ['homelab.example.com'], email: 'attacker@homelab.example.com@evil.com', allowed: false },
    { id: 'POL-15', domains: ['c'], email: 'a@b@c', allowed: false },
    { id: 'POL-15', domains: ['*'], email: 'a@b@c', allowed: false },
    { domains: ['homelab.example.com'], email: '@homelab.example.com', allowed: false },
    { domains: ['homelab.example.com'], email: 'homelab.example.com', allowed: false },
    { domains: ['homelab.example.com'], email: '', allowed: false },
    // `.x` and `*.x`: subdomains at any depth, not the domain itself (oauth2-proxy).
    { domains: ['.example.com'], email: 'u@a.example.com', allowed: true },
    { domains: ['.example.com'], email: 'u@a.b.example.com', allowed: true },
    { domains: ['.example.com'], email: 'u@A.EXAMPLE.com', allowed: true },
    { domains: ['.example.com'], email: 'u@example.com', allowed: false },
    { domains: ['.example.com'], email: 'u@evilexample.com', allowed: false },
    { domains: ['.example.com'], email: 'u@.example.com', allowed: false },
    { domains: ['*.example.com'], email: 'u@a.example.com', allowed: true },
    { domains: ['*.example.com'], email: 'u@example.com', allowed: false },
    { domains: ['*.example.com'], email: 'u@evilexample.com', allowed: false },
    { domains: ['example.com', '.example.com'], email: 'u@example.com', allowed: true },
    { domains: ['example.com', '.example.com'], email: 'u@x.example.com', allowed: true },
    // `*`: any domain, still one `@` and a local part.
    { domains: ['*'], email: 'anyone@anywhere.test', allowed: true },
    { domains: ['*'], email: '@anywhere.test', allowed: false },
    { domains: ['*'], email: 'nobody', allowed: false },
    { domains: [], email: 'user@homelab.example.com', allowed: false },
    { domains: [''], email: 'user@', allowed: false },
  ];
  for (const { id, domains: list, email, allowed } of CASES) {
    test(`${id === undefined ? '' : `${id} `}${JSON.stringify(list)} ${allowed ? 'allows' : 'refuses'} ${JSON.stringify(email)}`, () => {
      assert.equal(isEmailDomainAllowed(email, domains(...list)), allowed);
    });
  }

  test('DOS-09: a 10 000-character address is answered', () => {
    assert.equal(isEmailDomainAllowed(`${'a'.repeat(10_000)}@`, domains('.example.com')), false);
    assert.equal(isEmailDomainAllowed(`u@${'a.'.repeat(5_000)}example.com`, domains('.example.com')), true);
  });
});

describe('authorizeIdentity', () => {
  const policy = createEmailPolicy({ emailDomains: ['homelab.example.com'], emails: ['guest@partner.test', 'Mixed@Partner.TEST'], groups: [], requireVerifiedEmail: true });
  const withGroups = createEmailPolicy({ emailDomains: ['homelab.example.com'], emails: [], groups: ['admins', 'ops'], requireVerifiedEmail: true });
  const unverifiedOk = createEmailPolicy({ emailDomains: ['homelab.example.com'], emails: [], groups: [], requireVerifiedEmail: false });
  const CASES: readonly { id?: string; name: string; policy: typeof policy; identity: Identity; extra?: Set<string>; expected: Decision }[] = [
    { name: 'an allowed domain', policy, identity: identity('user@homelab.example.com'), expected: { allow: true } },
    { name: 'no email', policy, identity: identity(''), expected: { allow: false, reason: 'email-missing' } },
    { id: 'POL-17', name: 'unverified email', policy, identity: identity('user@homelab.example.com', { verified: false }), expected: { allow: false, reason: 'email-unverified' } },
    { id: 'POL-17', name: 'unverified email, insecureAllowUnverifiedEmail', policy: unverifiedOk, identity: identity('user@homelab.example.com', { verified: false }), expected: { allow: true } },
    { id: 'POL-17', name: 'unverified email of a listed address', policy, identity: identity('guest@partner.test', { verified: false }), expected: { allow: false, reason: 'email-unverified' } },
    { id: 'POL-16', name: 'another domain', policy, identity: identity('user@evil.test'), expected: { allow: false, reason: 'email-not-allowed' } },
    { id: 'POL-16', name: 'a subdomain of the exact domain', policy, identity: identity('user@sub.homelab.example.com'), expected: { allow: false, reason: 'email-not-allowed' } },
    { id: 'POL-15', name: 'two @ (should never reach here; parseEmail refuses it)', policy, identity: identity('attacker@evil.com@homelab.example.com'), expected: { allow: false, reason: 'email-not-allowed' } },
    { name: 'a listed address outside the domains', policy, identity: identity('guest@partner.test'), expected: { allow: true } },
    { name: 'a listed address, domain case folded at load', policy, identity: identity('Mixed@partner.test'), expected: { allow: true } },
    { name: 'an address from the emails file', policy, identity: identity('file@partner.test'), extra: new Set(['file@partner.test']), expected: { allow: true } },
    { name: 'a group of the list', policy: withGroups, identity: identity('user@homelab.example.com', { groups: ['staff', 'ops'] }), expected: { allow: true } },
    { id: 'POL-18', name: 'no group of the list', policy: withGroups, identity: identity('user@homelab.example.com', { groups: ['Admins', 'admins '] }), expected: { allow: false, reason: 'group-not-allowed' } },
    { name: 'no groups at all', policy: withGroups, identity: identity('user@homelab.example.com'), expected: { allow: false, reason: 'group-not-allowed' } },
    { name: 'the domain is checked before the groups', policy: withGroups, identity: identity('user@evil.test', { groups: ['admins'] }), expected: { allow: false, reason: 'email-not-allowed' } },
  ];
  for (const { id, name, policy: allowList, identity: who, extra, expected } of CASES) {
    test(`${id === undefined ? '' : `${id} `}${name}`, () => {
      assert.deepEqual(authorizeIdentity(who, allowList, extra), expected);
    });
  }
});

describe('authorization.emails and authorization.emailsFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-emails-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('an address allows the same identities whether it is listed in the configuration or in the file', () => {
    const file = join(dir, 'emails.txt');
    writeFileSync(file, '# allowed\nAlice@Partner.test\nbob@partner.test,Bob\n');
    const fromFile = readEmailsFile(file);
    const listed = createEmailPolicy({ emailDomains: [], emails: ['Alice@Partner.test', 'bob@partner.test'], groups: [], requireVerifiedEmail: true });
    const filed = createEmailPolicy({ emailDomains: [], emails: [], groups: [], requireVerifiedEmail: true });
    for (const email of ['Alice@partner.test', 'bob@partner.test']) {
      const who = identity(email);
      assert.deepEqual(authorizeIdentity(who, listed), { allow: true }, `${email} by the list`);
      assert.deepEqual(authorizeIdentity(who, filed, fromFile), { allow: true }, `${email} by the file`);
    }
    assert.deepEqual(authorizeIdentity(identity('carol@partner.test'), filed, fromFile), { allow: false, reason: 'email-not-allowed' });
  });
});

describe('emailPolicyFromConfig', () => {
  test('the configured lists; verification required unless insecureAllowUnverifiedEmail', () => {
    const config = configOf({ authorization: { emailDomains: ['homelab.example.com'], groups: ['admins'] } });
    const policy = emailPolicyFromConfig(config, false);
    assert.deepEqual([...policy.exactDomains], ['homelab.example.com']);
    assert.deepEqual([...policy.groups], ['admins']);
    assert.equal(policy.requireVerifiedEmail, true);
    assert.equal(emailPolicyFromConfig(configOf({ provider: { insecureAllowUnverifiedEmail: true } }), false).requireVerifiedEmail, false);
  });

  test('nothing configured: any domain only with the development provider', () => {
    assert.equal(emailPolicyFromConfig(configOf({}), true).anyDomain, true);
    assert.equal(emailPolicyFromConfig(configOf({}), false).anyDomain, false);
    assert.equal(emailPolicyFromConfig(configOf({ authorization: { emails: ['a@b.test'] } }), true).anyDomain, false);
  });
});

describe('parseQueryConstraints', () => {
  const CASES: readonly { search: string; expected: ReturnType<typeof parseQueryConstraints> }[] = [
    { search: '', expected: undefined },
    { search: 'rd=/x', expected: undefined },
    { search: 'allowed_groups=admins', expected: { groups: ['admins'], emails: [], emailDomains: [] } },
    { search: 'allowed_groups=admins,ops&allowed_groups=dev', expected: { groups: ['admins', 'ops', 'dev'], emails: [], emailDomains: [] } },
    { search: 'allowed_groups=%20admins%20,,ops,', expected: { groups: ['admins', 'ops'], emails: [], emailDomains: [] } },
    { search: 'allowed_emails=a@x.test,b@y.test', expected: { groups: [], emails: ['a@x.test', 'b@y.test'], emailDomains: [] } },
    { search: 'allowed_email_domains=.example.com&allowed_email_domains=x.test', expected: { groups: [], emails: [], emailDomains: ['.example.com', 'x.test'] } },
    // As oauth2-proxy: an empty value is no constraint at all.
    { search: 'allowed_groups=', expected: undefined },
    { search: 'allowed_groups=,,&allowed_emails=', expected: undefined },
  ];
  for (const { search, expected } of CASES) {
    test(`?${search} → ${expected === undefined ? 'undefined' : JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseQueryConstraints(new URLSearchParams(search)), expected);
    });
  }
});

describe('authorizeQuery', () => {
  const CASES: readonly { search: string; identity: Identity; expected: Decision }[] = [
    { search: 'allowed_groups=admins,ops', identity: identity('u@x.test', { groups: ['ops'] }), expected: { allow: true } },
    { search: 'allowed_groups=admins,ops', identity: identity('u@x.test', { groups: ['staff'] }), expected: { allow: false, reason: 'query-group-not-allowed' } },
    { search: 'allowed_groups=admins', identity: identity('u@x.test', { groups: ['Admins'] }), expected: { allow: false, reason: 'query-group-not-allowed' } },
    { search: 'allowed_emails=u@X.TEST', identity: identity('u@x.test'), expected: { allow: true } },
    { search: 'allowed_emails=u@x.test', identity: identity('v@x.test'), expected: { allow: false, reason: 'query-email-not-allowed' } },
    { search: 'allowed_email_domains=x.test', identity: identity('u@X.test'), expected: { allow: true } },
    { search: 'allowed_email_domains=x.test', identity: identity('u@sub.x.test'), expected: { allow: false, reason: 'query-email-domain-not-allowed' } },
    { search: 'allowed_email_domains=.x.test', identity: identity('u@sub.x.test'), expected: { allow: true } },
    { search: 'allowed_email_domains=.x.test', identity: identity('u@x.test'), expected: { allow: false, reason: 'query-email-domain-not-allowed' } },
    { search: 'allowed_email_domains=*.x.test', identity: identity('u@a.b.x.test'), expected: { allow: true } },
    { search: 'allowed_email_domains=*', identity: identity('u@anything.test'), expected: { allow: true } },
    { search: 'allowed_email_domains=x.test', identity: identity('a@evil.test@x.test'), expected: { allow: false, reason: 'query-email-domain-not-allowed' } },
    { search: 'allowed_email_domains=*', identity: identity('a@evil.test@x.test'), expected: { allow: false, reason: 'query-email-domain-not-allowed' } },
    { search: 'allowed_email_domains=x.test', identity: identity(''), expected: { allow: false, reason: 'query-email-domain-not-allowed' } },
    // Every constraint must hold; groups are checked first, then emails, then domains.
    { search: 'allowed_groups=ops&allowed_emails=u@x.test', identity: identity('v@x.test', { groups: ['staff'] }), expected: { allow: false, reason: 'query-group-not-allowed' } },
    { search: 'allowed_groups=ops&allowed_emails=u@x.test', identity: identity('v@x.test', { groups: ['ops'] }), expected: { allow: false, reason: 'query-email-not-allowed' } },
    { search: 'allowed_emails=u@x.test&allowed_email_domains=y.test', identity: identity('u@x.test'), expected: { allow: false, reason: 'query-email-domain-not-allowed' } },
    { search: 'allowed_groups=ops&allowed_emails=u@x.test&allowed_email_domains=x.test', identity: identity('u@x.test', { groups: ['ops'] }), expected: { allow: true } },
  ];
  for (const { search, identity: who, expected } of CASES) {
    test(`?${search} for ${JSON.stringify(who.email)} ${JSON.stringify(who.groups)} → ${expected.allow ? 'allow' : expected.reason}`, () => {
      const constraints = parseQueryConstraints(new URLSearchParams(search));
      assert.ok(constraints !== undefined);
      assert.deepEqual(authorizeQuery(who, constraints), expected);
    });
  }
});
