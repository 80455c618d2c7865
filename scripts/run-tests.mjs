#!/usr/bin/env node
// Runs the test suites with node's own test runner: unit tests (test/**, except e2e) and end-to-end tests
// (test/e2e/**). `node scripts/run-tests.mjs [unit|e2e]`; no argument runs both.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const which = process.argv[2] ?? 'all';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const all = collect(join(root, 'test')).sort();
const e2e = all.filter((file) => file.startsWith('test/e2e/'));
const unit = all.filter((file) => !file.startsWith('test/e2e/'));
const files = which === 'unit' ? unit : which === 'e2e' ? e2e : [...unit, ...e2e];
if (files.length === 0) {
  console.error(`no test files for '${which}'`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=4',
    '--test-timeout=300000',
    // The usual report, then a list of whatever did not pass, so the end of the log names it.
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    '--test-reporter-destination=stdout',
    '--test-reporter=./scripts/failures-reporter.mjs',
    '--test-reporter-destination=stdout',
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(result.status ?? 1);
