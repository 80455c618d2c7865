// A benchmark target, run in its own process: `bare` (node:http answering 202), `busy` (the same plus a
// fixed amount of work), `jose` or `gatehouse`.
import { createServer } from 'node:http';

const [kind, port, configFile] = process.argv.slice(2);
if (kind === 'bare') {
  createServer((request, response) => {
    response.writeHead(202, { 'content-length': 0 });
    response.end();
  }).listen(Number(port), '127.0.0.1', () => process.send?.('ready'));
} else if (kind === 'busy') {
  // The bare server plus a fixed amount of CPU work per request (microseconds, in place of the config file):
  // a yardstick for what a few microseconds of work cost in throughput on this machine.
  const nanoseconds = BigInt(Math.round(Number(configFile) * 1000));
  createServer((request, response) => {
    const end = process.hrtime.bigint() + nanoseconds;
    while (process.hrtime.bigint() < end);
    response.writeHead(202, { 'content-length': 0 });
    response.end();
  }).listen(Number(port), '127.0.0.1', () => process.send?.('ready'));
} else if (kind === 'jose') {
  // jose-server.mjs reads [port, keyFile] from its arguments.
  process.argv.splice(2, 1);
  await import('./jose-server.mjs');
} else {
  const { main } = await import('../dist/cli/main.js');
  process.send?.('ready');
  await main(['serve', '--config', configFile]);
}
