/** `gatehouse serve`: run the gateway; SIGHUP reloads the configuration, SIGTERM/SIGINT stop gracefully. */
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, formatProblems, isLoopbackHost, loadConfig, parseListenAddress, usesDevelopmentProvider, type Config, type ListenAddress, type LoadedConfig, type LoadOptions } from '../../config/index.js';
import { GatewayError } from '../../errors.js';
import { createApp, startServer, type App, type RunningServer } from '../../http/index.js';
import { send, sendText } from '../../http/respond.js';
import type { RequestHandler } from '../../http/index.js';
import { createMetrics, loadTracing } from '../../metrics/index.js';
import type { Registry } from 'prom-client';
import { createLoggers, type Loggers } from '../../log/index.js';
import { VERSION } from '../../version.js';
import { parseArgs, unexpectedArgument } from '../args.js';
import { EXIT, type CommandIo } from '../io.js';
import { configFileOf } from '../load.js';
import { systemErrorCode, systemErrorReason } from '../system-error.js';

export const SERVE_HELP = `Usage: gatehouse serve [--config FILE] [option flags...]

Runs the forward-auth gateway. Options come from the YAML file, the
environment (GATEHOUSE_* and oauth2-proxy's OAUTH2_PROXY_*) and flags
(native --section.key=value and oauth2-proxy's --kebab-case flags).
With no provider configured, an embedded development identity provider
starts on loopback so the whole flow can be tried in a browser.

Reload: SIGHUP, or a change of the --config file, re-reads and re-validates the
configuration; an invalid one is logged and the old one stays in force. Reloads
run one at a time. listen, metrics.listen, logging.format and tracing need a
restart; everything else, the logging level included, applies on reload.
SIGTERM or SIGINT stop gracefully.
Exit codes: 0 stopped, 1 a listener could not start (address in use, port
not permitted), 2 usage error, 78 invalid configuration.

Options:
  -c, --config FILE   native YAML configuration file (also GATEHOUSE_CONFIG)
  -h, --help          show this help

Examples:
  gatehouse serve
  gatehouse serve --config /etc/gatehouse/gatehouse.yaml
  gatehouse serve --provider=oidc --oidc-issuer-url=https://example.eu.auth0.com/ \\
    --email-domain=example.com --upstream=static://202 --reverse-proxy`;

/**
 * Calls `onChange` when the file's content changes. Watches the directory, not the file, because editors
 * and Kubernetes ConfigMaps replace files (rename, symlink swap) rather than write them in place.
 */
function watchFile(file: string, onChange: () => void): FSWatcher | undefined {
  const contentOf = () => {
    try {
      return createHash('sha256').update(readFileSync(file)).digest('hex');
    } catch {
      return '';
    }
  };
  let last = contentOf();
  let timer: NodeJS.Timeout | undefined;
  try {
    const watcher = watch(dirname(resolve(file)), { persistent: false }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        // A file gone for longer than the pause (deleted, or a swap that did not finish) reloads too: the
        // reload fails, says why, and the running configuration stays in force until the file is back.
        const now = contentOf();
        if (now === last) return;
        last = now;
        onChange();
      }, 250);
    });
    watcher.on('error', () => watcher.close());
    return watcher;
  } catch {
    // Without a watcher SIGHUP still reloads.
    return undefined;
  }
}

/** The metrics listener: `GET /metrics` in Prometheus text format, nothing else. */
function metricsHandler(registry: Registry): RequestHandler {
  return (request, response) => {
    if (request.url !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      sendText(response, 404, 'Not Found\n');
      return;
    }
    registry.metrics().then(
      (text) => send(response, 200, { 'content-type': registry.contentType }, text),
      () => sendText(response, 500, 'metrics failed\n'),
    );
  };
}

/** A listener that could not start, said as the one line `serve` prints for it. */
class ListenFailure extends Error {}

/** Starts the listener `option` configures; a failure to bind is a {@link ListenFailure} naming both and the fix. */
async function listenOn(option: 'listen' | 'metrics.listen', address: ListenAddress, handler: RequestHandler): Promise<RunningServer> {
  try {
    return await startServer(address, handler);
  } catch (error) {
    const code = systemErrorCode(error);
    const where = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    const fix =
      code === 'EADDRINUSE' ? `stop what listens there, or set ${option} to another port`
      : code === 'EACCES' ? `ports below 1024 need privileges: use a higher port (such as :4180) or grant CAP_NET_BIND_SERVICE`
      : code === 'EADDRNOTAVAIL' ? `${address.host} is not an address of this machine: use one of its addresses, or 0.0.0.0`
      : `check ${option}`;
    throw new ListenFailure(`cannot listen on ${where} (${option}): ${systemErrorReason(error)}; ${fix}`, { cause: error });
  }
}

