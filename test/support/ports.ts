/**
 * Ports for processes that listen later (redis-server, caddy, nginx, `gatehouse serve`), chosen below the
 * kernel's ephemeral range. A port the kernel hands out for `listen(0)` and closed again goes back into
 * that range, where any outgoing connection of a test running alongside (thousands a second) can take it
 * as its local port before the process binds it; the process then fails with EADDRINUSE. Below the range
 * the kernel hands out nothing on its own, and a port is checked free by binding it first.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const HOST = '127.0.0.1';
const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 0 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

const HIGHEST = ephemeralStart() - 1;
/** Ports this process has handed out: never twice. */
const given = new Set<number>();

/** Whether `port` can be listened on at 127.0.0.1 now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** The kernel's choice of a free port (inside its ephemeral range). */
function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A TCP port on 127.0.0.1 that is free now and that the kernel will not hand to anything else. */
export async function freePort(): Promise<number> {
  // A range too narrow to pick from (an unusual ip_local_port_range): the kernel's choice, as before.
  if (HIGHEST - LOWEST < 1000) return kernelPort();
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1));
    if (given.has(port)) continue;
    if (await portIsFree(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${LOWEST} and ${HIGHEST}`);
}
