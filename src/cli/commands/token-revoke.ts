/**
 * `gatehouse token revoke`, `token unrevoke` and `token revoked`: the bearer deny-list shared through Redis
 * (with the Redis session store). Every replica refuses a revoked token within about a second.
 */
import { changeDenyEntry, DENY_LIST_POLL_MS, denyListNames, denyValueProblem, listDenyEntries, type DenyKind } from '../../jwt/index.js';
import { parseArgs, quoteValue, unexpectedArgument, UsageError } from '../args.js';
import { EXIT, type CommandIo } from '../io.js';
import { loadForCommand } from '../load.js';
import { withCommandRedis } from '../redis.js';

/** How soon every replica refuses a revoked token: at its next read of the shared deny-list. */
const POLL_SECONDS = DENY_LIST_POLL_MS / 1000;
export const REVOCATION_DELAY = `within about ${POLL_SECONDS === 1 ? 'a second' : `${POLL_SECONDS} seconds`}`;

/** The revocation commands. */
export type RevokeCommand = 'revoke' | 'unrevoke' | 'revoked';

/** Runs `token revoke`, `token unrevoke` or `token revoked`; `help` is the `token` help text. */
export async function runTokenRevocation(command: RevokeCommand, argv: readonly string[], io: CommandIo, help: string): Promise<number> {
  const args = parseArgs(argv, 'token', { own: command === 'revoked' ? ['profile'] : ['jti', 'sub', 'profile'], acceptConfig: true });
  if (args.help) {
    io.out(help);
    return EXIT.ok;
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'token');
  let kind: DenyKind | undefined;
  let value = '';
  if (command !== 'revoked') {
    const jti = args.own.get('jti');
    const sub = args.own.get('sub');
    if ((jti === undefined) === (sub === undefined)) throw new UsageError('give exactly one of --jti and --sub', 'token');
    kind = jti === undefined ? 'sub' : 'jti';
    value = jti ?? sub ?? '';
    const problem = denyValueProblem(value);
    if (problem !== undefined) throw new UsageError(`--${kind} ${problem}`, 'token');
  }
  const loaded = loadForCommand(args, io);
  if (typeof loaded === 'number') return loaded;
  const { config } = loaded;
  // The named profiles, and `provider` for the provider's own tokens when bearer.provider is on.
  const names = denyListNames(config.bearer);
  const asked = args.own.get('profile');
  if (asked !== undefined && !names.includes(asked)) throw new UsageError(`no bearer profile ${quoteValue(asked)} (have: ${names.join(', ') || 'none'})`, 'token');
  // Listing covers every profile unless one is named; a change needs its profile, unless there is only one.
  const profiles = asked !== undefined ? [asked] : command === 'revoked' || names.length === 1 ? names : [];
  if (profiles.length === 0) throw new UsageError(names.length === 0 ? 'the configuration accepts no bearer tokens (no bearer profiles, bearer.provider off)' : `name the profile with --profile (one of ${names.join(', ')})`, 'token');
  if (config.session.store !== 'redis') {
    io.err(`gatehouse: the shared deny-list lives in Redis (session.store: redis). With the cookie store, put '${kind ?? 'jti'}:<id>' lines in the profile's denyList file (bearer.profiles.<name>.denyList) and reload.`);
    return EXIT.usage;
  }
  const prefix = config.session.redis.keyPrefix;
  return withCommandRedis(config.session.redis, io, async (client) => {
    if (command === 'revoked') {
      const entries = await listDenyEntries(client, prefix, profiles);
      if (entries.length === 0) io.out('no revoked tokens');
      for (const entry of entries) io.out(`${entry.profile}  ${entry.kind}  ${entry.value}`);
      return EXIT.ok;
    }
    const [profile = ''] = profiles;
    const entry = { profile, kind: kind ?? 'jti', value };
    const changed = await changeDenyEntry(client, prefix, entry, command === 'revoke' ? 'add' : 'remove');
    const named = `${entry.kind} '${value}' of profile ${profile}`;
    if (command === 'revoke') io.out(changed ? `revoked ${named}: every replica refuses it ${REVOCATION_DELAY}` : `${named} was already revoked`);
    else io.out(changed ? `${named} is no longer revoked` : `${named} was not revoked`);
    return EXIT.ok;
  });
}
