#!/usr/bin/env node
// `npm run bench`: gatehouse's forward-auth check against a bare node:http server answering 202, measured
// in the same run on the same machine. Each target runs alone on one core (taskset), the load generator
// (autocannon, 32 connections) on the other. Figures are ratios to the bare server.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { createCookieStore } from '../dist/session/index.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 32;
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (core, command, args) => (hasTaskset ? ['taskset', ['-c', String(core), command, ...args]] : [command, args]);

if (hasTaskset && process.env.BENCH_PINNED !== '1') {
  const [command, args] = pinned(1, process.execPath, process.argv.slice(1));
  const child = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, BENCH_PINNED: '1' } });
  process.exit(child.status ?? 1);
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const secret = 'YmVuY2htYXJrLWNvb2tpZS1zZWNyZXQtMzItYnl0ZXM';
const config = join(dir, 'gatehouse.yaml');
writeFileSync(
  config,
  `listen: 127.0.0.1:14180
provider: { issuer: "http://127.0.0.1:9/", clientId: bench, clientSecret: bench-secret }
cookie: { secrets: ["${secret}"], domains: [.homelab.example.com] }
proxy: { reverseProxy: true, trusted: [127.0.0.1/32] }
identityHeaders: { xAuthRequest: true }
authorization: { emailDomains: [example.com] }
logging: { format: json, level: warn }
`,
);

async function start(kind, port) {
  const [command, args] = pinned(0, process.execPath, [new URL('./target.mjs', import.meta.url).pathname, kind, String(port), config]);
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  await once(child, 'message');
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/ping`);
      await response.arrayBuffer();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return child;
}

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;

function parseMs(text) {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

async function load(url, headers) {
  if (hasWrk) {
    // wrk (C) when installed: it costs less per request than a Node load generator, so it saturates a target sooner.
    const args = ['-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]), url];
    const out = spawnSync('wrk', args, { encoding: 'utf8' }).stdout;
    return {
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 'NaN'),
      p50: parseMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
      p99: parseMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    };
  }
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers, pipelining: 1 });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

const store = createCookieStore({ name: '_gatehouse', secrets: [secret] });
const now = Math.floor(Date.now() / 1000);
const [setCookie] = await store.save(
  {
    identity: { sub: 'u-1', email: 'alice@example.com', emailVerified: true, groups: ['admins', 'family'], username: 'alice', issuer: 'http://127.0.0.1:9/', authMethod: 'session' },
    createdAt: now,
    refreshedAt: now,
    expiresAt: now + 86_400,
  },
  new Map(),
  { domain: '.homelab.example.com', path: '/', maxAge: 86_400, secure: true, httpOnly: true, sameSite: 'lax' },
);
const cookie = setCookie.split(';')[0];
const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'grafana.homelab.example.com', 'x-forwarded-uri': '/d/home?orgId=1', 'x-forwarded-method': 'GET', 'x-forwarded-for': '192.168.1.20' };

const rows = [];
const bare = await start('bare', 14181);
rows.push(['bare node:http (202)', await load('http://127.0.0.1:14181/', forwarded)]);
bare.kill('SIGTERM');
const gatehouse = await start('gatehouse', 14180);
rows.push(['gatehouse: valid session cookie (202)', await load('http://127.0.0.1:14180/', { ...forwarded, cookie })]);
rows.push(['gatehouse: no session, browser (302)', await load('http://127.0.0.1:14180/', { ...forwarded, accept: 'text/html', 'sec-fetch-mode': 'navigate' })]);
rows.push(['gatehouse: /ping', await load('http://127.0.0.1:14180/ping', {})]);
gatehouse.kill('SIGTERM');

const base = rows[0][1].rps;
console.log(`\n${hasWrk ? 'wrk' : 'autocannon'}, ${CONNECTIONS} connections, ${DURATION}s each, target on one core${hasTaskset ? ' (taskset)' : ' (not pinned: taskset missing)'}, node ${process.version}\n`);
console.log('scenario'.padEnd(40), 'req/s'.padStart(9), 'ratio'.padStart(7), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8));
for (const [name, result] of rows) {
  console.log(name.padEnd(40), result.rps.toFixed(0).padStart(9), `${(result.rps / base).toFixed(2)}x`.padStart(7), result.p50.toFixed(2).padStart(8), result.p99.toFixed(2).padStart(8));
}
