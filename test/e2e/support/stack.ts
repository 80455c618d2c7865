/**
 * The whole scene of an end-to-end test: the development OpenID Provider, gatehouse, the two protected
 * applications (grafana and the traefik dashboard of the seed, both echo servers) and a front proxy.
 * Everything listens on loopback; everything started is stopped by {@link Stack.stop}, also when start-up
 * fails halfway.
 */
import type { DevProvider } from '../../../src/devidp/index.js';
import { startCaddy } from './caddy.js';
import { HOSTS, startGatehouse, startIdp, type RunningGatehouse } from './gatehouse.js';
import { startNginx } from './nginx.js';
import { freePort, makeTempDir } from './processes.js';
import { createTestPki } from './tls.js';
import { startEchoUpstream, type EchoUpstream } from './upstream.js';

/** Which front proxy. */
export type ProxyKind = 'caddy' | 'nginx';

/** A running scene. */
export interface Stack {
  readonly proxy: ProxyKind;
  /** The proxy's HTTPS port, the same for both hosts. */
  readonly port: number;
  /** PEM of the CA that signed the proxy's certificates. */
  readonly caPem: string;
  readonly idp: DevProvider;
  readonly gatehouse: RunningGatehouse;
  readonly grafana: EchoUpstream;
  readonly traefik: EchoUpstream;
  /** `https://<host>:<port><path>`. */
  url(host: (typeof HOSTS)[number], path: string): string;
  stop(): Promise<void>;
}

/** Starts everything for `proxy`. */
export async function startStack(proxy: ProxyKind): Promise<Stack> {
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
    if (failures.length > 0) throw new AggregateError(failures, 'stopping the end-to-end stack failed');
  };
  try {
    const temp = makeTempDir(proxy);
    stops.push(temp.remove);
    const port = await freePort();
    const idp = await startIdp(port);
    stops.push(() => idp.close());
    const grafana = await startEchoUpstream('grafana');
    stops.push(() => grafana.close());
    const traefik = await startEchoUpstream('traefik');
    stops.push(() => traefik.close());
    const gatehouse = await startGatehouse(temp.path, idp);
    stops.push(() => gatehouse.stop());
    const addresses = { gatehouse: gatehouse.address, grafana: grafana.address, traefik: traefik.address };
    let caPem: string;
    if (proxy === 'caddy') {
      const caddy = await startCaddy(temp.path, port, addresses);
      stops.push(() => caddy.stop());
      caPem = caddy.caPem;
    } else {
      const pki = createTestPki(temp.path);
      const nginx = await startNginx(temp.path, port, pki, addresses);
      stops.push(() => nginx.stop());
      caPem = pki.caPem;
    }
    return { proxy, port, caPem, idp, gatehouse, grafana, traefik, url: (host, path) => `https://${host}:${port}${path}`, stop: stopAll };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}
