/**
 * What the CLI suites share: a working directory, the built `gatehouse` executable run in a child process
 * with only the environment a test gives it, and cleanup (children killed, directory removed).
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BIN, ensureBuilt } from '../e2e/support/build.js';

/** What a finished (or killed) `gatehouse` run printed. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** True when it was killed after `timeoutMs`. */
  timedOut: boolean;
}

/** A suite's CLI harness. */
export interface CliHarness {
  /** The children's working directory, removed after the suite. */
  readonly dir: string;
  /** Starts `gatehouse <args>` in `dir`, with PATH and `env` only: no GATEHOUSE_ or OAUTH2_PROXY_ variable leaks in. */
  spawn(args: readonly string[], env?: Record<string, string>): ChildProcessByStdio<null, Readable, Readable>;
  /** Runs `gatehouse <args>` to the end, killing it after `timeoutMs`. */
  run(args: readonly string[], env?: Record<string, string>, timeoutMs?: number): Promise<CliResult>;
}

/** Registers the suite's hooks (build before, cleanup after) and returns its harness. */
export function cliHarness(prefix: string): CliHarness {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const children = new Set<ChildProcess>();
  before(async () => {
    await ensureBuilt();
    assert.ok(existsSync(BIN), 'npm run build did not produce dist/cli/bin.js');
  });
  after(() => {
    for (const child of children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // Already gone between the check and the kill.
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const start = (args: readonly string[], env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    return child;
  };
  return {
    dir,
    spawn: start,
    run(args, env = {}, timeoutMs = 20_000) {
      const child = start(args, env);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      return new Promise((resolve) => {
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr, timedOut });
        });
      });
    },
  };
}
