/** The plain values the gateway works on: a request already resolved by the http layer, and a verdict. */
import type { OutgoingHttpHeaders } from 'node:http';
import type { CookieJar } from '../session/index.js';

/** The original request, as the trusted proxy described it (or as received, without one). */
export interface RequestView {
  /** Upper-case method of the original request. */
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** Lower-case host without port. */
  readonly host: string;
  /** Explicit non-default port, if any. */
  readonly port: number | undefined;
  /** Original path and query. */
  readonly uri: string;
  readonly clientIp: string;
}

/** Everything a gateway action reads. */
export interface GatewayRequest {
  readonly view: RequestView;
  /** Path of the request gatehouse itself received (the endpoint), without the query. */
  readonly endpointPath: string;
  /** Query of the endpoint request, with its `?`, or empty. */
  readonly endpointSearch: string;
  /** The endpoint query, parsed. */
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly jar: CookieJar;
  readonly requestId: string;
}

/** What happened, for the request log and metrics. */
export type Outcome = 'allow' | 'deny' | 'redirect' | 'error';

/** The answer to write. */
export interface Verdict {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: string;
  readonly outcome: Outcome;
  /** Stable kebab-case reason code. */
  readonly reason: string;
  /** Who, when known (email or subject), for the log. */
  readonly user?: string | undefined;
  /** What decided: `route:<name>`, `policy:<name>`, `default:<kind>`, for the log. */
  readonly route?: string | undefined;
}
