/** Request ids (src/http/app.ts): the proxy's own when well-formed, else fresh and unique. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { requestIdOf } from '../../src/http/app.js';

const withHeader = (value: string | string[] | undefined) => ({ headers: value === undefined ? {} : { 'x-request-id': value } }) as unknown as IncomingMessage;

describe('requestIdOf', () => {
  test("keeps the proxy's well-formed X-Request-Id", () => {
    assert.equal(requestIdOf(withHeader('7f3c2a9e-1b2d-4c5e-8f90-123456789abc')), '7f3c2a9e-1b2d-4c5e-8f90-123456789abc');
    assert.equal(requestIdOf(withHeader('envoy:abc.DEF_1')), 'envoy:abc.DEF_1');
  });

  test('replaces a missing, repeated, overlong or unsafe one with a fresh id', () => {
    for (const given of [undefined, ['a', 'b'], 'x'.repeat(65), 'a b', 'a\nb', '<script>', '']) {
      const id = requestIdOf(withHeader(given));
      assert.notEqual(id, given);
      assert.match(id, /^[A-Za-z0-9._:-]{1,64}$/);
    }
  });

  test('fresh ids never repeat within a process', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => requestIdOf(withHeader(undefined))));
    assert.equal(ids.size, 10_000);
  });
});