/**
 * Applies a reloaded logging configuration to the running loggers: the level and which streams write. The
 * format (and so the destination) is chosen once, at start.
 */
function applyLogging(loggers: Loggers, logging: Config['logging']): void {
  loggers.standard.level = logging.standard ? logging.level : 'silent';
  loggers.auth.level = logging.auth ? logging.level : 'silent';
  loggers.request.level = logging.requests ? logging.level : 'silent';
}

/**
 * Runs reloads one at a time. A reload asked for while one runs is run once after it (however many were
 * asked for meanwhile), and reads the file then: the newest configuration is the one left in force, never
 * an older one that happened to take longer to build.
 */
function serializeReloads(reload: () => Promise<void>): { request: () => void; stop: () => Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const run = async () => {
    try {
      await reload();
      while (again && !stopped) {
        again = false;
        await reload();
      }
    } finally {
      running = undefined;
    }
  };
  return {
    request: () => {
      if (stopped) return;
      if (running !== undefined) {
        again = true;
        return;
      }
      running = run();
    },
    /** No more reloads; resolves once the one running (if any) has finished. */
    stop: () => {
      stopped = true;
      return running ?? Promise.resolve();
    },
  };
}

/** Answers while the configuration's app is being built. */
const startingApp: App = {
  handle: (_request, response) => sendText(response, 503, 'gatehouse is starting\n', { 'retry-after': '1' }),
  ready: () => Promise.resolve({ ok: false, checks: [{ name: 'start-up', ok: false, detail: 'starting' }] }),
  close: () => Promise.resolve(),
};

