/**
 * Cross-field validation of a schema-valid configuration. Pure: no I/O, every problem reported at once,
 * each with its key path, what is wrong and the fix.
 */
import { decodeCookieSecret } from '../crypto/secret.js';
import { compileRegex } from '../policy/regex.js';
import { compileProfiles, ProfileCompileError } from '../jwt/profiles.js';
import { compilePolicySet, PolicyCompileError } from '../policy/routes.js';
import { isIP } from 'node:net';
import { isLoopbackHost, parseCidr, parseListenAddress } from './address.js';
import { readEmailsFile } from './emails-file.js';
import type { Problem } from './problems.js';
import type { Config } from './schema.js';

const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** True for `example.com` or `.example.com` (lower-case, no port). */
export function isCookieDomain(text: string): boolean {
  return DOMAIN.test(text.startsWith('.') ? text.slice(1) : text);
}

/** True for a redirect allow-list entry: `[.|*.]domain[:port|:*]`. */
export function isRedirectDomain(text: string): boolean {
  const match = /^(\*\.|\.)?([^:]+)(?::(\*|\d{1,5}))?$/.exec(text);
  if (match === null) return false;
  const port = match[3];
  if (port !== undefined && port !== '*' && (Number(port) < 1 || Number(port) > 65535)) return false;
  return DOMAIN.test(match[2] ?? '');
}

/** True when the configuration runs the embedded development provider. */
export function usesDevelopmentProvider(config: Config): boolean {
  return config.provider.issuer === '';
}

/** An address in one spelling: IPv6 compressed and lower-case, `localhost` as the loopback addresses. */
function hostForms(host: string): string[] {
  if (host.toLowerCase() === 'localhost') return ['127.0.0.1', '::1'];
  if (isIP(host) === 6) return [new URL(`http://[${host}]/`).hostname.slice(1, -1)];
  return [host.toLowerCase()];
}

/** True when two listeners' hosts could be the same address (or one is every address). */
function sameOrAnyHost(a: string, b: string): boolean {
  const left = hostForms(a);
  const right = hostForms(b);
  const any = (forms: string[]) => forms.includes('0.0.0.0') || forms.includes('::');
  return any(left) || any(right) || left.some((form) => right.includes(form));
}

