/**
 * The routes-and-policies scene: the recipe of docs/proxies/caddy.md (real Caddy, `forward_auth`) in front
 * of a gatehouse configured with per-host and per-path routes and the seed's device-token profile (its
 * Traefik `vmcluster-jwt` middleware as a gatehouse bearer profile), plus a third host,
 * `vminsert.homelab.example.com`, where HomeKit posts its measurements with a token. Keys and tokens are
 * made with gatehouse's own command line (`keys generate`, `token mint`), as the documentation tells an
 * owner to. Everything listens on loopback and is stopped by PID in {@link RoutesStack.stop}.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DevProvider } from '../../../src/devidp/index.js';
import { BIN, ROOT, ensureBuilt } from './build.js';
import { startCaddy } from './caddy.js';
import { renderTemplate } from './docs.js';
import { GATEHOUSE_YAML, GRAFANA_HOST, TRAEFIK_HOST, startGatehouse, startIdp, type RunningGatehouse } from './gatehouse.js';
import { freePort, makeTempDir } from './processes.js';
import { startEchoUpstream, type EchoUpstream } from './upstream.js';

const run = promisify(execFile);

/** The seed's metrics host: HomeKit posts there with a device token. */
export const VMINSERT_HOST = 'vminsert.homelab.example.com';
/** The seed's token issuer and key id. */
export const DEVICE_ISSUER = 'https://jwts.farcaller.net';
export const DEVICE_KID = 'vicmet';

/**
 * Test-only Caddy site for the device host: the recipe's block, plus `X-Device` in `copy_headers` so the
 * device name gatehouse derives from the token replaces whatever a client sent under that name.
 */
export const VMINSERT_CADDY_TEMPLATE = `{{VMINSERT_SITE}} {
	handle /oauth2/* {
		reverse_proxy {{GATEHOUSE}}
	}
	handle {
		forward_auth {{GATEHOUSE}} {
			uri /?
			copy_headers X-Auth-Request-User X-Auth-Request-Email X-Auth-Request-Groups X-Auth-Request-Preferred-Username Authorization X-Device
		}
		reverse_proxy {{VMINSERT_APP}}
	}
}
`;

/**
 * The recipe's gatehouse.yaml with routes and the device profile added. `publicKeyPem` is the key that
 * `gatehouse keys generate --kid vicmet` wrote. Every address range admits or excludes loopback on purpose:
 * through Caddy on one machine the client is always 127.0.0.1.
 */
export function routesYaml(publicKeyPem: string): string {
  const pem = publicKeyPem
    .trim()
    .split('\n')
    .map((line) => `          ${line}`)
    .join('\n');
  return `${GATEHOUSE_YAML}
bearer:
  profiles:
    # The seed's vmcluster-jwt Traefik middleware, its keys as they were.
    homekit:
      issuers:
        - ${DEVICE_ISSUER}
      skipPrefetch: true
      secrets:
        ${DEVICE_KID}: |
${pem}
      require:
        aud: ${VMINSERT_HOST}
      headerMap:
        X-Device: sub

routes:
  # Grafana's health check, for monitors without a session; only GET (and HEAD).
  - name: grafana-health
    hosts: [${GRAFANA_HOST}]
    paths: [/api/health]
    methods: [GET]
    auth: public
  # A new rule being tried out: it would need grafana-editors, but only logs for now.
  - name: grafana-explore
    hosts: [${GRAFANA_HOST}]
    paths: [/explore/**]
    require: { groups: [grafana-editors] }
    mode: audit
  # Grafana's admin pages only from the office network, which loopback is not.
  - name: grafana-admin
    hosts: [${GRAFANA_HOST}]
    paths: [/admin/**]
    allow: request.ip in cidr("192.168.1.0/24")
  - name: grafana
    hosts: [${GRAFANA_HOST}]
  # The seed's Traefik dashboard, for admins only.
  - name: traefik-admin
    hosts: [${TRAEFIK_HOST}]
    paths: [/dashboard/**]
    require: { groups: [admins] }
  # Traefik's ping for a monitor on this machine, no sign-in.
  - name: traefik-ping-local
    hosts: [${TRAEFIK_HOST}]
    paths: [/ping]
    sources: [127.0.0.1/32, "::1/128"]
    auth: public
  # Traefik's API for the office network only, no sign-in; from anywhere else nothing matches.
  - name: traefik-api-office
    hosts: [${TRAEFIK_HOST}]
    paths: [/api/**]
    sources: [192.168.1.0/24]
    auth: public
  # Remote write only from the office network, even with a valid device token.
  - name: vminsert-write-office
    hosts: [${VMINSERT_HOST}]
    paths: [/api/v1/write]
    auth: [bearer:homekit]
    allow: request.ip in cidr("192.168.1.0/24")
  # HomeKit's measurements: a device token, and only from this machine.
  - name: vminsert
    hosts: [${VMINSERT_HOST}]
    auth: [bearer:homekit]
    allow: request.ip in cidr("127.0.0.0/8") || request.ip in cidr("::1/128")
routeDefault: deny
`;
}

