/** `gatehouse config check`: validate, then print the effective configuration and where each value came from. */
import { ConfigError, formatEffective, formatProblems, loadConfig } from '../../config/index.js';
import { parseArgs, unexpectedArgument, unknownCommand } from '../args.js';
import { EXIT, type CommandIo } from '../io.js';
import { configFileOf } from '../load.js';

export const CONFIG_HELP = `Usage: gatehouse config check [--config FILE] [option flags...]

Validates the configuration from the file, the environment (GATEHOUSE_* and
OAUTH2_PROXY_*) and flags, with precedence flags > env > file > defaults.
Valid: prints every effective value, secrets redacted, with its origin
(default, file, env, flag), then any warnings; exit 0.
Invalid: prints every problem with its key, what is wrong and the fix; exit 78.

Options:
  -c, --config FILE   native YAML configuration file (also GATEHOUSE_CONFIG)
  -h, --help          show this help

Examples:
  gatehouse config check --config gatehouse.yaml
  OAUTH2_PROXY_COOKIE_SECRET=... gatehouse config check --email-domain=example.com
  gatehouse config check --config gatehouse.yaml --cookie.refresh=1h`;

export function runConfig(argv: readonly string[], io: CommandIo): number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    // Without a sub-command it is a usage error: the help goes to stderr, never into a captured output.
    if (sub === undefined) io.err(CONFIG_HELP);
    else io.out(CONFIG_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'check') throw unknownCommand('config', sub);
  const args = parseArgs(rest, 'config', { acceptConfig: true });
  if (args.help) {
    io.out(CONFIG_HELP);
    return EXIT.ok;
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'config');
  try {
    const loaded = loadConfig({ ...configFileOf(args.config, io.env), env: io.env, flags: args.configFlags });
    io.out(formatEffective(loaded));
    for (const warning of loaded.warnings) io.err(`warning: ${warning}`);
    io.err('configuration is valid');
    return EXIT.ok;
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(formatProblems(error.problems));
      return EXIT.config;
    }
    throw error;
  }
}
