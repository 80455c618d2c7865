/** Shared fixtures for the configuration tests: a valid provider set-up, temp files, problem capture. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ConfigError, loadConfig, type LoadOptions, type Problem } from '../../src/config/index.js';

/** 32 bytes, base64url: a cookie secret that validates. */
export const COOKIE_SECRET = 'Aj8lBvYV4xw2m6n0ZPpTQ9Jg3rKcXe7WfH1sLdNuUqE';

/** A second valid cookie secret (24 raw bytes). */
export const COOKIE_SECRET_RAW_24 = 'abcdefghijklmnopqrstuvwx';

/** Native variables that make a real (non-development) provider configuration valid. */
export const PROVIDER_ENV: Readonly<Record<string, string>> = Object.freeze({
  GATEHOUSE_PROVIDER_ISSUER: 'https://idp.example.com/',
  GATEHOUSE_PROVIDER_CLIENT_ID: 'client-id',
  GATEHOUSE_PROVIDER_CLIENT_SECRET: 'client-secret-value',
  GATEHOUSE_COOKIE_SECRETS: COOKIE_SECRET,
  GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS: 'example.com',
});

/** Loads and expects a ConfigError; returns its problems. */
export function problemsOf(options: LoadOptions): readonly Problem[] {
  try {
    loadConfig(options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'ERR_CONFIG_INVALID');
    return error.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

/** Asserts that exactly one problem has this code, and returns it. */
export function onlyProblem(options: LoadOptions, code: string, path: string): Problem {
  const problems = problemsOf(options);
  assert.deepEqual(
    problems.map((problem) => [problem.code, problem.path]),
    [[code, path]],
    JSON.stringify(problems, null, 2),
  );
  return problems[0]!;
}

/** A temp directory removed after the calling test file. */
export function tempDir(prefix = 'gatehouse-test-'): { dir: string; write(name: string, text: string): string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}
