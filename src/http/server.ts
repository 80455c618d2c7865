/**
 * The listener: node:http with the fast lane in front (`fast-lane.ts`), timeouts that close slow or idle
 * clients (slowloris), strict parsing (llhttp's default; the lenient parser is never enabled), and a
 * graceful, bounded shutdown.
 */
import { createServer, type Server } from 'node:http';
import type { ListenAddress } from '../config/index.js';
import type { HttpRequest, HttpResponse } from './app.js';
import { attachFastLane, type FastLane } from './fast-lane.js';

/** Handles one request. Must never throw; errors are answered inside. */
export type RequestHandler = (request: HttpRequest, response: HttpResponse) => void;

/** Options of a listener. */
export interface ServerOptions {
  /** Take plain requests in the fast lane (default); false leaves every request to node:http. */
  readonly fastLane?: boolean;
}

/** A started listener. */
export interface RunningServer {
  readonly server: Server;
  /** The bound address (the real port when 0 was asked for). */
  readonly address: ListenAddress;
  /** Stops accepting, lets in-flight requests finish within `timeoutMs`, then cuts the rest. */
  close(timeoutMs: number): Promise<void>;
}

/** Timeouts of every listener, in milliseconds. */
export const SERVER_TIMEOUTS = {
  /** Whole request headers must arrive within this. */
  headers: 10_000,
  /** A whole request (gatehouse never reads bodies) must arrive within this. */
  request: 15_000,
  /** Idle keep-alive connections are closed after this. Longer than common proxy pools' idle time. */
  keepAlive: 65_000,
} as const;

/** The largest request head: a cookie session may span 8 cookies of 4000 bytes; larger heads get 431. */
const MAX_HEADER_SIZE = 48 * 1024;

/** Starts listening; resolves once bound. */
export async function startServer(listen: ListenAddress, handler: RequestHandler, options: ServerOptions = {}): Promise<RunningServer> {
  const server = createServer(
    {
      headersTimeout: SERVER_TIMEOUTS.headers,
      requestTimeout: SERVER_TIMEOUTS.request,
      keepAliveTimeout: SERVER_TIMEOUTS.keepAlive,
      maxHeaderSize: MAX_HEADER_SIZE,
      insecureHTTPParser: false,
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      // How often the headers and request timeouts are enforced: Node's default (30 s) would let a client
      // trickling its headers hold a connection three times longer than `headersTimeout` says.
      connectionsCheckingInterval: 1000,
    },
    handler,
  );
  server.maxRequestsPerSocket = 0;
  const lane: FastLane | undefined =
    options.fastLane === false ? undefined : attachFastLane(server, handler, { maxHeaderSize: MAX_HEADER_SIZE, headersTimeout: SERVER_TIMEOUTS.headers, keepAliveTimeout: SERVER_TIMEOUTS.keepAlive });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const address: ListenAddress = typeof bound === 'object' && bound !== null ? { host: bound.address, port: bound.port } : listen;
  return {
    server,
    address,
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        // Held, not unref'd: a connection the lane has stopped reading (an answer in flight with more
        // pipelined behind it than a head may hold) keeps no handle active, and the stop must still end,
        // with the steps that follow it.
        const timer = setTimeout(() => {
          server.closeAllConnections();
          lane?.closeAll();
        }, timeoutMs);
        // A keep-alive connection whose request is still running becomes idle once it is answered: close
        // it then, rather than wait out the whole timeout for a connection that is doing nothing.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        sweep.unref();
        server.close(() => {
          clearTimeout(timer);
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
        // The lane's connections close once idle: at once, or after the answer being worked on.
        lane?.closeIdle();
      }),
  };
}
