/** Where a command writes; injectable so commands are testable without a child process. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
}

/** The process's own standard streams and environment. */
export const processIo: CommandIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
};

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2, config: 78 } as const;
