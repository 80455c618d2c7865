/**
 * oauth2-proxy's skip_auth_preflight stays within what docs/policy.md promises, segments made of parameters
 * never normalize away, and the either-slash matching of protected routes never widens a public route.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizePath } from '../../src/policy/path.js';
import { compilePolicySet } from '../../src/policy/routes.js';
import { APP, configOf, createTestGateway, fixtureConfig, policyRequest, USER } from './support.js';

describe('skip_auth_preflight', () => {
  const gateway = createTestGateway(fixtureConfig({ forwardAuth: { skipAuthPreflight: true } }), { user: USER });

  it('makes an OPTIONS request public before every other route', async () => {
    const verdict = await gateway.check('/admin/settings', { method: 'OPTIONS' });
    assert.equal(verdict.status, 202);
    assert.equal(verdict.reason, 'route-public');
  });

  it('does not apply when the proxy names a policy (docs/policy.md)', async () => {
    const verdict = await gateway.check('/admin/settings', { method: 'OPTIONS', endpointSearch: 'policy=admins' });
    assert.equal(verdict.status, 401);
  });

  it('matches the method exactly: a lower-case options is not a preflight', async () => {
    const verdict = await gateway.check('/admin/settings', { method: 'options' });
    assert.equal(verdict.status, 401);
  });

  it('is off by default', async () => {
    const plain = createTestGateway(fixtureConfig(), { user: USER });
    const verdict = await plain.check('/admin/settings', { method: 'OPTIONS' });
    assert.equal(verdict.status, 401);
  });
});

describe('segments that are only parameters', () => {
  for (const uri of ['/admin/..;/public', '/admin/.;/x', '/public/;x/../admin', '/%2e%2e;/admin', '/admin/;']) {
    it(`refuses ${uri} rather than reading it as a dot or empty segment`, () => {
      assert.deepEqual(normalizePath(uri), { ok: false, reason: 'bad-path' });
    });
  }

  it('still strips parameters from a named segment', () => {
    assert.deepEqual(normalizePath('/admin;jsessionid=1/x'), { ok: true, path: '/admin/x' });
  });
});

describe('either-slash matching', () => {
  const set = compilePolicySet(
    configOf({
      routes: [
        { name: 'open', hosts: [APP], paths: ['/docs/*'], auth: 'public' },
        { name: 'admin', hosts: [APP], paths: ['/admin/*'], require: { groups: ['admins'] } },
        { name: 'delete', hosts: [APP], paths: ['/api/**/delete'], require: { groups: ['admins'] } },
        { name: 'app', hosts: [APP] },
      ],
    }),
  );
  const label = (path: string) => set.select(policyRequest(path), undefined).label;

  it('a protected `/admin/*` also covers /admin and /admin/', () => {
    assert.equal(label('/admin'), 'route:admin');
    assert.equal(label('/admin/'), 'route:admin');
  });

  it('`**` followed by a segment covers the trailing-slash spelling', () => {
    assert.equal(label('/api/x/delete/'), 'route:delete');
    assert.equal(label('/api/x/delete'), 'route:delete');
  });

  it('a public `/docs/*` matches only what it names: /docs falls to the protected route', () => {
    assert.equal(label('/docs/'), 'route:open');
    assert.equal(label('/docs'), 'route:app');
    assert.equal(label('/docs/a/'), 'route:app');
  });
});
