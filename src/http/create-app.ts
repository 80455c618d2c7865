/** Builds the request handling of one configuration. */
import type { LoadedConfig } from '../config/index.js';
import type { Loggers } from '../log/index.js';
import { handleHealth, logRequest, requestIdOf, type App } from './app.js';
import { sendText } from './respond.js';

/** Builds the app for a loaded configuration. */
export function createApp(loaded: LoadedConfig, loggers: Loggers): Promise<App> {
  const app: App = {
    handle(request, response) {
      if (handleHealth(app, loaded, loggers, request, response)) return;
      logRequest(loggers, request, response, process.hrtime.bigint(), { requestId: requestIdOf(request) });
      sendText(response, 503, 'gatehouse: sign-on is not available in this version; only /ping and /ready answer\n');
    },
    ready: () => Promise.resolve({ ok: true, checks: [] }),
    close: () => Promise.resolve(),
  };
  return Promise.resolve(app);
}
