/**
 * gatehouse as the tests run it: the built CLI (`node dist/cli/bin.js serve`) as a child process with a
 * native YAML configuration, JSON logs, and the development OpenID Provider as its identity provider.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDevProvider, type DevProvider } from '../../../src/devidp/index.js';
import { BIN, ROOT, ensureBuilt } from './build.js';
import { freePort, spawnLogged, waitForPort, type Spawned } from './processes.js';

/** The seed's hostnames: the app of the first visit and a second subdomain sharing the sign-in. */
export const GRAFANA_HOST = 'grafana.homelab.example.com';
export const TRAEFIK_HOST = 'traefik.homelab.example.com';
export const HOSTS = [GRAFANA_HOST, TRAEFIK_HOST] as const;

/** `cookie.refresh` of the tests, seconds: short, so the refresh test needs only a short wait. */
export const REFRESH_SECONDS = 3;

/** Starts the development provider with a client for `https://<host>:<proxyPort>` of every test host. */
export function startIdp(proxyPort: number): Promise<DevProvider> {
  return startDevProvider({
    redirectUris: HOSTS.map((host) => `https://${host}:${proxyPort}/oauth2/callback`),
    postLogoutRedirectUris: HOSTS.map((host) => `https://${host}:${proxyPort}/`),
    // Longer than the 30 s margin before expiry at which gatehouse refreshes the forwarded ID token, so only
    // `cookie.refresh` drives refreshes during the run.
    tokenTtlSeconds: 600,
  });
}

/** A running gatehouse. */
export interface RunningGatehouse {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly process: Spawned;
  /** Its JSON log lines so far. */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * gatehouse.yaml of the recipes: the seed's oauth2-proxy settings, natively. docs/proxies/caddy.md and
 * docs/proxies/nginx.md show it as it is; the tests run it as it is, with the secrets in the environment
 * and only what differs in a test run (address, provider, refresh interval) as flags on top.
 */
export const GATEHOUSE_YAML = `# Secrets come from the environment: GATEHOUSE_PROVIDER_CLIENT_ID,
# GATEHOUSE_PROVIDER_CLIENT_SECRET_FILE and GATEHOUSE_COOKIE_SECRETS_FILE.
listen: 127.0.0.1:4180

provider:
  issuer: https://example.eu.auth0.com/

cookie:
  # One sign-in for every subdomain.
  domains: [.homelab.example.com]
  refresh: 1h

proxy:
  reverseProxy: true
  # The addresses the proxy connects from: only they may describe the original request.
  trusted: [127.0.0.1/32, "::1/128"]
  # The callback lands on whichever host the browser came from.
  redirectUrl: /oauth2/callback

forwardAuth:
  # Straight to the provider, without a "Sign in with ..." page first.
  skipProviderButton: true

identityHeaders:
  # X-Auth-Request-User, -Email, -Groups, -Preferred-Username, and Authorization: Bearer <ID token>.
  xAuthRequest: true
  authorization: true

authorization:
  emailDomains: [farcaller.net]
`;

/** What a test may change about the gatehouse it starts. */
export interface GatehouseOptions {
  /** The YAML to run instead of {@link GATEHOUSE_YAML}. */
  readonly yaml?: string;
  /** `--cookie.refresh` (Go duration); default {@link REFRESH_SECONDS} seconds, for the refresh tests. */
  readonly cookieRefresh?: string;
}

/** Builds dist/ if needed and starts gatehouse on a free loopback port; the YAML goes to `dir`. */
export async function startGatehouse(dir: string, idp: DevProvider, options: GatehouseOptions = {}): Promise<RunningGatehouse> {
  await ensureBuilt();
  const port = await freePort();
  const configPath = join(dir, 'gatehouse.yaml');
  writeFileSync(configPath, options.yaml ?? GATEHOUSE_YAML);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    GATEHOUSE_PROVIDER_CLIENT_ID: idp.clientId,
    GATEHOUSE_PROVIDER_CLIENT_SECRET: idp.clientSecret,
    GATEHOUSE_COOKIE_SECRETS: randomBytes(32).toString('base64url'),
    GATEHOUSE_LOGGING_FORMAT: 'json',
    GATEHOUSE_LOGGING_LEVEL: 'debug',
  };
  const flags = [`--listen=127.0.0.1:${port}`, `--provider.issuer=${idp.issuer}`, `--cookie.refresh=${options.cookieRefresh ?? `${REFRESH_SECONDS}s`}`, '--shutdown-timeout=1s'];
  const child = spawnLogged('gatehouse', process.execPath, [BIN, 'serve', '--config', configPath, ...flags], { cwd: ROOT, env });
  try {
    await child.waitForOutput(/listening on http:\/\//);
    await waitForPort(port, 5000, child);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    process: child,
    logs: () => {
      const output = child.output();
      // Only whole lines: the last one may still be being written.
      return output
        .slice(0, output.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    stop: () => child.stop(),
  };
}
