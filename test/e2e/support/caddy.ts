/**
 * Caddy in front of gatehouse with `forward_auth`: the recipe of docs/proxies/caddy.md, and a Caddy process
 * running it with its internal CA (`local_certs`) in the test's temp dir.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTemplate } from './docs.js';
import { GRAFANA_HOST, TRAEFIK_HOST } from './gatehouse.js';
import { freePort, spawnLogged, waitForPort, type Spawned } from './processes.js';

/** docs/proxies/caddy.md shows this block, filled with {@link CADDY_DOC_VALUES}. */
export const CADDY_TEMPLATE = `{{GRAFANA_SITE}} {
	# The check's own endpoint is not for browsers: its answer carries the identity and the ID token.
	# forward_auth below asks gatehouse directly, on /, and never comes through here.
	handle /oauth2/auth {
		respond 404
	}
	# gatehouse's own endpoints, on the application's host: start, callback, sign_out, refresh.
	handle /oauth2/* {
		reverse_proxy {{GATEHOUSE}}
	}
	# Everything else: ask gatehouse first. A 2xx answer lets the request through with the identity
	# headers copied onto it; any other answer (the sign-in redirect, 401, the 403 page) goes to the browser.
	handle {
		forward_auth {{GATEHOUSE}} {
			uri /?
			copy_headers X-Auth-Request-User X-Auth-Request-Email X-Auth-Request-Groups X-Auth-Request-Preferred-Username Authorization
		}
		reverse_proxy {{GRAFANA_APP}}
	}
}

{{TRAEFIK_SITE}} {
	handle /oauth2/auth {
		respond 404
	}
	handle /oauth2/* {
		reverse_proxy {{GATEHOUSE}}
	}
	handle {
		forward_auth {{GATEHOUSE}} {
			uri /?
			copy_headers X-Auth-Request-User X-Auth-Request-Email X-Auth-Request-Groups X-Auth-Request-Preferred-Username Authorization
		}
		reverse_proxy {{TRAEFIK_APP}}
	}
}
`;

/** The values the documentation shows. */
export const CADDY_DOC_VALUES: Readonly<Record<string, string>> = Object.freeze({
  GRAFANA_SITE: GRAFANA_HOST,
  TRAEFIK_SITE: TRAEFIK_HOST,
  GATEHOUSE: '127.0.0.1:4180',
  GRAFANA_APP: '127.0.0.1:3000',
  TRAEFIK_APP: '127.0.0.1:9000',
});

/** A running Caddy. */
export interface RunningCaddy {
  readonly port: number;
  /** PEM of Caddy's internal root CA, which signed the site certificates. */
  readonly caPem: string;
  readonly process: Spawned;
  stop(): Promise<void>;
}

/** Site blocks a test adds after the recipe's two. */
export interface CaddyExtraSites {
  /** The blocks, rendered (addresses and ports filled in). */
  readonly text: string;
  /** How many site addresses they hold: Caddy issues one certificate each before the test starts. */
  readonly count: number;
}

/**
 * Starts Caddy on `port` with the recipe. Test-only global options: no admin endpoint, certificates from
 * Caddy's internal CA without touching the system trust store, no HTTP→HTTPS redirect listener, and
 * free ports instead of 80/443. `extra` sites, if given, follow the recipe's.
 */
export async function startCaddy(dir: string, port: number, addresses: { gatehouse: string; grafana: string; traefik: string }, extra?: CaddyExtraSites): Promise<RunningCaddy> {
  const globalOptions = `{
	admin off
	local_certs
	skip_install_trust
	auto_https disable_redirects
	http_port ${await freePort()}
	https_port ${port}
	storage file_system ${join(dir, 'caddy-data')}
}

`;
  const site = renderTemplate(CADDY_TEMPLATE, {
    GRAFANA_SITE: `${GRAFANA_HOST}:${port}`,
    TRAEFIK_SITE: `${TRAEFIK_HOST}:${port}`,
    GATEHOUSE: addresses.gatehouse,
    GRAFANA_APP: addresses.grafana,
    TRAEFIK_APP: addresses.traefik,
  });
  const caddyfile = join(dir, 'Caddyfile');
  writeFileSync(caddyfile, globalOptions + site + (extra === undefined ? '' : `\n${extra.text}`));
  // Caddy keeps its CA and state under $XDG_DATA_HOME / $XDG_CONFIG_HOME / $HOME: all in the temp dir.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: join(dir, 'xdg-data'), XDG_CONFIG_HOME: join(dir, 'xdg-config') };
  const caddy = spawnLogged('caddy', '/usr/bin/caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], { cwd: dir, env });
  try {
    await waitForPort(port, 20_000, caddy);
    // The site certificates are issued right after the listener opens: one per site address.
    const certificates = 2 + (extra?.count ?? 0);
    await caddy.waitForOutput(new RegExp(Array.from({ length: certificates }, () => 'certificate obtained successfully').join('[\\s\\S]*')), 20_000);
  } catch (error) {
    await caddy.stop();
    throw error;
  }
  return {
    port,
    caPem: readFileSync(join(dir, 'caddy-data/pki/authorities/local/root.crt'), 'utf8'),
    process: caddy,
    stop: () => caddy.stop(),
  };
}
