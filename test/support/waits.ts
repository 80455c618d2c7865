/**
 * Waits with an end, for tests that wait on another process or on a peer: a child's exit (also when it has
 * exited already), a stop that escalates to SIGKILL, and any promise given a deadline. Each timer here is
 * held (not unref'd), so a wait that cannot finish fails with its message instead of leaving the test
 * pending in an event loop that has nothing left to do.
 */
import type { ChildProcess } from 'node:child_process';

/** How a child process ended. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Resolves once `child` has exited: at once when it has already. A child that could not be started emits
 * 'close' (after 'error') but no 'exit', so either ends the wait.
 */
export function exitOf(child: ChildProcess): Promise<ChildExit> {
  if (hasExited(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const done = () => {
      child.off('exit', done);
      child.off('close', done);
      resolve({ code: child.exitCode, signal: child.signalCode });
    };
    child.once('exit', done);
    child.once('close', done);
  });
}

/** `promise`, or a rejection naming `what` once `ms` have passed without it settling. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Stops `child` if it still runs: SIGTERM, then SIGKILL once `graceMs` have passed. Resolves with how it
 * ended (a signal of SIGKILL says it ignored SIGTERM).
 */
export async function stopChild(child: ChildProcess, graceMs = 8000): Promise<ChildExit> {
  const exited = exitOf(child);
  if (hasExited(child)) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (!hasExited(child)) child.kill('SIGKILL');
  }, graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}
