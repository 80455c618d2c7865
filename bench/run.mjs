#!/usr/bin/env node
// `npm run bench`: gatehouse's forward-auth check against a bare node:http server answering 202, measured
// in the same run on the same machine. The servers run on one core (taskset), one under load at a time;
// the load generator (wrk, else autocannon; 32 connections) on the other. Figures are ratios to the bare
// server measured just before each scenario.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { createCookieStore, createRedisClient, createRedisStore, sessionBinding } from '../dist/session/index.js';
import { loadConfig } from '../dist/config/index.js';
import { compilePolicySet } from '../dist/policy/routes.js';
import { evaluatePolicy } from '../dist/policy/requirements.js';
import { normalizePath } from '../dist/policy/path.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = 32;
// BENCH_ONLY: a regular expression (case-insensitive); only the scenarios whose names match are measured.
const only = process.env.BENCH_ONLY === undefined ? undefined : new RegExp(process.env.BENCH_ONLY, 'i');
const wanted = (name) => only === undefined || only.test(name);
const FIRST_SEEN = 'gatehouse: first-seen ES256 tokens (202)';
const JOSE = 'bare node:http + jose ES256 verify';
const REDIS = 'gatehouse: valid Redis session (202)';
const BUSY = 'yardstick: bare + 2 µs of work (202)';
// Every server runs with the node flags `npm start` gives gatehouse (`node <flags> dist/cli/bin.js serve`), so
// gatehouse is measured as it is started and the yardsticks get the same runtime. BENCH_NODE_FLAGS replaces
// them ("" for none).
const startCommand = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).scripts.start.split(' ');
const NODE_FLAGS = process.env.BENCH_NODE_FLAGS === undefined ? startCommand.slice(1, startCommand.indexOf('dist/cli/bin.js')) : process.env.BENCH_NODE_FLAGS.split(' ').filter((flag) => flag !== '');
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (core, command, args) => (hasTaskset ? ['taskset', ['-c', String(core), command, ...args]] : [command, args]);

if (hasTaskset && process.env.BENCH_PINNED !== '1') {
  const [command, args] = pinned(1, process.execPath, process.argv.slice(1));
  const child = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, BENCH_PINNED: '1' } });
  process.exit(child.status ?? 1);
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const secret = 'YmVuY2htYXJrLWNvb2tpZS1zZWNyZXQtMzItYnl0ZXM';
const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const publicPem = await exportSPKI(publicKey);
writeFileSync(join(dir, 'device.pub.pem'), publicPem);
const configText = (listen, store) => `listen: 127.0.0.1:${listen}
provider: { issuer: "http://127.0.0.1:9/", clientId: bench, clientSecret: bench-secret }
cookie: { secrets: ["${secret}"], domains: [.homelab.example.com] }
session: ${store}
proxy: { reverseProxy: true, trusted: [127.0.0.1/32] }
identityHeaders: { xAuthRequest: true }
authorization: { emailDomains: [example.com] }
logging: { format: json, level: warn }
bearer:
  profiles:
    devices:
      issuers: [https://jwts.example.com]
      skipPrefetch: true
      secrets:
        vicmet: |
${publicPem.trim().split('\n').map((line) => `          ${line}`).join('\n')}
      require: { aud: vminsert.homelab.example.com }
      headerMap: { X-Device: sub }
routes:
  - name: metrics-ingest
    hosts: [vminsert.homelab.example.com]
    auth: [bearer:devices]
  - name: grafana-health
    hosts: [grafana.homelab.example.com]
    paths: [/api/health]
    auth: public
  - name: traefik-admin
    hosts: [traefik.homelab.example.com]
    require: { groups: [admins] }
  - name: dashboards
    hosts: ["*.homelab.example.com"]
    require: { emailDomains: [example.com] }
`;
const config = join(dir, 'gatehouse.yaml');
writeFileSync(config, configText(14180, '{ store: cookie }'));
const redisConfig = join(dir, 'gatehouse-redis.yaml');
writeFileSync(redisConfig, configText(14182, '{ store: redis, redis: { url: "redis://127.0.0.1:16399/0" } }'));

