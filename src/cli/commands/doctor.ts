/**
 * `gatehouse doctor`: checks, from where it runs, what breaks forward-auth set-ups, and says for each
 * finding what to change: discovery, the client credentials, callback URLs against cookie domains and the
 * redirect allow-list, cookie secret strength, clock skew, the Redis store's reachability, eviction policy
 * and persistence, and (with --url) what a check behind the proxy actually sees.
 */
import { Buffer } from 'node:buffer';
import { isLoopbackHost, usesDevelopmentProvider, type Config } from '../../config/index.js';
import { loadForCommand } from '../load.js';
import { decodeCookieSecret } from '../../crypto/secret.js';
import { chooseCookieDomain } from '../../session/index.js';
import { parseArgs, quoteValue, unexpectedArgument, UsageError } from '../args.js';
import { EXIT, type CommandIo } from '../io.js';
import { connectForCommand } from '../redis.js';
import { systemErrorCode } from '../system-error.js';

export const DOCTOR_HELP = `Usage: gatehouse doctor [--config FILE] [--url URL]

Checks what usually breaks a forward-auth set-up and says what to change:
  - issuer discovery reachable, and the issuer it names the configured one
  - the client id and secret accepted by the token endpoint (a harmless
    request with a made-up code: 'invalid_grant' means the credentials work)
  - callback URLs consistent with cookie domains and allowed redirect domains
  - cookie secret strength
  - clock skew against the provider
  - with the Redis store: Redis reachable, an eviction policy that never
    drops the deny-lists, and persistence so revocations survive a restart
With --url (a protected address, through your proxy) and diagnostics.token
configured, it asks gatehouse, through the proxy, what a check sees there:
host, path, scheme, client address and the forwarded headers that arrived.
Exit 0 when nothing failed, 1 otherwise.

Examples:
  gatehouse doctor --config gatehouse.yaml
  gatehouse doctor --config gatehouse.yaml --url https://grafana.homelab.example.com/`;

type Level = 'ok' | 'warn' | 'fail';

interface Finding {
  readonly level: Level;
  readonly check: string;
  readonly detail: string;
  readonly fix?: string;
}

async function fetchWithTimeout(url: string, init: RequestInit = {}, ms = 5000): Promise<Response> {
  return fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(ms) });
}

/** Why a request failed: fetch says only `fetch failed`, the reason (`ECONNREFUSED`, `ENOTFOUND`, TLS) is its cause. */
function fetchFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = systemErrorCode(error);
  const cause = error.cause instanceof Error && error.cause.message !== '' ? error.cause.message : undefined;
  const reason = [cause, code !== undefined && !(cause ?? '').includes(code) ? `(${code})` : undefined].filter((part) => part !== undefined).join(' ');
  return reason === '' ? error.message : `${error.message}: ${reason}`;
}

