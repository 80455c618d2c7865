/** The `gatehouse` command. */
import { isConfigFlag } from '../config/index.js';
import { VERSION } from '../version.js';
import { quoteArgument, quoteFlag, unknownCommand, UsageError } from './args.js';
import { CONFIG_HELP, runConfig } from './commands/config-check.js';
import { KEYS_HELP, runKeys, runToken, TOKEN_HELP } from './commands/keys-token.js';
import { DOCTOR_HELP, runDoctor } from './commands/doctor.js';
import { POLICY_HELP, runPolicy } from './commands/policy.js';
import { runSessions, SESSIONS_HELP } from './commands/sessions.js';
import { runSecret, SECRET_HELP } from './commands/secret.js';
import { runServe, SERVE_HELP } from './commands/serve.js';
import { EXIT, processIo, type CommandIo } from './io.js';

export const MAIN_HELP = `gatehouse ${VERSION}: forward-auth and authorization gateway

Usage: gatehouse <command> [options]

Commands:
  serve              run the gateway (the default when only flags are given)
  config check       validate the configuration and print the effective values
  secret generate    print a new cookie secret
  policy explain     show how a request would be decided, and why
  policy test        run a table of expected policy decisions
  keys generate      make a signing key pair for device tokens
  token mint         sign a device token
  token verify       check a token against a bearer profile
  token revoke       refuse a device token (or subject) on every replica (Redis store)
  token unrevoke     accept a revoked token (or subject) again (Redis store)
  token revoked      list the revoked tokens and subjects (Redis store)
  sessions list      show a user's sessions (Redis store)
  sessions revoke    end every session of a user (Redis store)
  doctor             check a set-up from where it runs and say what to change
  help [command]     show help for a command

Options:
  -h, --help         show help
  -V, --version      print the version

Examples:
  gatehouse serve --config gatehouse.yaml
  gatehouse config check --config gatehouse.yaml
  gatehouse secret generate
  gatehouse --upstream=static://202 --reverse-proxy   # oauth2-proxy style: serve

Documentation: README.md and docs/ in the gatehouse package.`;

const HELP: Record<string, string> = { serve: SERVE_HELP, config: CONFIG_HELP, secret: SECRET_HELP, policy: POLICY_HELP, keys: KEYS_HELP, token: TOKEN_HELP, sessions: SESSIONS_HELP, doctor: DOCTOR_HELP };

/** The usage line of a command: the one of its sub-command (`token revoke`) when its help has one. */
function usageOf(command: string, sub: string | undefined): string {
  const help = HELP[command] ?? MAIN_HELP;
  const lines = help.split('\n');
  const first = lines.find((line) => line.startsWith('Usage:')) ?? 'Usage: gatehouse <command> [options]';
  const own = sub === undefined || command === '' ? undefined : lines.find((line) => /^(Usage:)? +gatehouse /.test(line) && line.replace(/^(Usage:)? +/, '').startsWith(`gatehouse ${command} ${sub} `));
  const usage = own === undefined ? first : `Usage: ${own.replace(/^(Usage:)? +/, '')}`;
  return `${usage}\nRun 'gatehouse ${command === '' ? '' : `${command} `}--help' for more.`;
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
  const [first, ...rest] = argv;
  try {
    switch (first) {
      case undefined:
        io.err(MAIN_HELP);
        return EXIT.usage;
      case '-h':
      case '--help':
        io.out(MAIN_HELP);
        return EXIT.ok;
      case 'help': {
        const topic = rest[0];
        if (topic === undefined || topic === 'help') io.out(MAIN_HELP);
        else if (HELP[topic] !== undefined) io.out(HELP[topic]);
        else throw new UsageError(`no help for unknown command ${quoteArgument(topic)}`, '');
        return EXIT.ok;
      }
      case '-V':
      case '--version':
      case 'version':
        io.out(VERSION);
        return EXIT.ok;
      case 'serve':
        return await runServe(rest, io);
      case 'config':
        return runConfig(rest, io);
      case 'secret':
        return runSecret(rest, io);
      case 'policy':
        return runPolicy(rest, io);
      case 'keys':
        return await runKeys(rest, io);
      case 'token':
        return await runToken(rest, io);
      case 'sessions':
        return await runSessions(rest, io);
      case 'doctor':
        return await runDoctor(rest, io);
      default: {
        const name = /^--?([^=]+)/.exec(first)?.[1];
        // oauth2-proxy is started with flags alone; so is gatehouse, as a drop-in.
        if (name !== undefined && (isConfigFlag(name) || name === 'config' || name === 'c')) return await runServe(argv, io);
        throw first.startsWith('-') ? new UsageError(`unknown flag ${quoteFlag(first.split('=')[0] ?? first)}`, '') : unknownCommand('', first);
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`gatehouse: ${error.message}`);
      io.err(usageOf(error.command, rest[0]));
      return EXIT.usage;
    }
    throw error;
  }
}
