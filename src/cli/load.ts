/** Loading the configuration for a command: the file, the environment and the command's option flags. */
import { ConfigError, formatProblems, loadConfig, type LoadedConfig, type LoadOptions, type Origin } from '../config/index.js';
import type { ParsedArgs } from './args.js';
import { EXIT, type CommandIo } from './io.js';

/**
 * The configuration file a command reads, and what named it for its problems: `--config`, else
 * `GATEHOUSE_CONFIG`, or `named` (the cases file of `policy test`).
 */
export function configFileOf(config: string | undefined, env: NodeJS.ProcessEnv, named?: Origin): Pick<LoadOptions, 'file' | 'fileOrigin'> {
  if (config !== undefined) return { file: config, ...(named === undefined ? {} : { fileOrigin: named }) };
  return { file: env.GATEHOUSE_CONFIG, fileOrigin: { kind: 'env', name: 'GATEHOUSE_CONFIG' } };
}

/**
 * Loads the configuration a command was given (`--config`, else `GATEHOUSE_CONFIG`, plus env and flags).
 * @returns the configuration, or exit code 78 after printing every problem.
 */
export function loadForCommand(args: { readonly config?: string | undefined; readonly configNamedBy?: Origin; readonly configFlags: ParsedArgs['configFlags'] }, io: CommandIo): LoadedConfig | number {
  try {
    return loadConfig({ ...configFileOf(args.config, io.env, args.configNamedBy), env: io.env, flags: args.configFlags });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(formatProblems(error.problems));
      return EXIT.config;
    }
    throw error;
  }
}