async function checkProvider(config: Config, findings: Finding[]): Promise<void> {
  const issuer = config.provider.issuer;
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let metadata: Record<string, unknown>;
  let response: Response;
  try {
    response = await fetchWithTimeout(url);
    metadata = (await response.json()) as Record<string, unknown>;
  } catch (error) {
    findings.push({ level: 'fail', check: 'discovery', detail: `${url} could not be read: ${fetchFailure(error)}`, fix: 'check provider.issuer, DNS, TLS and the network path from gatehouse to the provider' });
    return;
  }
  if (!response.ok) {
    findings.push({ level: 'fail', check: 'discovery', detail: `${url} answered ${response.status}`, fix: 'check provider.issuer: it must be the issuer URL itself, without /.well-known/…' });
    return;
  }
  if (metadata.issuer !== issuer) {
    findings.push({ level: 'fail', check: 'discovery', detail: `the provider calls itself '${String(metadata.issuer)}', not '${issuer}'`, fix: `set provider.issuer to exactly '${String(metadata.issuer)}' (a trailing slash matters)` });
  } else {
    findings.push({ level: 'ok', check: 'discovery', detail: `issuer ${issuer} discovered` });
  }
  const date = Date.parse(response.headers.get('date') ?? '');
  if (!Number.isNaN(date)) {
    const skew = Math.round((Date.now() - date) / 1000);
    if (Math.abs(skew) > 30) findings.push({ level: 'fail', check: 'clock', detail: `this machine's clock is ${skew} s ${skew > 0 ? 'ahead of' : 'behind'} the provider's`, fix: 'synchronise the clock (NTP); tokens are refused beyond 30–60 s of skew' });
    else findings.push({ level: 'ok', check: 'clock', detail: `clock within ${Math.abs(skew)} s of the provider` });
  }
  const tokenEndpoint = metadata.token_endpoint;
  if (typeof tokenEndpoint !== 'string') {
    findings.push({ level: 'fail', check: 'credentials', detail: 'the discovery document names no token_endpoint', fix: 'use the issuer of an OpenID Connect provider' });
    return;
  }
  // The client secret goes only to the provider the configuration names, and never in clear beyond this
  // machine: not after a discovery that named another issuer, not to a plain-http endpoint elsewhere.
  if (metadata.issuer !== issuer) {
    findings.push({ level: 'warn', check: 'credentials', detail: 'not checked: the discovery document names another issuer, so the client secret was not sent', fix: 'fix provider.issuer first, then run doctor again' });
    return;
  }
  const endpoint = URL.canParse(tokenEndpoint) ? new URL(tokenEndpoint) : undefined;
  if (endpoint === undefined || (endpoint.protocol !== 'https:' && !(endpoint.protocol === 'http:' && isLoopbackHost(endpoint.hostname.replace(/^\[|\]$/g, ''))))) {
    findings.push({ level: 'fail', check: 'credentials', detail: `the token endpoint ${tokenEndpoint} is not https, so the client secret was not sent`, fix: 'the provider must serve its token endpoint over https' });
    return;
  }
  try {
    const basic = Buffer.from(`${encodeURIComponent(config.provider.clientId)}:${encodeURIComponent(config.provider.clientSecret)}`).toString('base64');
    const answer = await fetchWithTimeout(tokenEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'gatehouse-doctor-not-a-code', redirect_uri: 'https://gatehouse.invalid/oauth2/callback' }).toString(),
    });
    const parsed = (await answer.json().catch(() => ({}))) as { error?: unknown };
    const error = typeof parsed.error === 'string' ? parsed.error : '';
    if (error === 'invalid_client' || answer.status === 401) {
      findings.push({ level: 'fail', check: 'credentials', detail: 'the token endpoint refused the client id and secret (invalid_client)', fix: 'copy the client id and secret again from the provider (watch for quotes or a trailing newline)' });
    } else if (error === 'invalid_grant' || error === 'invalid_request') {
      findings.push({ level: 'ok', check: 'credentials', detail: `client credentials accepted (the made-up code was refused with ${error}, as it should be)` });
    } else {
      findings.push({ level: 'warn', check: 'credentials', detail: `unexpected answer from the token endpoint: ${answer.status} ${error}`, fix: 'try a real login; check the client type is confidential with client_secret_basic' });
    }
  } catch (error) {
    findings.push({ level: 'fail', check: 'credentials', detail: `the token endpoint could not be reached: ${fetchFailure(error)}`, fix: 'check the network path to the provider' });
  }
}

function checkCookiesAndCallbacks(config: Config, findings: Finding[], url: URL | undefined): void {
  for (const secret of config.cookie.secrets) {
    const bytes = decodeCookieSecret(secret);
    if (bytes !== undefined && bytes.length < 32) findings.push({ level: 'warn', check: 'cookie secret', detail: `a cookie secret holds ${bytes.length} bytes`, fix: 'use 32 random bytes: gatehouse secret generate' });
  }
  if (config.cookie.secrets.length > 0 && !findings.some((finding) => finding.check === 'cookie secret')) findings.push({ level: 'ok', check: 'cookie secret', detail: '32-byte cookie secret' });
  const redirect = config.proxy.redirectUrl === '' ? '/oauth2/callback' : config.proxy.redirectUrl;
  if (redirect.startsWith('/')) {
    // As the gateway builds it: cookie.secure forces https (not with the development provider), else the
    // request's own scheme is kept.
    const forced = config.cookie.secure && !usesDevelopmentProvider(config);
    const scheme = forced ? 'https' : url === undefined ? 'http(s)' : url.protocol.slice(0, -1);
    const why = forced ? '' : ` (the request's own scheme: ${config.cookie.secure ? 'development provider' : 'cookie.secure is off'})`;
    findings.push({ level: 'ok', check: 'callback', detail: `callback built on each host: ${scheme}://<host>${redirect}${why}; register it at the provider for every protected host` });
  } else {
    const host = new URL(redirect).hostname;
    const domain = chooseCookieDomain(host, config.cookie.domains);
    if (domain === undefined) findings.push({ level: 'fail', check: 'callback', detail: `the callback host ${host} is under no cookie domain, so the session set there is not seen on the protected hosts`, fix: 'add a cookie domain covering both, such as .homelab.example.com' });
    else findings.push({ level: 'ok', check: 'callback', detail: `callback ${redirect} under cookie domain ${domain}` });
  }
  if (url !== undefined) {
    const domain = chooseCookieDomain(url.hostname, config.cookie.domains);
    if (config.cookie.domains.length > 0 && domain === undefined) findings.push({ level: 'fail', check: 'cookie domain', detail: `${url.hostname} is under none of the cookie domains ${config.cookie.domains.join(', ')}`, fix: 'add its parent domain to cookie.domains' });
    else findings.push({ level: 'ok', check: 'cookie domain', detail: domain === undefined ? `host-only cookies on ${url.hostname}` : `cookies for ${url.hostname} use Domain=${domain}` });
    if (config.cookie.secure && url.protocol !== 'https:') findings.push({ level: 'fail', check: 'cookie secure', detail: 'cookie.secure is on but the URL is plain http, so browsers drop the session cookie', fix: 'serve the site over https, or set cookie.secure: false for a test set-up' });
  }
}

