/**
 * Routes and policies at their edges: CEL expressions whose value is not a boolean, escaped characters an
 * application reads as themselves (`%3A`, `%40`), and a trailing slash on a protected path. The browser's
 * query on the check URL is tested through real Caddy in test/e2e/caddy-check-query.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePolicy, evaluatePolicy } from '../../src/policy/requirements.js';
import { compilePolicySet } from '../../src/policy/routes.js';
import { normalizePath } from '../../src/policy/path.js';
import { configOf, identityOf, policyRequest } from './support.js';

describe('a CEL expression whose value is not a boolean is an expression error, which denies', () => {
  const who = identityOf({ email: 'a@homelab.example.com', email_verified: true });
  for (const value of ['true', 1, 'yes']) {
    test(`deny: identity.claims.disabled with disabled=${JSON.stringify(value)} does not allow`, () => {
      const policy = compilePolicy({ deny: 'identity.claims.disabled' }, { bearerProvider: false });
      assert.deepEqual(evaluatePolicy(policy, who, { disabled: value }, policyRequest('/x')), { allow: false, reason: 'expression-error', requirement: 'deny' });
    });
  }
  test('deny: request.query["block"] with ?block=true does not allow', () => {
    const policy = compilePolicy({ deny: 'request.query["block"]' }, { bearerProvider: false });
    assert.equal(evaluatePolicy(policy, who, {}, policyRequest('/x', { search: '?block=true' })).allow, false);
  });
  test('control: a boolean claim decides as written', () => {
    const policy = compilePolicy({ deny: 'identity.claims.disabled' }, { bearerProvider: false });
    assert.equal(evaluatePolicy(policy, who, { disabled: false }, policyRequest('/x')).allow, true);
    assert.equal(evaluatePolicy(policy, who, { disabled: true }, policyRequest('/x')).allow, false);
  });
});

describe('escaped characters that applications read as themselves, and a trailing slash, select the protecting route', () => {
  const set = compilePolicySet(
    configOf({
      routes: [
        { name: 'admins-only', paths: ['/v1/secrets:list', '/users/@admin/**'], require: { groups: ['admins'] } },
        { name: 'app', require: { emailDomains: ['example.com'] } },
      ],
    }),
  );
  for (const uri of ['/v1/secrets%3Alist', '/v1/secrets%3alist', '/users/%40admin/keys', '/v1/secrets:list/']) {
    test(`${uri} selects the admins-only route`, () => {
      const normalized = normalizePath(uri);
      assert.ok(normalized.ok);
      assert.equal(set.select(policyRequest(normalized.path), undefined).label, 'route:admins-only');
    });
  }
});

describe('a trailing slash: protected routes take both spellings, public routes only their own', () => {
  const set = compilePolicySet(
    configOf({
      routes: [
        { name: 'health', paths: ['/api/health'], auth: 'public' },
        { name: 'settings', paths: ['/admin/settings'], require: { groups: ['admins'] } },
        { name: 'app', require: { emailDomains: ['example.com'] } },
      ],
    }),
  );
  const label = (path: string) => set.select(policyRequest(path), undefined).label;
  test('/admin/settings/ is the admins-only route', () => assert.equal(label('/admin/settings/'), 'route:settings'));
  test('/api/health/ is not public', () => assert.equal(label('/api/health/'), 'route:app'));
});
