// A bare node:http server that verifies an ES256 bearer token with jose on every request: the yardstick
// for first-seen tokens.
import { createServer } from 'node:http';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtVerify } from 'jose';

const [port, keyFile] = process.argv.slice(2);
const key = createPublicKey(readFileSync(keyFile, 'utf8'));
createServer((request, response) => {
  const token = (request.headers.authorization ?? '').slice(7);
  jwtVerify(token, key, { algorithms: ['ES256'] }).then(
    () => {
      response.writeHead(202, { 'content-length': 0 });
      response.end();
    },
    () => {
      response.writeHead(401, { 'content-length': 0 });
      response.end();
    },
  );
}).listen(Number(port), '127.0.0.1', () => process.send?.('ready'));
