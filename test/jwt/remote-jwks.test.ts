/** The remote key set's bounded wait: a caller never waits longer than `waitMs` for a fetch in flight. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import { createRemoteKeySet } from '../../src/jwt/index.js';

test('get answers pending after waitMs while the JWKS fetch hangs, and the key once the fetch lands', async () => {
  const { publicKey } = await generateKeyPair('ES256');
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const slowFetch: typeof fetch = async () => {
    await gate;
    return new Response(jwks, { headers: { 'content-type': 'application/json' } });
  };
  const set = createRemoteKeySet({ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', timeoutMs: 5000, waitMs: 50, fetch: slowFetch });
  try {
    const started = performance.now();
    assert.equal(await set.get('k1'), 'pending');
    const waited = performance.now() - started;
    assert.ok(waited >= 45 && waited < 1000, `waited ${waited.toFixed(0)} ms`);
    release();
    await set.refresh();
    const key = await set.get('k1');
    assert.ok(key !== 'pending' && key !== undefined && key.kid === 'k1');
  } finally {
    set.close();
  }
});

test('without waitMs, get waits for the fetch', async () => {
  const { publicKey } = await generateKeyPair('ES256');
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
  const slowFetch: typeof fetch = async () => {
    await new Promise((resolve) => setTimeout(resolve, 80));
    return new Response(jwks, { headers: { 'content-type': 'application/json' } });
  };
  const set = createRemoteKeySet({ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', timeoutMs: 5000, fetch: slowFetch });
  try {
    const key = await set.get('k1');
    assert.ok(key !== 'pending' && key !== undefined && key.kid === 'k1');
  } finally {
    set.close();
  }
});
