/** Log redaction: no token, cookie or secret reaches a log line, however a call site nests it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { createLoggers, REDACTED_FIELDS, type Loggers } from '../../src/log/logger.js';

/** A destination that keeps every line written to it. */
function capture(): { stream: DestinationStream; lines: string[] } {
  const lines: string[] = [];
  const writable = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter((line) => line !== ''));
      callback();
    },
  });
  return { stream: writable, lines };
}

function jsonLoggers(stream: DestinationStream, enabled: { auth?: boolean; requests?: boolean; standard?: boolean } = {}): Loggers {
  return createLoggers({ format: 'json', level: 'trace', auth: enabled.auth ?? true, requests: enabled.requests ?? true, standard: enabled.standard ?? true, destination: stream });
}

/** Distinct, greppable values for every sensitive field name. */
const SENSITIVE: Record<string, string> = {
  authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.AUTHZ-VALUE',
  cookie: '_gatehouse=COOKIE-VALUE',
  'set-cookie': '_gatehouse=SET-COOKIE-VALUE; HttpOnly',
  token: 'TOKEN-VALUE',
  id_token: 'ID-TOKEN-VALUE',
  refresh_token: 'REFRESH-TOKEN-VALUE',
  clientSecret: 'CLIENT-SECRET-VALUE',
  password: 'PASSWORD-VALUE',
};

function withSuffix(suffix: string): Record<string, string> {
  return Object.fromEntries(Object.entries(SENSITIVE).map(([key, value]) => [key, `${value}-${suffix}`]));
}

test('sensitive fields are redacted at the top level and nested one and two levels deep', () => {
  const { stream, lines } = capture();
  const loggers = jsonLoggers(stream);
  loggers.standard.info({ ...withSuffix('top'), keep: 'visible-0' }, 'top level');
  loggers.auth.info({ headers: { ...withSuffix('depth1'), keep: 'visible-1' } }, 'depth one');
  loggers.request.warn({ request: { headers: { ...withSuffix('depth2'), keep: 'visible-2' } } }, 'depth two');
  assert.equal(lines.length, 3);
  const output = lines.join('\n');
  for (const suffix of ['top', 'depth1', 'depth2']) {
    for (const value of Object.values(withSuffix(suffix))) assert.ok(!output.includes(value), `'${value}' reached the log`);
  }
  for (const value of Object.values(SENSITIVE)) assert.ok(!output.includes(value), `'${value}' reached the log`);
  assert.ok(!output.includes('VALUE'), output);

  const [top, depth1, depth2] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const key of Object.keys(SENSITIVE)) {
    assert.equal(top![key], '[redacted]', `top-level ${key}`);
    assert.equal((depth1!.headers as Record<string, unknown>)[key], '[redacted]', `depth-1 ${key}`);
    assert.equal(((depth2!.request as Record<string, unknown>).headers as Record<string, unknown>)[key], '[redacted]', `depth-2 ${key}`);
  }
  assert.equal(top!.keep, 'visible-0');
  assert.equal((depth1!.headers as Record<string, unknown>).keep, 'visible-1');
  assert.equal(top!.msg, 'top level');
  assert.equal(top!.log, 'standard');
  assert.equal(depth1!.log, 'auth');
  assert.equal(depth2!.log, 'request');
});

test('every name on the redaction list is censored', () => {
  const { stream, lines } = capture();
  const loggers = jsonLoggers(stream);
  const fields = Object.fromEntries(REDACTED_FIELDS.map((name, index) => [name, `listed-secret-${index}`]));
  loggers.standard.info({ nested: fields }, 'all names');
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes('listed-secret-'), lines[0]);
  for (const name of ['access_token', 'code', 'code_verifier', 'state', 'nonce', 'client_secret', 'idToken']) {
    assert.ok((REDACTED_FIELDS as readonly string[]).includes(name), name);
  }
});

test('a switched-off stream writes nothing', () => {
  const { stream, lines } = capture();
  const loggers = jsonLoggers(stream, { auth: false });
  loggers.auth.info({ user: 'someone@example.com' }, 'login');
  loggers.auth.error('login failed');
  assert.deepEqual(lines, []);
  loggers.standard.info('still on');
  assert.equal(lines.length, 1);
  assert.equal((JSON.parse(lines[0]!) as { msg: string }).msg, 'still on');
});

test('the request and standard streams switch off independently', () => {
  const { stream, lines } = capture();
  const loggers = jsonLoggers(stream, { requests: false, standard: false });
  loggers.request.info('request');
  loggers.standard.warn('warning');
  assert.deepEqual(lines, []);
  loggers.auth.info('auth');
  assert.equal(lines.length, 1);
});
