/** Command-line parsing: command words, `--flag=value` / `--flag value`, bare boolean flags. */
import { isBooleanFlag, isConfigFlag } from '../config/index.js';

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
  /** Command-specific flags. */
  own: Map<string, string>;
  positional: string[];
}

/** Parses arguments; `own` names the command's own flags (value-taking unless listed in `ownBooleans`). */
export function parseArgs(
  argv: readonly string[],
  command: string,
  { own = [], ownBooleans = [], acceptConfig = false }: { own?: readonly string[]; ownBooleans?: readonly string[]; acceptConfig?: boolean } = {},
): ParsedArgs {
  const result: ParsedArgs = { help: false, configFlags: [], own: new Map(), positional: [] };
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
      result.own.set(name, takeValue());
      continue;
    }
    if (acceptConfig && isConfigFlag(name)) {
      if (isBooleanFlag(name) && text === undefined) text = 'true';
      result.configFlags.push({ name, text: takeValue() });
      continue;
    }
    throw new UsageError(`unknown flag '${arg.split('=')[0] ?? arg}'`, command);
  }
  return result;
}
