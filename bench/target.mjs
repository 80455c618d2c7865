// A benchmark target, run in its own process: `bare` (node:http answering 202) or `gatehouse`.
import { createServer } from 'node:http';

const [kind, port, configFile] = process.argv.slice(2);
if (kind === 'bare') {
  createServer((request, response) => {
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
