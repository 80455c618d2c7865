/**
 * Real Redis for the tests: `redis-server` processes on free loopback ports, with no persistence and a
 * temporary directory each, as a standalone server, a Sentinel set-up (a master, a replica and three
 * sentinels) or a six-node Cluster. Every process is stopped by its PID (the callers' `after()` hooks call
 * `stop()`; a process-exit hook kills whatever is left, so a crashed test file leaves nothing behind).
 * A missing `redis-server` is an error, never a skip.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/index.js';
import type { Session } from '../../src/session/index.js';
import { freePort, portIsFree } from './ports.js';

export { freePort };

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli';
const HOST = '127.0.0.1';

/** Every redis-server process this module started and has not seen exit. */
const running = new Set<ChildProcess>();

process.once('exit', () => {
  // Last resort (an after() hook that never ran): nothing outlives the test process.
  for (const child of running) {
    if (child.pid === undefined) continue;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port that is free along with its cluster bus port (port + 10 000). */
async function freeClusterPort(taken: ReadonlySet<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port)) continue;
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

/** Sends one inline command and resolves with the first reply line, or undefined (no answer in time). */
function inline(port: number, command: string, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let data = '';
    const finish = (value: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('error', () => finish(undefined));
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n');
      if (end !== -1) finish(data.slice(0, end));
    });
  });
}

/** Runs `redis-cli -h 127.0.0.1 -p <port> <args…>` and resolves with its output, trimmed. */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, ['-h', HOST, '-p', String(port), ...args], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message} ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/** One redis-server process (standalone, replica, sentinel or cluster node). */
export interface RedisProcess {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly dir: string;
  /** The PID of the current process; undefined while it is not running. */
  readonly pid: number | undefined;
  /** kill -9, and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same options (no persistence: the data is lost). */
  restart(): Promise<void>;
  /** SIGSTOP: the server holds its connections and answers nothing (a slow or hung Redis). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stops it (SIGCONT, SIGTERM, then SIGKILL after 3 s). Idempotent. */
  stop(): Promise<void>;
  /** `redis-cli` against this server. */
  cli(...args: string[]): Promise<string>;
  /** Its log so far. */
  log(): string;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, name);
  } catch {
    // Exited between the check and the signal.
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  signal(child, 'SIGCONT');
  signal(child, 'SIGTERM');
  if (!(await waitForExit(child, 3000))) {
    signal(child, 'SIGKILL');
    await waitForExit(child, 3000);
  }
  running.delete(child);
}

/**
 * Starts a redis-server with `args` (after the config file, if any) and waits until it answers PING.
 * `ready` may wait for more (a sentinel's view of its master, a replica's link).
 */
async function launch(port: number, dir: string, args: readonly string[], logName: string): Promise<ChildProcess> {
  const logPath = join(dir, logName);
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(REDIS_SERVER, [...args], { stdio: ['ignore', fd, fd], cwd: dir });
  } finally {
    closeSync(fd);
  }
  // `on`, not `once`: a later error event (a failed signal) must not go unhandled.
  const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
  running.add(child);
  child.once('exit', () => running.delete(child));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const failed = await Promise.race([spawnError, sleep(0).then(() => undefined)]);
    if (failed !== undefined) {
      running.delete(child);
      throw new Error(`could not start ${REDIS_SERVER} (is Redis installed?): ${failed.message}`);
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      running.delete(child);
      throw new Error(`${REDIS_SERVER} on port ${port} exited at start (${child.exitCode ?? child.signalCode ?? ''}): ${tail(logPath)}`);
    }
    const answer = await inline(port, 'PING');
    if (answer === '+PONG') return child;
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`${REDIS_SERVER} on port ${port} did not answer PING within 10 s: ${tail(logPath)}`);
    }
    await sleep(20);
  }
}

function tail(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
}

