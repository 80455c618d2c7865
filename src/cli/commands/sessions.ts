/** `gatehouse sessions list` and `gatehouse sessions revoke`: see and end a user's sessions in the Redis store. */
import { usesDevelopmentProvider } from '../../config/index.js';
import { loadForCommand } from '../load.js';
import { createRedisStore, sessionBinding } from '../../session/index.js';
import { withCommandRedis } from '../redis.js';
import { parseArgs, unexpectedArgument, unknownCommand, UsageError } from '../args.js';
import { EXIT, type CommandIo } from '../io.js';

export const SESSIONS_HELP = `Usage: gatehouse sessions list   --email E | --sub S [--config FILE]
       gatehouse sessions revoke --email E | --sub S [--config FILE]

With the Redis session store, shows or ends every session of a user on every
replica ("sign out everywhere"). No token is ever printed. Exit 0 on success,
1 when Redis cannot be reached, 2 on usage errors, 78 on an invalid config.

Examples:
  gatehouse sessions list --email alice@farcaller.net --config gatehouse.yaml
  gatehouse sessions revoke --email alice@farcaller.net --config gatehouse.yaml
  gatehouse sessions revoke --sub 'auth0|64f1c2' --config gatehouse.yaml`;

export async function runSessions(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    if (sub === undefined) io.err(SESSIONS_HELP);
    else io.out(SESSIONS_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'list' && sub !== 'revoke') throw unknownCommand('sessions', sub);
  const args = parseArgs(rest, 'sessions', { own: ['email', 'sub'], acceptConfig: true });
  if (args.help) {
    io.out(SESSIONS_HELP);
    return EXIT.ok;
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'sessions');
  const email = args.own.get('email');
  const subject = args.own.get('sub');
  if ((email === undefined) === (subject === undefined)) throw new UsageError('give exactly one of --email and --sub', 'sessions');
  const loaded = loadForCommand(args, io);
  if (typeof loaded === 'number') return loaded;
  const { config } = loaded;
  if (config.session.store !== 'redis') {
    io.err('gatehouse: sessions live in cookies (session.store: cookie), so there is nothing to list or revoke on the server; rotate cookie.secrets to end every session');
    return EXIT.usage;
  }
  const by = email === undefined ? { sub: subject ?? '' } : { email };
  return withCommandRedis(config.session.redis, io, async (client) => {
    const store = createRedisStore({
      client,
      cookieName: config.cookie.name,
      keyPrefix: config.session.redis.keyPrefix,
      binding: sessionBinding(usesDevelopmentProvider(config) ? '' : config.provider.issuer, config.provider.clientId),
      now: Date.now,
    });
    if (sub === 'list') {
      const sessions = await store.list(by);
      if (sessions.length === 0) io.out('no sessions');
      for (const session of sessions) {
        io.out(`${session.id}…  ${session.email || session.sub}  since ${new Date(session.createdAt * 1000).toISOString()}  until ${new Date(session.expiresAt * 1000).toISOString()}`);
      }
    } else {
      const count = await store.revoke(by);
      io.out(`revoked ${count} session${count === 1 ? '' : 's'}`);
    }
    return EXIT.ok;
  });
}
