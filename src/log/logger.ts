/**
 * Structured logs (pino) in three streams that match oauth2-proxy's switches: `auth` (login, logout,
 * refresh, failures), `request` (one line per request) and `standard` (everything else). Tokens, cookies,
 * secrets and `Authorization` values are redacted by construction: call sites never pass raw headers, and
 * the redaction list below censors the field names that could carry them anyway.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';

/** Field names that are always censored, wherever they appear (up to two levels deep). */
export const REDACTED_FIELDS = [
  'authorization',
  'cookie',
  'set-cookie',
  'token',
  'id_token',
  'access_token',
  'refresh_token',
  'idToken',
  'accessToken',
  'refreshToken',
  'code',
  'code_verifier',
  'secret',
  'clientSecret',
  'client_secret',
  'password',
  'state',
  'nonce',
] as const;

const redactPaths = REDACTED_FIELDS.flatMap((name) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(name) ? name : `["${name}"]`;
  const join = (prefix: string) => (key.startsWith('[') ? `${prefix}${key}` : `${prefix}.${key}`);
  return [key.startsWith('[') ? key.slice(2, -2) : key, join('*'), join('*.*')];
});

/** The loggers of one running gatehouse. */
export interface Loggers {
  readonly standard: Logger;
  readonly auth: Logger;
  readonly request: Logger;
}

/** How to log. */
export interface LoggerOptions {
  readonly format: 'auto' | 'json' | 'pretty';
  readonly level: string;
  readonly auth: boolean;
  readonly requests: boolean;
  readonly standard: boolean;
  /** Where to write; standard output by default. */
  readonly destination?: DestinationStream;
  /** Whether the destination is a terminal (for `auto`). */
  readonly isTty?: boolean;
}

/** Creates the three loggers. A switched-off stream logs nothing. */
export function createLoggers(options: LoggerOptions): Loggers {
  const usePretty = options.format === 'pretty' || (options.format === 'auto' && (options.isTty ?? process.stdout.isTTY));
  const destination =
    options.destination ??
    (usePretty ? pretty({ colorize: options.isTty ?? process.stdout.isTTY, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : pino.destination({ sync: false }));
  const root = pino(
    {
      level: options.level,
      base: { service: 'gatehouse' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination !== undefined && usePretty ? pretty({ colorize: false, sync: true, destination: options.destination as unknown as NodeJS.WritableStream }) : destination,
  );
  const stream = (name: string, enabled: boolean) => {
    const child = root.child({ log: name });
    if (!enabled) child.level = 'silent';
    return child;
  };
  return { standard: stream('standard', options.standard), auth: stream('auth', options.auth), request: stream('request', options.requests) };
}

/** Loggers that write nothing, for tests and tools. */
export function silentLoggers(): Loggers {
  const root = pino({ level: 'silent' });
  return { standard: root, auth: root, request: root };
}
