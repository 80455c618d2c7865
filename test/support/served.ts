/**
 * A running `gatehouse serve` child process, its JSON log collected line by line as it arrives, for the
 * suites that drive the real binary with signals and files (the CLI, operations).
 */
import type { ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';

/** A JSON log record of `gatehouse serve`. */
export interface LogRecord {
  readonly level: string;
  readonly msg: string;
  readonly log?: string;
  readonly address?: string;
  readonly problems?: string;
  readonly path?: string;
  readonly [field: string]: unknown;
}

export class Served {
  readonly records: LogRecord[] = [];
  stderr = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { predicate: (record: LogRecord) => boolean; resolve: (record: LogRecord) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        let record: LogRecord;
        try {
          record = JSON.parse(line) as LogRecord;
        } catch {
          continue;
        }
        this.records.push(record);
        this.waiters = this.waiters.filter((waiter) => {
          if (!waiter.predicate(record)) return true;
          waiter.resolve(record);
          return false;
        });
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The first record from index `from` on (logged already or still to come) that matches. */
  waitFor(predicate: (record: LogRecord) => boolean, what: string, from = 0, timeoutMs = 10_000): Promise<LogRecord> {
    const seen = this.records.slice(from).find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.resolve !== done);
        reject(new Error(`no log line '${what}' within ${timeoutMs} ms; got ${JSON.stringify(this.records.slice(from).map((record) => record.msg))}; stderr: ${this.stderr}`));
      }, timeoutMs);
      const done = (record: LogRecord) => {
        clearTimeout(timer);
        resolve(record);
      };
      this.waiters.push({ predicate, resolve: done });
    });
  }

  /** The main listener's "listening on" line. */
  listening(): Promise<LogRecord> {
    return this.waitFor((entry) => /listening on http:\/\/127\.0\.0\.1:\d+$/.test(entry.msg), 'listening on');
  }

  /** The bound port of the main listener. */
  async port(): Promise<number> {
    return Number(/:(\d+)$/.exec((await this.listening()).msg)?.[1]);
  }

  /** The bound port of the metrics listener. */
  async metricsPort(): Promise<number> {
    const record = await this.waitFor((entry) => entry.msg === 'metrics listening', 'metrics listening');
    return Number(/:(\d+)$/.exec(record.address ?? '')?.[1]);
  }

  signal(signal: NodeJS.Signals): void {
    assert.ok(this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null, 'gatehouse is not running');
    process.kill(this.child.pid, signal);
  }

  /** Resolves with the exit, or rejects after the timeout. */
  exit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return Promise.race([
      this.exited,
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs).unref()),
    ]);
  }

  /** Stops the process by its PID (SIGTERM, then SIGKILL) and waits for it. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    try {
      await this.exit(8000);
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
      await this.exited;
    }
  }
}