/** The value of a Redis setting, or undefined when CONFIG is refused (managed Redis often renames it). */
async function redisSetting(client: Awaited<ReturnType<typeof connectForCommand>>['client'], name: string): Promise<string | undefined> {
  try {
    const answer: unknown = await client.call('CONFIG', 'GET', name);
    return Array.isArray(answer) && typeof answer[1] === 'string' ? answer[1] : undefined;
  } catch {
    return undefined;
  }
}

async function checkRedis(config: Config, findings: Finding[]): Promise<void> {
  const redis = await connectForCommand(config.session.redis);
  try {
    try {
      await redis.client.ping();
    } catch (error) {
      findings.push({ level: 'fail', check: 'redis', detail: `Redis could not be reached: ${(redis.failure() ?? (error instanceof Error ? error : new Error(String(error)))).message}`, fix: 'check session.redis (url, password, TLS) and the network path from gatehouse to Redis' });
      return;
    }
    findings.push({ level: 'ok', check: 'redis', detail: 'Redis answers' });
    const policy = await redisSetting(redis.client, 'maxmemory-policy');
    if (policy === undefined) findings.push({ level: 'warn', check: 'redis eviction', detail: 'the eviction policy could not be read (CONFIG refused)', fix: 'make sure maxmemory-policy is noeviction or volatile-*: an allkeys-* policy may drop the bearer deny-lists' });
    else if (policy.startsWith('allkeys-')) findings.push({ level: 'warn', check: 'redis eviction', detail: `maxmemory-policy is ${policy}: under memory pressure Redis may drop a bearer deny-list, and revoked tokens pass again`, fix: 'set maxmemory-policy noeviction, or a volatile-* policy (sessions carry a time to live, the deny-lists none)' });
    else findings.push({ level: 'ok', check: 'redis eviction', detail: `maxmemory-policy ${policy} never drops the deny-lists` });
    const [appendonly, save] = [await redisSetting(redis.client, 'appendonly'), await redisSetting(redis.client, 'save')];
    if (appendonly === undefined || save === undefined) findings.push({ level: 'warn', check: 'redis persistence', detail: 'persistence could not be read (CONFIG refused)', fix: 'make sure Redis keeps its data on disk (appendonly yes, or snapshots): a restart otherwise forgets the sessions and the revocations' });
    else if (appendonly !== 'yes' && save.trim() === '') findings.push({ level: 'warn', check: 'redis persistence', detail: 'Redis keeps nothing on disk: a restart signs everyone out and forgets every revoked token', fix: 'run Redis with appendonly yes (or snapshots with save), or keep lasting revocations in the profiles\' denyList files too' });
    else findings.push({ level: 'ok', check: 'redis persistence', detail: appendonly === 'yes' ? 'append-only file' : `snapshots (save ${save})` });
  } finally {
    await redis.close();
  }
}