async function start(kind, port, file = config) {
  const [command, args] = pinned(0, process.execPath, [...NODE_FLAGS, new URL('./target.mjs', import.meta.url).pathname, kind, String(port), file]);
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

async function load(url, headers, luaScript) {
  if (hasWrk) {
    // wrk (C) when installed: it costs less per request than a Node load generator, so it saturates a target sooner.
    const args = ['-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', ...(luaScript === undefined ? [] : ['-s', luaScript]), ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]), url];
    const out = spawnSync('wrk', args, { encoding: 'utf8' }).stdout;
    return {
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 'NaN'),
      // Answers outside 2xx and 3xx: expected for the garbage token (401), a fault anywhere else.
      other: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? '0'),
      p50: parseMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
      p99: parseMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    };
  }
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers, pipelining: 1 });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, other: result['4xx'] + result['5xx'] };
}

const store = createCookieStore({ name: '_gatehouse', secrets: [secret], binding: sessionBinding('http://127.0.0.1:9/', 'bench') });
const now = Math.floor(Date.now() / 1000);
const sessionValue = {
  identity: { sub: 'u-1', email: 'alice@example.com', emailVerified: true, groups: ['admins', 'family'], username: 'alice', issuer: 'http://127.0.0.1:9/', authMethod: 'session' },
  createdAt: now,
  refreshedAt: now,
  expiresAt: now + 86_400,
};
const [setCookie] = await store.save(
  sessionValue,
  new Map(),
  { domain: '.homelab.example.com', path: '/', maxAge: 86_400, secure: true, httpOnly: true, sameSite: 'lax' },
);
const cookie = setCookie.split(';')[0];
const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'grafana.homelab.example.com', 'x-forwarded-uri': '/d/home?orgId=1', 'x-forwarded-method': 'GET', 'x-forwarded-for': '192.168.1.20' };

const mint = (aud = 'vminsert.homelab.example.com') =>
  new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'vicmet' }).setIssuer('https://jwts.example.com').setSubject('homekit').setAudience(aud).setIssuedAt().setExpirationTime('1h').setJti(randomUUID()).sign(privateKey);
const device = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'vminsert.homelab.example.com', 'x-forwarded-uri': '/api/v1/import', 'x-forwarded-method': 'POST', 'x-forwarded-for': '192.168.1.30' };
const token = await mint();
// First-seen tokens: a different token on every request, cycled by a wrk script.
const fresh = [];
const firstSeen = hasWrk && (wanted(FIRST_SEEN) || wanted(JOSE));
for (let index = 0; firstSeen && index < 40_000; index += 1) fresh.push(await mint());
writeFileSync(join(dir, 'tokens.txt'), `${fresh.join('\n')}\n`);
const lua = join(dir, 'fresh.lua');
writeFileSync(lua, `local tokens = {}
for line in io.lines("${join(dir, 'tokens.txt')}") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  -- A headers table given to wrk.format replaces wrk.headers, so carry those over.
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["authorization"] = "Bearer " .. tokens[i]
  return wrk.format(nil, nil, headers)
end
`);

