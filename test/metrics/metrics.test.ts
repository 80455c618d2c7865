/** Prometheus metrics, scraped from a running gatehouse. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, NO_METRICS, type Metrics } from '../../src/metrics/index.js';
import { send } from '../support/http-client.js';
import { startObservedApp, type ObservedApp } from '../support/observed-app.js';
import { freePort } from '../support/ports.js';
import { stopChild } from '../support/waits.js';

let observed: ObservedApp;
let metrics: Metrics;
let appPort: number;

before(async () => {
  observed = await startObservedApp([{ name: 'metrics.listen', text: `127.0.0.1:${await freePort()}` }]);
  metrics = observed.metrics;
  appPort = observed.port;
});

after(() => observed.close());

test('checks are counted by outcome, reason and route, and timed', async () => {
  for (let index = 0; index < 3; index++) await send({ port: appPort, path: '/x', method: 'GET', headers: { host: 'app.example.com', accept: 'application/json' } });
  await send({ port: appPort, path: '/y', method: 'GET', headers: { host: 'app.example.com', accept: 'text/html' } });
  await send({ port: appPort, path: '/oauth2/nonsense-endpoint-name', method: 'GET', headers: { host: 'app.example.com' } });
  const text = await metrics.registry!.metrics();
  assert.match(text, /^gatehouse_checks_total\{outcome="deny",reason="user-unauthenticated",route="default:authenticated"\} 3$/m);
  assert.match(text, /^gatehouse_checks_total\{outcome="redirect",reason="user-unauthenticated",route="default:authenticated"\} 1$/m);
  assert.match(text, /^gatehouse_check_duration_seconds_count\{outcome="deny"\} 4$/m);
  // Unknown endpoints do not become label values.
  assert.doesNotMatch(text, /nonsense-endpoint-name/);
  assert.match(text, /route="none"/);
});

test('provider requests, reloads and process metrics are there', async () => {
  // Discovery at an unreachable issuer fails in the background: it is recorded as a failure.
  for (let waited = 0; waited < 3000 && !(await metrics.registry!.metrics()).includes('operation="discovery",result="failure"'); waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  metrics.configReload(false);
  const text = await metrics.registry!.metrics();
  assert.match(text, /gatehouse_idp_request_duration_seconds_count\{operation="discovery",result="failure"\} [1-9]/);
  assert.match(text, /^gatehouse_config_reloads_total\{result="failure"\} 1$/m);
  assert.match(text, /^gatehouse_config_last_reload_success_timestamp_seconds \d+/m);
  assert.match(text, /^process_cpu_user_seconds_total /m);
});

test('the shared bearer deny-list reports its size and age by profile once read, and nothing before', async () => {
  const own = createMetrics();
  const states: ({ entries: ReadonlyMap<string, number>; ageSeconds: number } | undefined)[] = [undefined, { entries: new Map([['homekit', 3], ['metrics', 0]]), ageSeconds: 2 }];
  own.denyListState(() => states[0]);
  assert.doesNotMatch(await own.registry!.metrics(), /^gatehouse_bearer_denylist_(entries|age_seconds)\{/m);
  states.shift();
  const text = await own.registry!.metrics();
  assert.match(text, /^gatehouse_bearer_denylist_entries\{profile="homekit"\} 3$/m);
  assert.match(text, /^gatehouse_bearer_denylist_entries\{profile="metrics"\} 0$/m);
  assert.match(text, /^gatehouse_bearer_denylist_age_seconds\{profile="homekit"\} 2$/m);
});

test('without a metrics listener nothing is recorded', () => {
  assert.equal(NO_METRICS.registry, undefined);
  assert.doesNotThrow(() => NO_METRICS.check('allow', 'session-valid', 'route:x', 0.001));
});

test('gatehouse serve answers GET /metrics on its own listener, and nothing else there', async () => {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const bin = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));
  const [port, metricsPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [bin, 'serve', `--listen=127.0.0.1:${port}`, `--metrics.listen=127.0.0.1:${metricsPort}`], { env: { PATH: process.env.PATH ?? '', GATEHOUSE_LOGGING_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Read as it comes, for the messages below (and so that a full pipe never stalls the child).
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    let up = false;
    for (let waited = 0; waited < 10_000 && !up; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Up once the app is built (the listener answers 503 while it starts) and the metrics listener answers.
      up = await Promise.all([send({ port: metricsPort, path: '/metrics', method: 'GET', headers: { host: 'x' } }), send({ port, path: '/ping', method: 'GET', headers: { host: 'x' } })]).then(
        ([scrape, ping]) => scrape.status === 200 && ping.status === 200,
        () => false,
      );
    }
    assert.ok(up, `the metrics listener did not answer (exit ${String(child.exitCode ?? child.signalCode)}): ${output}`);
    await send({ port, path: '/', method: 'GET', headers: { host: 'localhost', accept: 'application/json' } });
    const scraped = await send({ port: metricsPort, path: '/metrics', method: 'GET', headers: { host: 'x' } });
    assert.match(String(scraped.headers['content-type']), /^text\/plain/);
    assert.match(scraped.body, /^gatehouse_checks_total\{outcome="deny",reason="user-unauthenticated",route="default:authenticated"\} 1$/m);
    assert.equal((await send({ port: metricsPort, path: '/', method: 'GET', headers: { host: 'x' } })).status, 404);
    assert.equal((await send({ port: metricsPort, path: '/metrics', method: 'POST', headers: { host: 'x' } })).status, 404);
  } finally {
    // Also when it exited already (it failed to start), and with SIGKILL when it ignores SIGTERM.
    await stopChild(child);
  }
});