async function checkThroughProxy(config: Config, url: URL, findings: Finding[]): Promise<void> {
  if (config.diagnostics.token === '') {
    findings.push({ level: 'warn', check: 'through the proxy', detail: 'diagnostics.token is not set, so gatehouse cannot tell what it sees', fix: 'set diagnostics.token (GATEHOUSE_DIAGNOSTICS_TOKEN) to a random value on gatehouse and here, then run doctor again' });
    return;
  }
  let response: Response;
  try {
    response = await fetchWithTimeout(url.href, { headers: { 'x-gatehouse-diagnose': config.diagnostics.token, accept: 'application/json' } });
  } catch (error) {
    findings.push({ level: 'fail', check: 'through the proxy', detail: `${url.href} could not be reached: ${fetchFailure(error)}`, fix: 'check DNS and that the proxy serves this host' });
    return;
  }
  const body = (await response.json().catch(() => undefined)) as { gatehouse?: unknown; peerTrusted?: unknown; forwardedHeaders?: unknown; seen?: { host?: unknown; uri?: unknown; scheme?: unknown; clientIp?: unknown } } | undefined;
  if (body?.gatehouse !== 'diagnose') {
    findings.push({ level: 'fail', check: 'through the proxy', detail: `the answer (${response.status}) did not come from gatehouse's diagnose echo`, fix: 'make sure the proxy asks gatehouse for this host (forwardAuth / forward_auth / auth_request), passes the X-Gatehouse-Diagnose header, and that gatehouse has the same diagnostics.token' });
    return;
  }
  const seen = body.seen ?? {};
  if (body.peerTrusted !== true) findings.push({ level: 'fail', check: 'trusted proxy', detail: 'the proxy is not in proxy.trusted, so its X-Forwarded-* headers are ignored', fix: 'add the proxy address to proxy.trusted and set proxy.reverseProxy: true' });
  else findings.push({ level: 'ok', check: 'trusted proxy', detail: 'the proxy is trusted' });
  if (seen.host !== url.hostname) findings.push({ level: 'fail', check: 'forwarded host', detail: `gatehouse saw host '${String(seen.host)}' instead of '${url.hostname}'`, fix: 'point the forward-auth address at the gatehouse Service (not through the ingress), and pass X-Forwarded-Host (Traefik: trustForwardHeader: true)' });
  else findings.push({ level: 'ok', check: 'forwarded host', detail: `host ${url.hostname} arrives` });
  const path = `${url.pathname}${url.search}`;
  if (seen.uri !== path) findings.push({ level: 'fail', check: 'forwarded path', detail: `gatehouse saw '${String(seen.uri)}' instead of '${path}'`, fix: 'pass X-Forwarded-Uri (nginx: proxy_set_header X-Forwarded-Uri $request_uri)' });
  else findings.push({ level: 'ok', check: 'forwarded path', detail: `path ${path} arrives` });
  if (seen.scheme !== url.protocol.replace(':', '')) findings.push({ level: 'warn', check: 'forwarded scheme', detail: `gatehouse saw scheme '${String(seen.scheme)}'`, fix: 'pass X-Forwarded-Proto from the proxy' });
  findings.push({ level: 'ok', check: 'client address', detail: `the client address seen is ${String(seen.clientIp)} (headers: ${Array.isArray(body.forwardedHeaders) ? body.forwardedHeaders.join(', ') : ''})` });
}

export async function runDoctor(argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, 'doctor', { own: ['url'], acceptConfig: true });
  if (args.help) {
    io.out(DOCTOR_HELP);
    return EXIT.ok;
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'doctor');
  let url: URL | undefined;
  if (args.own.has('url')) {
    try {
      url = new URL(args.own.get('url') ?? '');
    } catch {
      throw new UsageError(`--url ${quoteValue(args.own.get('url') ?? '')} is not an absolute URL`, 'doctor');
    }
  }
  const loaded = loadForCommand(args, io);
  if (typeof loaded === 'number') return loaded;
  const { config } = loaded;
  const findings: Finding[] = [{ level: 'ok', check: 'configuration', detail: 'valid' }];
  if (usesDevelopmentProvider(config)) findings.push({ level: 'warn', check: 'provider', detail: 'no provider.issuer: the development provider is used', fix: 'configure your identity provider for real use' });
  else await checkProvider(config, findings);
  checkCookiesAndCallbacks(config, findings, url);
  if (config.session.store === 'redis') await checkRedis(config, findings);
  if (url !== undefined) await checkThroughProxy(config, url, findings);
  for (const finding of findings) {
    io.out(`${finding.level.toUpperCase().padEnd(4)}  ${finding.check}: ${finding.detail}`);
    if (finding.fix !== undefined) io.out(`      fix: ${finding.fix}`);
  }
  const failed = findings.filter((finding) => finding.level === 'fail').length;
  const warned = findings.filter((finding) => finding.level === 'warn').length;
  io.out(`${findings.length - failed - warned} passed, ${warned} warning${warned === 1 ? '' : 's'}, ${failed} failed`);
  return failed === 0 ? EXIT.ok : EXIT.failure;
}
