/** `gatehouse secret generate`: a cookie secret in the format the configuration expects. */
import { randomBytes } from 'node:crypto';
import { parseArgs, quoteValue, unexpectedArgument, unknownCommand, UsageError } from '../args.js';
import type { CommandIo } from '../io.js';

export const SECRET_HELP = `Usage: gatehouse secret generate [--bytes N]

Prints a new random cookie secret: N random bytes (default 32; 16, 24 or 32),
base64url-encoded, ready for cookie.secrets or OAUTH2_PROXY_COOKIE_SECRET.

Examples:
  gatehouse secret generate
  export OAUTH2_PROXY_COOKIE_SECRET="$(gatehouse secret generate)"
  gatehouse secret generate > /run/secrets/cookie-secret`;

export function runSecret(argv: readonly string[], io: CommandIo): number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    // Without a sub-command it is a usage error: the help goes to stderr, so $(gatehouse secret) is no secret.
    if (sub === undefined) io.err(SECRET_HELP);
    else io.out(SECRET_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'generate') throw unknownCommand('secret', sub);
  const args = parseArgs(rest, 'secret', { own: ['bytes'] });
  if (args.help) {
    io.out(SECRET_HELP);
    return 0;
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'secret');
  const text = args.own.get('bytes') ?? '32';
  const bytes = /^\d{2}$/.test(text) ? Number(text) : Number.NaN;
  if (![16, 24, 32].includes(bytes)) throw new UsageError(`--bytes must be 16, 24 or 32, not ${quoteValue(args.own.get('bytes') ?? '')}`, 'secret');
  io.out(randomBytes(bytes).toString('base64url'));
  return 0;
}
