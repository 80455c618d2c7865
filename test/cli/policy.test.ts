/** `gatehouse policy explain` and `gatehouse policy test`, driven through the executable. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, ensureBuilt } from '../e2e/support/build.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-cli-'));

const CONFIG = `provider: { issuer: "https://idp.example.com/", clientId: gatehouse, clientSecret: s3cret-value }
cookie: { secrets: ["Aj8lBvYV4xw2m6n0ZPpTQ9Jg3rKcXe7WfH1sLdNuUqE"], domains: [.homelab.example.com] }
authorization: { emailDomains: [farcaller.net] }
bearer: { provider: true }
policies:
  admins: { require: { groups: [admins] } }
routes:
  - name: grafana-health
    hosts: [grafana.homelab.example.com]
    paths: [/api/health]
    methods: [GET]
    auth: public
  - name: traefik-admin
    hosts: [traefik.homelab.example.com]
    policy: admins
  - name: vminsert
    hosts: [vminsert.homelab.example.com]
    auth: [bearer:provider]
    allow: request.ip in cidr("192.168.1.0/24")
  - name: rollout
    hosts: [new.homelab.example.com]
    require: { groups: [family] }
    mode: audit
  - name: dashboards
    hosts: ["*.homelab.example.com"]
`;

before(async () => {
  // Built from the current src/, not whatever dist/ holds.
  await ensureBuilt();
  writeFileSync(join(dir, 'gatehouse.yaml'), CONFIG);
});

after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const explain = (...args: string[]) => run(['policy', 'explain', '--config', 'gatehouse.yaml', ...args]);

test('explain names the route, each requirement and the outcome', () => {
  const result = explain('--url', 'https://traefik.homelab.example.com/dashboard/', '--email', 'bob@farcaller.net', '--groups', 'users');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^selected: +route:traefik-admin$/m);
  assert.match(result.stdout, /^ +FAIL +require\.groups: not met: one of the groups \[admins\]$/m);
  assert.match(result.stdout, /^outcome: +deny \(group-not-allowed\)$/m);
});

test('explain shows the normalized path the rules see', () => {
  const result = explain('--url', 'https://grafana.homelab.example.com/x/..//api/./health;jsessionid=1?a=b');
  assert.match(result.stdout, /^path: +\/api\/health$/m);
  assert.match(result.stdout, /^outcome: +allow \(route-public\)$/m);
});

test('explain refuses an ambiguous path as the check does', () => {
  const result = explain('--url', 'https://grafana.homelab.example.com/api%2Fhealth');
  assert.match(result.stdout, /^outcome: +bad-request \(bad-path\)$/m);
});

test('explain: source rules use --ip, and a token is decoded but said to be unverified', () => {
  const claims = Buffer.from(JSON.stringify({ sub: 'homekit', email: 'homekit@farcaller.net', email_verified: true })).toString('base64url');
  const token = `eyJhbGciOiJFUzI1NiJ9.${claims}.c2ln`;
  const outside = explain('--url', 'https://vminsert.homelab.example.com/api/v1/import', '--method', 'POST', '--token', token, '--ip', '10.9.9.9');
  assert.match(outside.stdout, /NOT verified/);
  assert.match(outside.stdout, /^outcome: +deny \(allow-expression-false\)$/m);
  const inside = explain('--url', 'https://vminsert.homelab.example.com/api/v1/import', '--method', 'POST', '--token', token, '--ip', '192.168.1.20');
  assert.match(inside.stdout, /^outcome: +allow \(bearer-valid\)$/m);
  const session = explain('--url', 'https://vminsert.homelab.example.com/api/v1/import', '--email', 'alice@farcaller.net', '--ip', '192.168.1.20');
  assert.match(session.stdout, /^outcome: +unauthenticated \(bearer-missing\)$/m);
});

test('explain: unknown host is denied by the default, a named policy is applied', () => {
  assert.match(explain('--url', 'https://other.example.org/').stdout, /^outcome: +deny \(no-route-matched\)$/m);
  const named = explain('--url', 'https://anything.homelab.example.com/', '--email', 'alice@farcaller.net', '--groups', 'admins', '--policy', 'admins');
  assert.match(named.stdout, /^selected: +policy:admins$/m);
  assert.match(named.stdout, /^outcome: +allow/m);
  assert.match(explain('--url', 'https://a.homelab.example.com/', '--policy', 'nope').stdout, /policy-unknown/);
});

test('explain with wrong input: exit 2 with a one-line error', () => {
  for (const args of [['--url', 'not a url'], [], ['--url', 'https://a.homelab.example.com/', '--email', 'a@b@c'], ['--url', 'https://a/', '--bogus', '1']]) {
    const result = explain(...args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr.split('\n')[0] ?? '', /^gatehouse: /);
  }
});

test('policy test: a passing table exits 0, a mismatch exits 1 and says what differed', () => {
  writeFileSync(
    join(dir, 'cases.yaml'),
    `config: gatehouse.yaml
cases:
  - url: https://grafana.homelab.example.com/api/health
    expect: allow
  - name: POST is not covered by the public GET route
    url: https://grafana.homelab.example.com/api/health
    method: POST
    expect: unauthenticated
  - url: https://traefik.homelab.example.com/
    email: alice@farcaller.net
    groups: [admins]
    expect: allow
  - url: https://new.homelab.example.com/
    email: bob@farcaller.net
    expect: allow
    reason: audit:group-not-allowed
  - url: https://grafana.homelab.example.com/
    email: eve@evil.example
    expect: deny
    reason: email-not-allowed
`,
  );
  const good = run(['policy', 'test', 'cases.yaml']);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^5 passed, 0 failed$/m);
  writeFileSync(join(dir, 'bad.yaml'), 'config: gatehouse.yaml\ncases:\n  - url: https://traefik.homelab.example.com/\n    email: bob@farcaller.net\n    expect: allow\n');
  const bad = run(['policy', 'test', 'bad.yaml']);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^not ok 1 .*\n +expected allow, got deny \(group-not-allowed\) via route:traefik-admin$/m);
  assert.match(bad.stdout, /^0 passed, 1 failed$/m);
});

test('policy test with a broken table or configuration', () => {
  writeFileSync(join(dir, 'broken.yaml'), 'cases:\n  - url: https://a/\n');
  assert.equal(run(['policy', 'test', 'broken.yaml']).code, 2);
  assert.equal(run(['policy', 'test', 'missing.yaml']).code, 2);
  writeFileSync(join(dir, 'cases-missing-config.yaml'), 'config: missing-config.yaml\ncases:\n  - { url: https://a.example.com/, expect: allow }\n');
  const unread = run(['policy', 'test', 'cases-missing-config.yaml']);
  assert.equal(unread.code, 78);
  assert.match(unread.stderr, /^ +- config \(from file cases-missing-config\.yaml\): cannot read '.*missing-config\.yaml' \(ENOENT\)/m);
  writeFileSync(join(dir, 'bad-config.yaml'), 'routes:\n  - name: x\n    allow: identity.emial == "a"\n');
  const result = run(['policy', 'test', 'cases.yaml', '--config', 'bad-config.yaml']);
  assert.equal(result.code, 78);
  assert.match(result.stderr, /routes\[0\].*ERR_CONFIG_ROUTE_INVALID/s);
});