/** Device keys and tokens, made with gatehouse's command line. */
export interface DeviceTokens {
  readonly publicKeyPem: string;
  /** The seed's token: iss, sub homekit, aud vminsert. */
  readonly homekit: string;
  /** Same key and issuer, but for another audience. */
  readonly wrongAudience: string;
  /** The seed's claims, signed by a key gatehouse does not know, under the same kid. */
  readonly otherKey: string;
}

const gatehouse = async (...args: string[]): Promise<string> => (await run(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' })).stdout.trim();

/** `gatehouse keys generate --kid vicmet` twice (the real key, an impostor's), then `gatehouse token mint`. */
export async function makeDeviceTokens(dir: string): Promise<DeviceTokens> {
  await ensureBuilt();
  const keys = join(dir, 'keys');
  const impostor = join(dir, 'impostor-keys');
  await Promise.all([gatehouse('keys', 'generate', '--kid', DEVICE_KID, '--out', keys), gatehouse('keys', 'generate', '--kid', DEVICE_KID, '--out', impostor)]);
  const mint = (keyDir: string, audience: string) => gatehouse('token', 'mint', '--key', join(keyDir, `${DEVICE_KID}.key.pem`), '--kid', DEVICE_KID, '--iss', DEVICE_ISSUER, '--sub', 'homekit', '--aud', audience);
  const [homekit, wrongAudience, otherKey] = await Promise.all([mint(keys, VMINSERT_HOST), mint(keys, GRAFANA_HOST), mint(impostor, VMINSERT_HOST)]);
  return { publicKeyPem: readFileSync(join(keys, `${DEVICE_KID}.pub.pem`), 'utf8'), homekit, wrongAudience, otherKey };
}

/** Every host of the scene. */
export type RoutesHost = typeof GRAFANA_HOST | typeof TRAEFIK_HOST | typeof VMINSERT_HOST;

/** A running scene. */
export interface RoutesStack {
  /** Caddy's HTTPS port, the same for every host. */
  readonly port: number;
  /** PEM of Caddy's internal root CA. */
  readonly caPem: string;
  readonly idp: DevProvider;
  readonly gatehouse: RunningGatehouse;
  readonly grafana: EchoUpstream;
  readonly traefik: EchoUpstream;
  readonly vminsert: EchoUpstream;
  readonly tokens: DeviceTokens;
  /** The gatehouse.yaml it runs. */
  readonly yaml: string;
  /** `https://<host>:<port><path>`. */
  url(host: RoutesHost, path: string): string;
  stop(): Promise<void>;
}

/** Starts the scene; on a failure halfway everything started so far is stopped. */
export async function startRoutesStack(): Promise<RoutesStack> {
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    const failures: unknown[] = [];
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        failures.push(error);
      }
    }
    stops.length = 0;
    if (failures.length > 0) throw new AggregateError(failures, 'stopping the routes stack failed');
  };
  try {
    const temp = makeTempDir('caddy-routes');
    stops.push(temp.remove);
    const port = await freePort();
    const [tokens, idp] = await Promise.all([makeDeviceTokens(temp.path), startIdp(port)]);
    stops.push(() => idp.close());
    const grafana = await startEchoUpstream('grafana');
    stops.push(() => grafana.close());
    const traefik = await startEchoUpstream('traefik');
    stops.push(() => traefik.close());
    const vminsert = await startEchoUpstream('vminsert');
    stops.push(() => vminsert.close());
    const yaml = routesYaml(tokens.publicKeyPem);
    // The YAML's own cookie.refresh (1h): no refresh round trip in the middle of these tests.
    const gatehouse = await startGatehouse(temp.path, idp, { yaml, cookieRefresh: '1h' });
    stops.push(() => gatehouse.stop());
    const vminsertSite = renderTemplate(VMINSERT_CADDY_TEMPLATE, { VMINSERT_SITE: `${VMINSERT_HOST}:${port}`, GATEHOUSE: gatehouse.address, VMINSERT_APP: vminsert.address });
    const caddy = await startCaddy(temp.path, port, { gatehouse: gatehouse.address, grafana: grafana.address, traefik: traefik.address }, { text: vminsertSite, count: 1 });
    stops.push(() => caddy.stop());
    return { port, caPem: caddy.caPem, idp, gatehouse, grafana, traefik, vminsert, tokens, yaml, url: (host, path) => `https://${host}:${port}${path}`, stop: stopAll };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}
