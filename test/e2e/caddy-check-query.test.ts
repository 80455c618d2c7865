/**
 * The browser may not choose the policy through the check URL: Caddy's rewrite keeps the browser's query
 * when the new URI has none, so `forward_auth … { uri / }` would pass a visitor's `?policy=` on as if Caddy
 * had chosen it. The recipe's `uri /?` clears it, and gatehouse refuses a check whose query is the
 * browser's own and names a policy or constraint. Real Caddy, a built gatehouse, on loopback.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, ROOT, ensureBuilt } from './support/build.js';
import { freePort, makeTempDir, spawnLogged, waitForPort, type Spawned } from './support/processes.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer to GET ${path} within 15 s`)));
    req.on('error', reject);
    req.end();
  });
}

if (existsSync('/usr/bin/caddy')) {
  describe('the browser may not choose the policy through the check URL (real Caddy)', () => {
    const temp = makeTempDir('review-policy');
    let gatehouse: Spawned | undefined;
    let caddy: Spawned | undefined;
    let caddyPort = 0;
    let oldPort = 0;

    before(async () => {
      await ensureBuilt();
      const gatehousePort = await freePort();
      caddyPort = await freePort();
      oldPort = await freePort();
      writeFileSync(
        join(temp.path, 'gatehouse.yaml'),
        `listen: 127.0.0.1:${gatehousePort}
provider: { issuer: 'https://idp.invalid/', clientId: x, clientSecret: y }
cookie: { secrets: [AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA] }
proxy: { reverseProxy: true, trusted: [127.0.0.1/32] }
authorization: { emailDomains: [example.com] }
policies:
  health: { auth: public }
routes:
  - { name: health, paths: [/healthz], policy: health }
  - { name: admin, paths: [/admin/**], require: { groups: [admins] } }
routeDefault: deny
`,
      );
      // docs/proxies/caddy.md's site block (uri /?), and the same with the old `uri /`, on plain http, with
      // a stand-in application that shows the URI it received.
      writeFileSync(
        join(temp.path, 'Caddyfile'),
        `{
	admin off
	auto_https off
}
http://127.0.0.1:${caddyPort} {
	handle /oauth2/auth {
		respond 404
	}
	handle /oauth2/* {
		reverse_proxy 127.0.0.1:${gatehousePort}
	}
	handle {
		forward_auth 127.0.0.1:${gatehousePort} {
			uri /?
			copy_headers X-Auth-Request-User X-Auth-Request-Email
		}
		respond "APPLICATION {uri}" 200
	}
}
http://127.0.0.1:${oldPort} {
	handle {
		forward_auth 127.0.0.1:${gatehousePort} {
			uri /
			copy_headers X-Auth-Request-User X-Auth-Request-Email
		}
		respond "APPLICATION {uri}" 200
	}
}
`,
      );
      gatehouse = spawnLogged('gatehouse', process.execPath, [BIN, 'serve', '--config', join(temp.path, 'gatehouse.yaml')], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: temp.path } });
      await waitForPort(gatehousePort, 10_000, gatehouse);
      caddy = spawnLogged('caddy', '/usr/bin/caddy', ['run', '--config', join(temp.path, 'Caddyfile'), '--adapter', 'caddyfile'], { cwd: temp.path, env: { PATH: process.env.PATH, HOME: temp.path } });
      await waitForPort(caddyPort, 10_000, caddy);
      await waitForPort(oldPort, 10_000, caddy);
    });

    after(async () => {
      await Promise.allSettled([caddy?.stop(), gatehouse?.stop()]);
      temp.remove();
    });

    test('the recipe (uri /?): ?policy=health in the browser URL changes nothing; the public path stays public with its query', async () => {
      assert.equal((await get(caddyPort, '/admin/secret')).status, 302);
      const tried = await get(caddyPort, '/admin/secret?policy=health');
      assert.equal(tried.status, 302, 'still a sign-in');
      const health = await get(caddyPort, '/healthz?verbose=1');
      assert.equal(health.status, 200);
      assert.equal(health.body, 'APPLICATION /healthz?verbose=1', 'the application still gets its query');
    });

    test('the old uri /: the browser query reaches the check URL, and naming a policy there is refused (403), never allowed', async () => {
      const tried = await get(oldPort, '/admin/secret?policy=health');
      assert.equal(tried.status, 403, `${tried.status} ${tried.body.slice(0, 80)}`);
      assert.doesNotMatch(tried.body, /^APPLICATION/);
      const constraint = await get(oldPort, '/admin/secret?allowed_groups=everyone');
      assert.equal(constraint.status, 403);
      assert.equal((await get(oldPort, '/admin/secret?page=2')).status, 302, 'an ordinary query is only the application\'s');
    });
  });
} else {
  test('the browser may not choose the policy through the check URL (real Caddy)', () => {
    // The end-to-end suite needs real parts; .ci/run installs them. A missing one fails, never skips.
    assert.fail('needs /usr/bin/caddy');
  });
}
