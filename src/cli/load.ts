/** Loading the configuration for a command: the file, the environment and the command's option flags. */
import { ConfigError, formatProblems, loadConfig, type LoadedConfig } from '../config/index.js';
import type { ParsedArgs } from './args.js';
import { EXIT, type CommandIo } from './io.js';

/**
 * Loads the configuration a command was given (`--config`, else `GATEHOUSE_CONFIG`, plus env and flags).
 * @returns the configuration, or exit code 78 after printing every problem.
 */
export function loadForCommand(args: { readonly config?: string | undefined; readonly configFlags: ParsedArgs['configFlags'] }, io: CommandIo): LoadedConfig | number {
  try {
    return loadConfig({ file: args.config ?? io.env.GATEHOUSE_CONFIG, env: io.env, flags: args.configFlags });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(formatProblems(error.problems));
      return EXIT.config;
    }
    throw error;
  }
}