/** The options every server gets: loopback, no persistence, its own directory. */
function baseArgs(port: number, dir: string): string[] {
  // No diskless-sync delay: a replica (Sentinel, Cluster) syncs at once instead of after 5 s.
  return ['--port', String(port), '--bind', HOST, '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir, '--repl-diskless-sync-delay', '0'];
}

function redisProcess(port: number, dir: string, args: readonly string[], logName: string, first: ChildProcess): RedisProcess {
  let child: ChildProcess | undefined = first;
  let stopped = false;
  return {
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get pid() {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    async kill() {
      if (child === undefined) return;
      signal(child, 'SIGKILL');
      await waitForExit(child, 5000);
      running.delete(child);
      child = undefined;
    },
    async restart() {
      if (child !== undefined) await this.kill();
      if (stopped) throw new Error('restart after stop');
      // The port was just released; redis-server binds with SO_REUSEADDR, so it is usable at once.
      child = await launch(port, dir, args, logName);
    },
    pause() {
      if (child !== undefined) signal(child, 'SIGSTOP');
    },
    resume() {
      if (child !== undefined) signal(child, 'SIGCONT');
    },
    async stop() {
      stopped = true;
      if (child !== undefined) await stopChild(child);
      child = undefined;
    },
    cli: (...cliArgs: string[]) => redisCli(port, ...cliArgs),
    log: () => tail(join(dir, logName)),
  };
}

/** Starts one server on a free port (retrying with another port if the chosen one was taken meanwhile). */
async function startOne(dir: string, extra: readonly string[], name: string, port?: number): Promise<RedisProcess> {
  for (let attempt = 0; ; attempt += 1) {
    const chosen = port ?? (await freePort());
    const args = [...baseArgs(chosen, dir), ...extra];
    try {
      const child = await launch(chosen, dir, args, `${name}-${chosen}.log`);
      return redisProcess(chosen, dir, args, `${name}-${chosen}.log`, child);
    } catch (error) {
      const busy = error instanceof Error && /Address already in use/i.test(error.message);
      if (!busy || port !== undefined || attempt >= 3) throw error;
    }
  }
}

/** A standalone server with its own temporary directory (removed by `stop`). */
export interface StandaloneRedis extends RedisProcess {
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** Starts a standalone redis-server on a free loopback port. */
export async function startRedis(options: { extraArgs?: readonly string[] } = {}): Promise<StandaloneRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  let server: RedisProcess;
  try {
    server = await startOne(dir, options.extraArgs ?? [], 'redis');
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const stopServer = server.stop.bind(server);
  return Object.assign(server, {
    async stop() {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** Polls `probe` until it returns true (a throw counts as false); throws naming `what` after `ms`. Resolves with the time it took. */
export async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, ms = 10_000, every = 50): Promise<number> {
  const started = Date.now();
  for (;;) {
    let ok: boolean;
    try {
      ok = await probe();
    } catch {
      ok = false;
    }
    if (ok) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** A Sentinel set-up: one master, one replica, three sentinels monitoring `mymaster` (quorum 2). */
export interface SentinelRedis {
  readonly masterName: string;
  readonly master: RedisProcess;
  readonly replica: RedisProcess;
  readonly sentinels: readonly RedisProcess[];
  /** `redis://127.0.0.1:<port>` of each sentinel. */
  readonly sentinelUrls: readonly string[];
  /** The master's port as the sentinels see it now. */
  masterPort(): Promise<number>;
  /** Stops every process (sentinels first) and removes the directory. */
  stop(): Promise<void>;
}

/** Starts the Sentinel set-up and waits until the sentinels know the replica and each other. */
export async function startSentinel(options: { masterName?: string; downAfterMs?: number } = {}): Promise<SentinelRedis> {
  const masterName = options.masterName ?? 'mymaster';
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sentinel-'));
  const started: RedisProcess[] = [];
  const stopAll = async () => {
    for (const server of [...started].reverse()) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const master = await startOne(dir, [], 'master');
    started.push(master);
    const replica = await startOne(dir, ['--replicaof', HOST, String(master.port)], 'replica');
    started.push(replica);
    await waitUntil('the replica to sync with the master', async () => (await replica.cli('INFO', 'replication')).includes('master_link_status:up'));
    const sentinels: RedisProcess[] = [];
    for (let index = 0; index < 3; index += 1) {
      const port = await freePort();
      const file = join(dir, `sentinel-${index}.conf`);
      // Sentinel rewrites its configuration file, so each one gets its own, in the temporary directory.
      writeFileSync(
        file,
        [
          `port ${port}`,
          `bind ${HOST}`,
          'protected-mode no',
          `dir ${dir}`,
          'sentinel resolve-hostnames no',
          `sentinel monitor ${masterName} ${HOST} ${master.port} 2`,
          `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      // A sentinel takes its port from the file; `--sentinel` after the file switches the mode on.
      const child = await launch(port, dir, [file, '--sentinel'], `sentinel-${index}.log`);
      const sentinel = redisProcess(port, dir, [file, '--sentinel'], `sentinel-${index}.log`, child);
      sentinels.push(sentinel);
      started.push(sentinel);
    }
    for (const sentinel of sentinels) {
      await waitUntil(`sentinel ${sentinel.port} to see the replica and the other sentinels`, async () => {
        const quorum = await sentinel.cli('SENTINEL', 'CKQUORUM', masterName);
        const replicas = await sentinel.cli('SENTINEL', 'REPLICAS', masterName);
        return quorum.startsWith('OK 3') && replicas.includes(String(replica.port));
      }, 15_000, 100);
    }
    return {
      masterName,
      master,
      replica,
      sentinels,
      sentinelUrls: sentinels.map((sentinel) => sentinel.url),
      async masterPort() {
        const answer = await sentinels[0]!.cli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName);
        return Number(answer.split('\n')[1]);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** A Redis Cluster of three masters with one replica each. */
export interface ClusterRedis {
  readonly nodes: readonly RedisProcess[];
  /** `redis://127.0.0.1:<port>` of every node. */
  readonly urls: readonly string[];
  /** How long `redis-cli --cluster create` and the convergence took, ms. */
  readonly createdInMs: number;
  stop(): Promise<void>;
}

/** Starts six `--cluster-enabled yes` nodes, creates the cluster, and waits until every node reports ok. */
export async function startCluster(): Promise<ClusterRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  const nodes: RedisProcess[] = [];
  const stopAll = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports = new Set<number>();
    for (let index = 0; index < 6; index += 1) {
      const port = await freeClusterPort(ports);
      ports.add(port);
      nodes.push(await startOne(dir, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'], 'node', port));
    }
    const started = Date.now();
    await redisCli(nodes[0]!.port, '--cluster', 'create', ...nodes.map((node) => `${HOST}:${node.port}`), '--cluster-replicas', '1', '--cluster-yes');
    for (const node of nodes) {
      await waitUntil(`cluster node ${node.port} to report cluster_state:ok`, async () => {
        const info = await node.cli('CLUSTER', 'INFO');
        return info.includes('cluster_state:ok') && info.includes('cluster_known_nodes:6');
      }, 20_000, 50);
    }
    return { nodes, urls: nodes.map((node) => node.url), createdInMs: Date.now() - started, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The `session.redis` configuration gatehouse would load, with `overrides` applied to the schema's defaults. */
export function redisConfig(overrides: Partial<Config['session']['redis']>): Config['session']['redis'] {
  return { ...loadConfig({ env: {} }).config.session.redis, ...overrides };
}

/** A signed-in session for `email`, valid for an hour, with a random refresh token: what the stores keep. */
export function sessionFor(email: string): Session {
  const now = Math.floor(Date.now() / 1000);
  return {
    identity: { sub: `sub-${email}`, email, emailVerified: true, groups: [], username: email.split('@')[0]!, issuer: 'https://idp.homelab.example.com', authMethod: 'session' },
    createdAt: now,
    refreshedAt: now,
    expiresAt: now + 3600,
    refreshToken: `refresh-${randomBytes(16).toString('base64url')}`,
  };
}