/** Validates what the schema alone cannot. */
export function validateConfig(config: Config): Problem[] {
  const problems: Problem[] = [];
  const add = (code: string, path: string, message: string, fix: string) => problems.push({ code, path, message, fix });
  const dev = usesDevelopmentProvider(config);

  const listen = parseListenAddress(config.listen);
  if (listen === undefined) {
    add('ERR_CONFIG_LISTEN_INVALID', 'listen', `'${config.listen}' is not a listen address`, 'write host:port, such as 127.0.0.1:4180 or :4180');
  } else if (dev && !isLoopbackHost(listen.host)) {
    add(
      'ERR_CONFIG_DEV_PROVIDER_EXPOSED',
      'provider.issuer',
      `is empty, so the development identity provider would run, but gatehouse listens on ${config.listen}, beyond this machine`,
      'set provider.issuer (OAUTH2_PROXY_OIDC_ISSUER_URL) to your identity provider, or listen on 127.0.0.1',
    );
  }
  const metricsListen = config.metrics.listen === '' ? undefined : parseListenAddress(config.metrics.listen);
  if (config.metrics.listen !== '' && metricsListen === undefined) {
    add('ERR_CONFIG_LISTEN_INVALID', 'metrics.listen', `'${config.metrics.listen}' is not a listen address`, 'write host:port, such as 127.0.0.1:9090, or leave it empty');
  }
  // Port 0 picks a free port for each; otherwise one port on one (or every) address can be bound only once.
  if (listen !== undefined && metricsListen !== undefined && listen.port !== 0 && listen.port === metricsListen.port && sameOrAnyHost(listen.host, metricsListen.host)) {
    add('ERR_CONFIG_LISTEN_CONFLICT', 'metrics.listen', `'${config.metrics.listen}' is the address gatehouse already listens on (listen: '${config.listen}')`, 'give the metrics listener a port of its own, such as 127.0.0.1:9090');
  }

  if (!dev) {
    let issuer: URL | undefined;
    try {
      issuer = new URL(config.provider.issuer);
    } catch {
      add('ERR_CONFIG_ISSUER_INVALID', 'provider.issuer', `'${config.provider.issuer}' is not a URL`, 'write the issuer URL, such as https://example.eu.auth0.com/');
    }
    if (issuer !== undefined && issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname.replace(/^\[|\]$/g, '')))) {
      add('ERR_CONFIG_ISSUER_INSECURE', 'provider.issuer', 'must use https (plain http only on loopback)', 'use the https:// issuer URL of your provider');
    }
    if (config.provider.clientId === '') {
      add('ERR_CONFIG_CLIENT_ID_MISSING', 'provider.clientId', 'is required with a provider', 'set the client id registered at the provider (OAUTH2_PROXY_CLIENT_ID)');
    }
    if (config.provider.clientSecret === '') {
      add('ERR_CONFIG_CLIENT_SECRET_MISSING', 'provider.clientSecret', 'is required with a provider', 'set the client secret (OAUTH2_PROXY_CLIENT_SECRET, or a file through OAUTH2_PROXY_CLIENT_SECRET_FILE)');
    }
    if (config.cookie.secrets.length === 0) {
      add('ERR_CONFIG_COOKIE_SECRET_MISSING', 'cookie.secrets', 'at least one cookie secret is required', 'run `gatehouse secret generate` and set it as OAUTH2_PROXY_COOKIE_SECRET or cookie.secrets');
    }
    const authz = config.authorization;
    if (authz.emailDomains.length === 0 && authz.emails.length === 0 && authz.emailsFile === '') {
      add(
        'ERR_CONFIG_EMAIL_POLICY_MISSING',
        'authorization.emailDomains',
        'no email domains or emails are allowed, so nobody could sign in',
        'list the allowed domains (OAUTH2_PROXY_EMAIL_DOMAINS=example.com), or `*` to allow every verified email',
      );
    }
  }
  if (config.diagnostics.token !== '' && config.diagnostics.token.length < 16) {
    add('ERR_CONFIG_DIAGNOSTICS_TOKEN_SHORT', 'diagnostics.token', `has ${config.diagnostics.token.length} characters; it unlocks what a check sees, so it must not be guessable`, 'use at least 16 random characters: gatehouse secret generate');
  }
  if (config.authorization.emailsFile !== '') {
    // Read now, so `config check` says what `serve` would refuse to start with.
    try {
      readEmailsFile(config.authorization.emailsFile);
    } catch (error) {
      add('ERR_CONFIG_EMAILS_FILE', 'authorization.emailsFile', error instanceof Error ? error.message.replace(/^authorization\.emailsFile: /, '') : String(error), 'point it at a readable file of one address per line');
    }
  }
  if (!config.provider.scopes.includes('openid')) {
    add('ERR_CONFIG_SCOPE_OPENID', 'provider.scopes', "must include 'openid'", 'add openid to the scopes, such as "openid email profile"');
  }

  config.cookie.secrets.forEach((secret, index) => {
    if (decodeCookieSecret(secret) === undefined) {
      add(
        'ERR_CONFIG_COOKIE_SECRET_LENGTH',
        `cookie.secrets[${index}]`,
        `is ${Buffer.byteLength(secret)} bytes and does not decode to 16, 24 or 32 bytes`,
        'use 32 random bytes, base64url-encoded: run `gatehouse secret generate`',
      );
    }
  });
  if (!COOKIE_NAME.test(config.cookie.name)) {
    add('ERR_CONFIG_COOKIE_NAME_INVALID', 'cookie.name', `'${config.cookie.name}' is not a valid cookie name`, 'use letters, digits, _ and -');
  }
  config.cookie.domains.forEach((domain, index) => {
    if (!isCookieDomain(domain)) {
      add('ERR_CONFIG_COOKIE_DOMAIN_INVALID', `cookie.domains[${index}]`, `'${domain}' is not a lower-case domain name`, 'write a domain such as .homelab.example.com, without scheme or port');
    }
  });
  if (!config.cookie.path.startsWith('/')) {
    add('ERR_CONFIG_COOKIE_PATH_INVALID', 'cookie.path', 'must start with /', 'write / or a path such as /app');
  }
  if (config.cookie.expire === 0) {
    add('ERR_CONFIG_COOKIE_EXPIRE_ZERO', 'cookie.expire', 'must be longer than 0: gatehouse always limits how long a session lives', 'write a lifetime such as 168h');
  }
  if (config.cookie.refresh > 0 && config.cookie.refresh >= config.cookie.expire) {
    add('ERR_CONFIG_COOKIE_REFRESH_TOO_LONG', 'cookie.refresh', 'must be shorter than cookie.expire', 'make cookie.refresh shorter than cookie.expire, such as 1h with 168h');
  }
  if (config.cookie.sameSite === 'none' && !config.cookie.secure) {
    add('ERR_CONFIG_SAMESITE_NONE_INSECURE', 'cookie.sameSite', "'none' requires cookie.secure, or browsers drop the cookie", 'set cookie.secure to true, or use lax');
  }
  if (config.cookie.csrfExpire < 60_000 || config.cookie.csrfExpire > 3_600_000) {
    add('ERR_CONFIG_CSRF_EXPIRE_RANGE', 'cookie.csrfExpire', 'must be between 1m and 1h', 'use the default 15m');
  }

  const prefix = config.envoy.pathPrefix;
  if (prefix !== '' && (!/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(prefix) || prefix.startsWith('/oauth2'))) {
    add('ERR_CONFIG_ENVOY_PREFIX', 'envoy.pathPrefix', `'${prefix}' is not a path prefix gatehouse can own`, 'write a path such as /ext-authz: it starts with /, has no trailing /, and is not under /oauth2');
  }
  if (config.session.store === 'redis') {
    const redis = config.session.redis;
    if (redis.useSentinel && redis.useCluster) add('ERR_CONFIG_REDIS_MODE', 'session.redis.useSentinel', 'Sentinel and Cluster cannot both be used', 'choose one of useSentinel and useCluster');
    if (redis.useSentinel && (redis.sentinelMasterName === '' || redis.sentinelUrls.length === 0)) add('ERR_CONFIG_REDIS_SENTINEL', 'session.redis.sentinelUrls', 'Sentinel needs the master name and at least one sentinel URL', 'set sentinelMasterName and sentinelUrls (OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME, …_CONNECTION_URLS)');
    if (redis.useCluster && redis.clusterUrls.length === 0) add('ERR_CONFIG_REDIS_CLUSTER', 'session.redis.clusterUrls', 'Cluster needs at least one node URL', 'set clusterUrls (OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS)');
    if (!redis.useSentinel && !redis.useCluster) {
      let url: URL | undefined;
      try {
        url = new URL(redis.url);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
        add('ERR_CONFIG_REDIS_URL', 'session.redis.url', redis.url === '' ? 'is required with the Redis store' : 'is not a redis:// or rediss:// URL', 'set it, such as redis://redis.gatehouse.svc:6379/0 (OAUTH2_PROXY_REDIS_CONNECTION_URL)');
      }
    }
    if (!/^[A-Za-z0-9:_.-]{0,64}$/.test(redis.keyPrefix)) add('ERR_CONFIG_REDIS_KEY_PREFIX', 'session.redis.keyPrefix', 'may hold only letters, digits and : _ . -', 'use something like gatehouse:');
  }

  config.proxy.trusted.forEach((entry, index) => {
    if (parseCidr(entry) === undefined) {
      add('ERR_CONFIG_TRUSTED_PROXY_INVALID', `proxy.trusted[${index}]`, `'${entry}' is not an IP address or CIDR range`, 'write an address or range such as 10.0.0.0/8 or 127.0.0.1');
    }
  });
  const redirectUrl = config.proxy.redirectUrl;
  if (redirectUrl !== '' && !redirectUrl.startsWith('/')) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(redirectUrl);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.username !== '' || parsed.search !== '' || parsed.hash !== '') {
      add('ERR_CONFIG_REDIRECT_URL_INVALID', 'proxy.redirectUrl', `'${redirectUrl}' is neither a path nor an http(s) URL`, 'write /oauth2/callback, or https://auth.example.com/oauth2/callback');
    }
  } else if (redirectUrl.startsWith('//')) {
    add('ERR_CONFIG_REDIRECT_URL_INVALID', 'proxy.redirectUrl', `'${redirectUrl}' would be read as another host`, 'write /oauth2/callback');
  }
  config.proxy.allowedRedirectDomains.forEach((domain, index) => {
    if (!isRedirectDomain(domain)) {
      add('ERR_CONFIG_REDIRECT_DOMAIN_INVALID', `proxy.allowedRedirectDomains[${index}]`, `'${domain}' is not a domain`, 'write a domain such as .homelab.example.com or app.example.com:8443');
    }
  });

  config.forwardAuth.apiRoutes.forEach((pattern, index) => {
    try {
      compileRegex(pattern);
    } catch (error) {
      add('ERR_CONFIG_REGEX_INVALID', `forwardAuth.apiRoutes[${index}]`, `'${pattern}' is not a valid RE2 expression: ${(error as Error).message}`, 'fix the expression (RE2 syntax, as oauth2-proxy)');
    }
  });
  try {
    compilePolicySet(config);
  } catch (error) {
    if (!(error instanceof PolicyCompileError)) throw error;
    for (const problem of error.problems) {
      if (problem.path.startsWith('forwardAuth.skipAuthRoutes')) {
        add('ERR_CONFIG_REGEX_INVALID', problem.path, `is not a valid route: ${problem.message}`, 'write [METHOD=]regex, such as GET=^/api/health$');
      } else {
        add('ERR_CONFIG_ROUTE_INVALID', problem.path, problem.message, 'fix this part of the route or policy; docs/policy.md describes every field');
      }
    }
  }
  try {
    // Compiling reads each profile's key and deny-list files and parses its keys; no network, no timers.
    compileProfiles(config, { env: {}, timeoutMs: config.provider.timeout }).all().forEach((profile) => profile.close());
  } catch (error) {
    if (!(error instanceof ProfileCompileError)) throw error;
    for (const problem of error.problems) {
      add('ERR_CONFIG_BEARER_PROFILE_INVALID', problem.path, problem.message, 'fix the profile; docs/bearer.md describes every key');
    }
  }
  const profiles = new Set([...(config.bearer.provider ? ['provider'] : []), ...Object.keys(config.bearer.profiles)]);
  const checkAuth = (path: string, auth: 'public' | readonly string[] | undefined) => {
    if (auth === undefined || auth === 'public') return;
    for (const method of auth) {
      const profile = method.startsWith('bearer:') ? method.slice('bearer:'.length) : undefined;
      if (profile !== undefined && !profiles.has(profile)) {
        add('ERR_CONFIG_BEARER_PROFILE_UNKNOWN', `${path}.auth`, `names the bearer profile '${profile}', which is not configured`, profile === 'provider' ? "set bearer.provider: true to accept the provider's own tokens" : 'define the profile, or use bearer:provider');
      }
    }
  };
  config.routes.forEach((route, index) => checkAuth(`routes[${index}]`, route.auth));
  for (const [name, policy] of Object.entries(config.policies)) checkAuth(`policies.${name}`, policy.auth);

  for (const [path, values] of [
    ['authorization.emailDomains', config.authorization.emailDomains],
    ['authorization.emails', config.authorization.emails],
    ['authorization.groups', config.authorization.groups],
  ] as const) {
    values.forEach((value, index) => {
      if (value.trim() === '') {
        add('ERR_CONFIG_EMPTY_ENTRY', `${path}[${index}]`, 'is empty', 'remove the empty entry; an empty entry never allows anyone');
      }
    });
  }
  config.authorization.emails.forEach((email, index) => {
    if (email.split('@').length !== 2) {
      add('ERR_CONFIG_EMAIL_INVALID', `authorization.emails[${index}]`, `'${email}' is not an email address`, 'write one address with exactly one @');
    }
  });
  config.bearer.extraIssuers.forEach((entry, index) => {
    const at = entry.indexOf('=');
    if (at <= 0 || at === entry.length - 1) {
      add('ERR_CONFIG_EXTRA_ISSUER_INVALID', `bearer.extraIssuers[${index}]`, `'${entry}' is not issuer=audience`, 'write https://issuer.example.com=audience');
    }
  });
  if (config.provider.backchannelLogout && config.session.store !== 'redis') {
    add('ERR_CONFIG_BACKCHANNEL_LOGOUT_STORE', 'provider.backchannelLogout', 'needs session.store: redis: with the cookie store there is no session on the server for the provider to end', 'set session.store: redis (with session.redis), or turn provider.backchannelLogout off');
  }
  if (config.identityHeaders.accessToken && !config.identityHeaders.xAuthRequest) {
    add('ERR_CONFIG_ACCESS_TOKEN_HEADER', 'identityHeaders.accessToken', 'needs identityHeaders.xAuthRequest', 'also set identityHeaders.xAuthRequest (OAUTH2_PROXY_SET_XAUTHREQUEST=true)');
  }
  return problems;
}