// Each scenario is measured in rounds, each right after the bare server, and its ratio is the median of
// the rounds' ratios: the machine's speed drifts over a run of minutes, and a ratio of two measurements
// taken seconds apart is what drift disturbs least. The bare server stays up (idle in between).
const rows = [];
const bare = await start('bare', 14181);
const bareLoad = () => load('http://127.0.0.1:14181/', forwarded);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
async function measure(name, run) {
  if (!wanted(name)) return;
  const rounds = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const baseline = await bareLoad();
    rounds.push({ baseline, result: await run() });
  }
  rows.push({
    name,
    rps: median(rounds.map((one) => one.result.rps)),
    bare: median(rounds.map((one) => one.baseline.rps)),
    ratio: median(rounds.map((one) => one.result.rps / one.baseline.rps)),
    p50: median(rounds.map((one) => one.result.p50)),
    p99: median(rounds.map((one) => one.result.p99)),
    bareP99: median(rounds.map((one) => one.baseline.p99)),
    other: rounds.reduce((sum, one) => sum + one.result.other, 0),
  });
}
const gatehouse = await start('gatehouse', 14180);
await measure('gatehouse: valid session cookie (202)', () => load('http://127.0.0.1:14180/', { ...forwarded, cookie }));
await measure('gatehouse: no session, browser (302)', () => load('http://127.0.0.1:14180/', { ...forwarded, accept: 'text/html', 'sec-fetch-mode': 'navigate' }));
await measure('gatehouse: /ping', () => load('http://127.0.0.1:14180/ping', {}));
await measure('gatehouse: device token, cached (202)', () => load('http://127.0.0.1:14180/', { ...device, authorization: `Bearer ${token}` }));
await measure('gatehouse: garbage token (401)', () => load('http://127.0.0.1:14180/', { ...device, authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.garbage.garbage' }));
if (hasWrk) await measure(FIRST_SEEN, () => load('http://127.0.0.1:14180/', device, lua));
gatehouse.kill('SIGTERM');
// A yardstick: the bare server spending a fixed 2 µs of CPU per request. What it loses shows what every
// microseconds of a check's own work costs in throughput here (more than the microseconds themselves when
// the load generator shares the machine).
if (wanted(BUSY)) {
  const busy = await start('busy', 14184, '2');
  await measure(BUSY, () => load('http://127.0.0.1:14184/', forwarded));
  busy.kill('SIGTERM');
}
if (hasWrk && wanted(JOSE)) {
  const joseServer = await start('jose', 14183, join(dir, 'device.pub.pem'));
  await measure(JOSE, () => load('http://127.0.0.1:14183/', {}, lua));
  joseServer.kill('SIGTERM');
}

// The Redis store, when redis-server is installed.
if (wanted(REDIS) && spawnSync('redis-server', ['--version']).error === undefined) {
  const redis = spawn('redis-server', ['--port', '16399', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const redisLoaded = loadConfig({ file: redisConfig, env: {} });
  const client = createRedisClient(redisLoaded.config.session.redis, () => undefined);
  for (let waited = 0; client.status !== 'ready' && waited < 3000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  const redisStore = createRedisStore({ client, cookieName: '_gatehouse', keyPrefix: 'gatehouse:', binding: sessionBinding('http://127.0.0.1:9/', 'bench'), now: Date.now });
  const [ticket] = await redisStore.save(sessionValue, new Map(), { domain: undefined, path: '/', maxAge: 86_400, secure: true, httpOnly: true, sameSite: 'lax' });
  await redisStore.close();
  const redisGatehouse = await start('gatehouse', 14182, redisConfig);
  await measure(REDIS, () => load('http://127.0.0.1:14182/', { ...forwarded, cookie: ticket.split(';')[0] }));
  redisGatehouse.kill('SIGTERM');
  redis.kill('SIGTERM');
}
bare.kill('SIGTERM');

console.log(`\n${hasWrk ? 'wrk' : 'autocannon'}, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION}s, servers on one core${hasTaskset ? ' (taskset)' : ' (not pinned: taskset missing)'}, node ${process.version}${NODE_FLAGS.length === 0 ? '' : ` ${NODE_FLAGS.join(' ')}`}`);
console.log('ratio: median over the rounds of the ratio to the bare node:http server (202) measured just before; other columns: medians\n');
console.log('scenario'.padEnd(42), 'req/s'.padStart(9), 'bare'.padStart(9), 'ratio'.padStart(7), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'bare p99'.padStart(9), 'not 2xx/3xx'.padStart(12));
for (const row of rows) {
  console.log(row.name.padEnd(42), row.rps.toFixed(0).padStart(9), row.bare.toFixed(0).padStart(9), `${row.ratio.toFixed(2)}x`.padStart(7), row.p50.toFixed(2).padStart(8), row.p99.toFixed(2).padStart(8), row.bareP99.toFixed(2).padStart(9), String(row.other).padStart(12));
}

// Policy evaluation alone (no I/O), on the configuration above: a typical rule set.
const policySet = compilePolicySet(loadConfig({ file: config, env: {} }).config);
const identity = sessionValue.identity;
const requests = ['/d/home?orgId=1', '/api/health', '/dashboard/', '/api/v1/import'].map((uri, index) => ({
  method: 'GET',
  scheme: 'https',
  host: ['grafana', 'grafana', 'traefik', 'vminsert'][index] + '.homelab.example.com',
  path: normalizePath(uri).path,
  search: '',
  ip: '192.168.1.20',
  headers: {},
}));
let sink = 0;
const rounds = 200_000;
const started = process.hrtime.bigint();
for (let index = 0; index < rounds; index += 1) {
  const request = requests[index % requests.length];
  const selection = policySet.select(request, undefined);
  if (selection.policy !== undefined && evaluatePolicy(selection.policy, identity, {}, request).allow) sink += 1;
}
const perEval = Number(process.hrtime.bigint() - started) / rounds;
console.log(`\npolicy: normalize-free select + evaluate, ${rounds} rounds over ${requests.length} requests: ${(perEval / 1000).toFixed(2)} µs each (${sink} allowed)`);
rmSync(dir, { recursive: true, force: true });
