/**
 * The request handler of one configuration: health endpoints first (exact paths, before any auth), then
 * the gateway. Rebuilt on reload and swapped atomically.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { LoadedConfig } from '../config/index.js';
import type { DenyListCopy } from '../jwt/index.js';
import type { Loggers } from '../log/index.js';
import { sendText } from './respond.js';

/** The outcome of a readiness check. */
export interface Readiness {
  readonly ok: boolean;
  readonly checks: readonly { name: string; ok: boolean; detail: string }[];
}

/**
 * A request as gatehouse reads it: what `IncomingMessage` and the fast lane's request (`fast-lane.ts`)
 * both have.
 */
export interface HttpRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly socket: { readonly remoteAddress?: string | undefined };
  /** True once the whole body has been read. */
  readonly complete: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
  resume(): unknown;
}

/** An answer as gatehouse writes it: what `ServerResponse` and the fast lane's response both have. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headersSent: boolean;
  readonly req: { readonly method?: string | undefined };
  /** Headers as a flat name/value list. */
  writeHead(status: number, headers?: string[]): this;
  end(body?: string, encoding?: BufferEncoding): this;
  once(event: 'finish', listener: () => void): unknown;
}

/** One configuration's request handling. */
export interface App {
  handle(request: HttpRequest, response: HttpResponse): void;
  ready(): Promise<Readiness>;
  close(): Promise<void>;
  /** Its copy of the bearer deny-list shared through Redis, for the next configuration on a reload. */
  denyListCopy?(): DenyListCopy | undefined;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

// Fresh request ids: a random prefix per process and a counter. An id only correlates log lines and error
// pages (it is no secret), and this costs a tenth of a UUID on every check.
const REQUEST_ID_PREFIX = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
let requestCounter = 0;

/** The request id: the proxy's `X-Request-Id` when well-formed, else a fresh one. */
export function requestIdOf(request: HttpRequest): string {
  const given = request.headers['x-request-id'];
  if (typeof given === 'string' && REQUEST_ID.test(given)) return given;
  requestCounter = requestCounter === Number.MAX_SAFE_INTEGER ? 1 : requestCounter + 1;
  return `${REQUEST_ID_PREFIX}.${requestCounter.toString(36)}`;
}

/** Logs one line per request once the answer is written. */
export function logRequest(loggers: Loggers, request: HttpRequest, response: HttpResponse, started: bigint, fields: Record<string, unknown>): void {
  if (!loggers.request.isLevelEnabled('info')) return;
  response.once('finish', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const path = (request.url ?? '').split('?')[0];
    loggers.request.info({ method: request.method, host: request.headers.host, path, status: response.statusCode, ms: Math.round(ms * 1000) / 1000, ...fields }, 'request');
  });
}

/** Answers `/ping` and `/ready`; returns false when the request is for something else. */
export function handleHealth(app: Pick<App, 'ready'>, loaded: LoadedConfig, loggers: Loggers, request: HttpRequest, response: HttpResponse): boolean {
  const url = request.url ?? '';
  // Exact paths only, never a prefix, a User-Agent or a query (CVE-2026-34457).
  if (url !== '/ping' && url !== '/ready') return false;
  if (!loaded.config.logging.silencePing) logRequest(loggers, request, response, process.hrtime.bigint(), { requestId: requestIdOf(request) });
  if (url === '/ping') {
    sendText(response, 200, 'OK');
    return true;
  }
  app.ready().then(
    (readiness) => {
      const body = readiness.ok ? 'OK' : readiness.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`).join('\n');
      sendText(response, readiness.ok ? 200 : 503, body);
    },
    () => sendText(response, 503, 'readiness check failed'),
  );
  return true;
}
