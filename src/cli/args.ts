/** Command-line parsing: command words, `--flag=value` / `--flag value`, bare boolean flags. */
import { isIP } from 'node:net';
import { isBooleanFlag, isConfigFlag, unsupportedOption } from '../config/index.js';

/** A usage error: one line, then usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command: string) {
    super(message);
  }
}

/** The parsed options of a command. */
export interface ParsedArgs {
  /** `--config FILE`. */
  config?: string;
  help: boolean;
  /** Configuration flags in order. */
  configFlags: { name: string; text: string }[];
  /** Command-specific flags (the last value of a repeated one). */
  own: Map<string, string>;
  /** Every value of each command-specific flag, in order (for the repeatable ones). */
  many: Map<string, string[]>;
  positional: string[];
}

/** Parses arguments; `own` names the command's own flags (value-taking unless listed in `ownBooleans`). */
export function parseArgs(
  argv: readonly string[],
  command: string,
  { own = [], ownBooleans = [], acceptConfig = false }: { own?: readonly string[]; ownBooleans?: readonly string[]; acceptConfig?: boolean } = {},
): ParsedArgs {
  const result: ParsedArgs = { help: false, configFlags: [], own: new Map(), many: new Map(), positional: [] };
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] ?? '';
    if (arg === '--help' || arg === '-h') {
      result.help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      result.positional.push(arg);
      continue;
    }
    const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    const name = match?.[1] ?? arg;
    let text = match?.[2];
    const takeValue = (): string => {
      if (text !== undefined) return text;
      const next = argv[index + 1];
      if (next === undefined) throw new UsageError(`flag '--${name}' needs a value`, command);
      index += 1;
      return next;
    };
    if (acceptConfig && (name === 'config' || name === 'c')) {
      result.config = takeValue();
      continue;
    }
    if (ownBooleans.includes(name)) {
      result.own.set(name, text ?? 'true');
      continue;
    }
    if (own.includes(name)) {
      const value = takeValue();
      result.own.set(name, value);
      result.many.set(name, [...(result.many.get(name) ?? []), value]);
      continue;
    }
    if (acceptConfig && isConfigFlag(name)) {
      if (isBooleanFlag(name) && text === undefined) text = 'true';
      result.configFlags.push({ name, text: takeValue() });
      continue;
    }
    // An oauth2-proxy flag gatehouse knows and does not implement says what to do instead.
    const known = acceptConfig ? unsupportedOption(name.replaceAll('-', '_')) : undefined;
    throw new UsageError(`unknown flag ${quoteFlag(arg.split('=')[0] ?? arg)}${known === undefined ? '' : `: it ${known.message}; ${known.fix}`}`, command);
  }
  return result;
}

/**
 * An argument quoted as a message shows it. A stray argument is often a token or a secret pasted in the
 * wrong place, and messages reach terminals and CI logs: a long one, or one shaped like a JWT, is cut to a
 * short prefix.
 */
export function quoteArgument(arg: string): string {
  return arg.length > 24 || /^eyJ[\w-]*\./.test(arg) ? `'${arg.slice(0, 12)}…' (${arg.length} characters)` : `'${arg}'`;
}

/**
 * A flag quoted in a message: whole when it is shaped like one (`--cookie.secrets`), else cut as
 * {@link quoteArgument} cuts, since `--cookie-secret:<secret>` glues a secret to a name.
 */
export function quoteFlag(flag: string): string {
  return /^--?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(flag) ? `'${flag}'` : quoteArgument(flag);
}

/**
 * An option's value quoted in a message: in full, as it is usually a path, a URL or a name, unless it is
 * shaped like a JWT or too long to be one of those, when it is cut as {@link quoteArgument} cuts.
 */
export function quoteValue(value: string): string {
  return value.length > 200 || /^eyJ[\w-]*\./.test(value) ? quoteArgument(value) : `'${value}'`;
}

/** The usage error of a positional argument a command does not take. */
export function unexpectedArgument(arg: string, command: string): UsageError {
  return new UsageError(`unexpected argument ${quoteArgument(arg)}`, command);
}

/** The usage error of an unknown sub-command (`token ${sub}`), or of an unknown command when `command` is empty. */
export function unknownCommand(command: string, sub: string): UsageError {
  const quoted = quoteArgument(sub);
  return new UsageError(`unknown command ${command === '' ? quoted : `'${command} ${quoted.slice(1)}`}`, command);
}

/** The value of an `--ip` option (or of what `name` names): an IPv4 or IPv6 address, or a usage error. */
export function ipArgument(text: string, command: string, name = '--ip'): string {
  if (isIP(text) === 0) throw new UsageError(`${name} must be an IP address, such as 192.168.1.20 or 2001:db8::1, not ${quoteArgument(text)}`, command);
  return text;
}
