/**
 * Headless Chromium (the system's /usr/bin/chromium, driven by playwright-core; never a downloaded browser)
 * with every *.homelab.example.com name resolved to loopback, and the small helpers the tests share.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './build.js';

/** Where screenshots go (gitignored). */
export const ARTIFACTS = join(ROOT, 'test/e2e/.artifacts');

/** Launches headless Chromium. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--host-resolver-rules=MAP *.homelab.example.com 127.0.0.1',
    ],
  });
}

/**
 * A fresh browser profile. The proxies' certificates come from throw-away CAs that are never installed, so
 * certificate errors are ignored in this context only.
 */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 900, height: 700 }, colorScheme: 'light' });
  // Everything is on loopback: anything slower than this is a failure, and should say so quickly.
  context.setDefaultTimeout(10_000);
  return context;
}

/** Records the URL of every request the context makes (navigations, redirects, subresources). */
export function recordRequests(context: BrowserContext): { urls: string[]; since(mark: number): string[] } {
  const urls: string[] = [];
  context.on('request', (request) => urls.push(request.url()));
  return { urls, since: (mark) => urls.slice(mark) };
}

/** Saves a full-page screenshot as `.artifacts/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Fills in the development provider's sign-in form and submits it. */
export async function signInAtIdp(page: Page, email: string, groups: string): Promise<void> {
  await page.locator('#email').fill(email);
  await page.locator('#groups').fill(groups);
  await page.locator('button[type=submit]').click();
}

/** The request the echo application saw, as it shows it on its page. */
export async function readEcho(page: Page): Promise<{ app: string; url: string; headers: Record<string, string | undefined> }> {
  const text = await page.locator('#echo').textContent();
  return JSON.parse(text ?? 'null') as { app: string; url: string; headers: Record<string, string | undefined> };
}

/** The payload of a compact JWS, unverified (the test only compares claims it just saw issued). */
export function jwtPayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (part === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The answer to a {@link rawRequest}. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * A request through the proxy the way curl would send it: no cookies unless given, TLS verified against
 * `caPem` with SNI for `host`, connecting to loopback. `path` is sent exactly as given (never normalized);
 * `method` defaults to GET, and `body` is sent with its length.
 */
export function rawRequest(options: { port: number; host: string; path: string; caPem: string; headers?: Record<string, string>; method?: string; body?: string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: '127.0.0.1',
        port: options.port,
        servername: options.host,
        ca: options.caPem,
        path: options.path,
        method: options.method ?? 'GET',
        headers: {
          host: `${options.host}:${options.port}`,
          'user-agent': 'curl/8.5.0',
          ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    // Everything is on loopback: a proxy that does not answer is a failure, and says so.
    request.setTimeout(15_000, () => request.destroy(new Error(`no answer from ${options.host}${options.path} within 15 s`)));
    request.on('error', reject);
    request.end(options.body);
  });
}
