/**
 * The protected application: a node:http server that answers every request with the request headers it
 * received, as JSON (inside a small HTML page for browsers), and remembers each request for assertions.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';

/** One request as the application saw it. */
export interface EchoedRequest {
  readonly app: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** A running echo application. */
export interface EchoUpstream {
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  /** Every request received so far, oldest first. */
  readonly received: EchoedRequest[];
  close(): Promise<void>;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** Starts an echo application called `name` on a free loopback port. */
export async function startEchoUpstream(name: string): Promise<EchoUpstream> {
  const received: EchoedRequest[] = [];
  // Big enough for a session of several cookies plus the identity headers (node's default is 16 KB).
  const server = createServer({ maxHeaderSize: 64 * 1024 }, (request, response) => {
    const echoed: EchoedRequest = { app: name, method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers };
    received.push(echoed);
    const json = JSON.stringify(echoed, null, 2);
    if ((request.headers.accept ?? '').includes('text/html')) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(name)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:32px;background:#fff;color:#1d2330}pre{white-space:pre-wrap;word-break:break-all;background:#f4f5f7;padding:16px;border-radius:10px}</style></head>
<body><h1>${escapeHtml(name)}</h1><p>The protected application. These are the request headers it received:</p><pre id="echo">${escapeHtml(json)}</pre></body></html>`);
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    response.end(json);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
