/**
 * Child processes of the end-to-end tests (gatehouse, Caddy, nginx): started with their output captured,
 * and stopped by PID, SIGTERM first and SIGKILL only when a process ignores it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { freePort } from '../../support/ports.js';

/** A started child process. */
export interface Spawned {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves once `pattern` appears in its output; rejects if it exits first or `timeoutMs` passes. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** SIGTERM by PID, then SIGKILL after `graceMs`; resolves once it has exited. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `command` with its output captured (and echoed when `GATEHOUSE_E2E_VERBOSE` is set). */
export function spawnLogged(name: string, command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Spawned {
  const child = spawn(command, [...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: '${command}' did not start`);
  const pid = child.pid;
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (process.env.GATEHOUSE_E2E_VERBOSE !== undefined) process.stderr.write(`[${name}] ${chunk.toString('utf8')}`);
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('exit', () => {
    for (const listener of listeners) listener();
  });
  let stopping: Promise<void> | undefined;
  // Last resort when the test process exits without its after() hooks (a crash, a second Ctrl-C).
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGTERM');
  };
  process.once('exit', onExit);
  child.once('exit', () => process.off('exit', onExit));

  return {
    name,
    pid,
    child,
    output: () => text,
    waitForOutput(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match !== null) {
            done();
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${name} exited (${String(child.exitCode ?? child.signalCode)}) before printing ${String(pattern)}:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name} did not print ${String(pattern)} within ${timeoutMs} ms:\n${text}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        process.kill(pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
        }, graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** Resolves once something accepts TCP connections on `127.0.0.1:port`. */
export async function waitForPort(port: number, timeoutMs = 15_000, process?: Spawned): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (process !== undefined && (process.child.exitCode !== null || process.child.signalCode !== null)) {
      throw new Error(`${process.name} exited before listening on ${port}:\n${process.output()}`);
    }
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms${process === undefined ? '' : `:\n${process.output()}`}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A fresh private temporary directory and its removal. */
export function makeTempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `gatehouse-e2e-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
