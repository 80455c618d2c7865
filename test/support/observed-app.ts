/**
 * A gatehouse app built in this process on a loopback listener, recording metrics and discarding its logs:
 * for tests that read what checks recorded. The provider is unreachable (127.0.0.1:9), so nobody signs in.
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.js';
import { createApp, startServer, type App } from '../../src/http/index.js';
import { createLoggers } from '../../src/log/index.js';
import { createMetrics, type Metrics } from '../../src/metrics/index.js';

/** A running app and what it recorded. */
export interface ObservedApp {
  readonly port: number;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

/** Starts the app with a minimal valid configuration plus `flags` (native `--section.key` flags). */
export async function startObservedApp(flags: readonly { name: string; text: string }[] = []): Promise<ObservedApp> {
  const loaded = loadConfig({
    env: {},
    flags: [
      { name: 'provider.issuer', text: 'http://127.0.0.1:9/' },
      { name: 'provider.client-id', text: 'c' },
      { name: 'provider.client-secret', text: 's' },
      { name: 'cookie.secrets', text: 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf' },
      { name: 'authorization.email-domains', text: 'example.com' },
      ...flags,
    ],
  });
  const metrics = createMetrics();
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const loggers = createLoggers({ ...loaded.config.logging, format: 'json', destination: sink });
  // The listener comes first (the app needs its address); it answers once the app is built.
  const holder: { app?: App } = {};
  const server = await startServer({ host: '127.0.0.1', port: 0 }, (request, response) => holder.app?.handle(request, response));
  const built = await createApp(loaded, loggers, { listen: server.address, metrics });
  holder.app = built;
  return {
    port: server.address.port,
    metrics,
    close: async () => {
      await server.close(100);
      await built.close();
    },
  };
}