/** Runs until stopped; resolves with the exit code. */
export async function runServe(argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, 'serve', { acceptConfig: true });
  if (args.help) {
    io.out(SERVE_HELP);
    return EXIT.ok;
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'serve');
  const loadOptions: LoadOptions = { ...configFileOf(args.config, io.env), env: io.env, flags: args.configFlags };
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(loadOptions);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(formatProblems(error.problems));
      return EXIT.config;
    }
    throw error;
  }
  const loggers = createLoggers(loaded.config.logging);
  for (const warning of loaded.warnings) loggers.standard.warn(warning);
  const listen = parseListenAddress(loaded.config.listen);
  if (listen === undefined) return EXIT.config;

  // Listen first: the development provider needs the real port (listen may ask for port 0).
  let app: App = startingApp;
  let server: RunningServer;
  try {
    server = await listenOn('listen', listen, (request, response) => {
      app.handle(request, response);
    });
  } catch (error) {
    if (!(error instanceof ListenFailure)) throw error;
    io.err(`gatehouse: ${error.message}`);
    return EXIT.failure;
  }
  const metrics = loaded.config.metrics.listen === '' ? undefined : createMetrics();
  let tracing: Awaited<ReturnType<typeof loadTracing>> | undefined;
  let metricsServer: RunningServer | undefined;
  try {
    tracing = await loadTracing(loaded.config.tracing);
    const metricsListen = loaded.config.metrics.listen === '' ? undefined : parseListenAddress(loaded.config.metrics.listen);
    metricsServer = metrics?.registry === undefined || metricsListen === undefined ? undefined : await listenOn('metrics.listen', metricsListen, metricsHandler(metrics.registry));
  } catch (error) {
    // The main listener is up already: close it, or the process would answer 503 for ever; and the
    // tracing exporter, whose timers would keep the process alive.
    await server.close(0);
    await tracing?.shutdown().catch(() => undefined);
    if (!(error instanceof ListenFailure)) throw error;
    io.err(`gatehouse: ${error.message}`);
    return EXIT.failure;
  }
  const observers = { ...(metrics === undefined ? {} : { metrics }), ...(tracing === undefined ? {} : { tracing }) };
  if (metricsServer !== undefined) loggers.standard.info({ address: `${metricsServer.address.host}:${metricsServer.address.port}` }, 'metrics listening');
  // SIGHUP's default action ends the process: one that comes while the first app is being built (discovery
  // may take seconds) is remembered and becomes a reload once gatehouse runs.
  const starting = { hup: false };
  const hupWhileBuilding = () => {
    starting.hup = true;
    loggers.standard.info('SIGHUP while starting: the configuration is read again once gatehouse runs');
  };
  process.on('SIGHUP', hupWhileBuilding);
  try {
    app = await createApp(loaded, loggers, { listen: server.address, ...observers });
  } catch (error) {
    process.off('SIGHUP', hupWhileBuilding);
    // Everything started so far is closed (the app closed what it had started), or the process would not exit.
    await Promise.all([server.close(0), metricsServer?.close(0)]);
    await tracing?.shutdown().catch(() => undefined);
    if (error instanceof GatewayError) {
      io.err(`gatehouse: ${error.message} [${error.code}]`);
      return EXIT.config;
    }
    throw error;
  }
  const where = `http://${server.address.host.includes(':') ? `[${server.address.host}]` : server.address.host}:${server.address.port}`;
  loggers.standard.info({ version: VERSION, address: where }, `gatehouse ${VERSION} listening on ${where}`);

  // The emails file is watched too, as oauth2-proxy does: an address taken out of it loses access without
  // a SIGHUP. A reload that names another file moves the watch.
  let emailsWatcher: FSWatcher | undefined;
  let watchedEmails = '';
  const watchEmails = () => {
    const file = loaded.config.authorization.emailsFile;
    if (file === watchedEmails) return;
    emailsWatcher?.close();
    watchedEmails = file;
    emailsWatcher = file === '' ? undefined : watchFile(file, reloads.request);
  };
  const reload = async () => {
    let nextApp: App | undefined;
    let previous: App = app;
    try {
      const next = loadConfig(loadOptions);
      // The listener stays where it is: the development provider may only come up behind a loopback one,
      // whatever the new file's listen says (it was checked against that, not against this).
      if (usesDevelopmentProvider(next.config) && !isLoopbackHost(server.address.host)) {
        throw new ConfigError([{ code: 'ERR_CONFIG_DEV_PROVIDER_EXPOSED', path: 'provider.issuer', message: `is empty, so the development identity provider would run, but gatehouse listens on ${where}, beyond this machine`, fix: 'set provider.issuer to your identity provider; a move to 127.0.0.1 needs a restart' }]);
      }
      if (next.config.listen !== loaded.config.listen) loggers.standard.warn('listen changed: restart gatehouse to move the listener');
      if (next.config.logging.format !== loaded.config.logging.format) loggers.standard.warn('logging.format changed: restart gatehouse to apply it');
      if (next.config.metrics.listen !== loaded.config.metrics.listen) loggers.standard.warn('metrics.listen changed: restart gatehouse to move the metrics listener');
      if (JSON.stringify(next.config.tracing) !== JSON.stringify(loaded.config.tracing)) loggers.standard.warn('tracing changed: restart gatehouse to apply it');
      nextApp = await createApp(next, loggers, { listen: server.address, ...observers, previous: app });
      previous = app;
      app = nextApp;
      loaded = next;
      watchEmails();
      for (const warning of next.warnings) loggers.standard.warn(warning);
      loggers.standard.info('configuration reloaded');
      // After the line above, which a raised level would otherwise hide.
      applyLogging(loggers, next.config.logging);
      metrics?.configReload(true);
    } catch (error) {
      if (nextApp !== undefined && nextApp === app) {
        // In force already: a step after the swap failed. Say so truthfully, and close the replaced app.
        loggers.standard.error({ err: error instanceof Error ? error.message : String(error) }, 'configuration reloaded, but a step after it failed');
        metrics?.configReload(true);
        await previous.close();
        return;
      }
      // An app built but not put in force (a failure after its build) is closed: nothing of it stays running.
      if (nextApp !== undefined) await nextApp.close();
      const problems = error instanceof ConfigError ? formatProblems(error.problems) : String(error);
      loggers.standard.error({ problems }, 'configuration reload failed; the previous configuration stays in force');
      metrics?.configReload(false);
      return;
    }
    await previous.close();
  };
  const reloads = serializeReloads(reload);
  watchEmails();
  process.on('SIGHUP', reloads.request);
  process.off('SIGHUP', hupWhileBuilding);
  if (starting.hup) reloads.request();
  const watcher = loadOptions.file === undefined ? undefined : watchFile(loadOptions.file, reloads.request);

  return new Promise<number>((resolve) => {
    let stopping = false;
    // SIGHUP's default action ends the process: while stopping, it is only logged, so the checks still
    // running are answered.
    const ignoreHup = () => loggers.standard.warn('SIGHUP ignored: gatehouse is stopping');
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.on('SIGHUP', ignoreHup);
      process.off('SIGHUP', reloads.request);
      watcher?.close();
      emailsWatcher?.close();
      // A reload still running finishes first, so the app it puts in force is the one closed.
      const closed = Promise.all([server.close(loaded.config.shutdownTimeout), metricsServer?.close(1000), reloads.stop()]);
      // Logged once the listeners are closed: from this line on, a new connection is refused.
      loggers.standard.info({ signal }, 'shutting down');
      void closed.then(async () => {
        await app.close();
        await tracing?.shutdown().catch(() => undefined);
        loggers.standard.info('stopped');
        flush(loggers);
        process.off('SIGHUP', ignoreHup);
        resolve(EXIT.ok);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function flush(loggers: Loggers): void {
  try {
    loggers.standard.flush();
  } catch {
    // Nothing left to do with a log line that cannot be written at exit.
  }
}
