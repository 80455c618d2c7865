/**
 * `npm run docs`: writes docs/configuration.md and schema/gatehouse.schema.json from the configuration
 * schema. `npm run docs -- --check` writes nothing, names the files that would change and exits 1 if any
 * would (for CI).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findStaleFiles, REPO_ROOT } from './docs-render.js';

const USAGE = 'usage: node --import tsx scripts/generate-docs.ts [--check]';

function main(argv: readonly string[]): number {
  const unknown = argv.filter((arg) => arg !== '--check');
  if (unknown.length > 0) {
    console.error(`unknown argument '${unknown[0] ?? ''}'\n${USAGE}`);
    return 2;
  }
  const check = argv.includes('--check');
  const stale = findStaleFiles();
  if (check) {
    if (stale.length === 0) {
      console.log('generated files are up to date');
      return 0;
    }
    console.error('generated files are out of date; run `npm run docs`:');
    for (const file of stale) console.error(`  ${file.path}${file.actual === undefined ? ' (missing)' : ''}`);
    return 1;
  }
  for (const file of stale) {
    const path = join(REPO_ROOT, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.expected);
    console.log(`wrote ${file.path}`);
  }
  if (stale.length === 0) console.log('generated files are up to date');
  return 0;
}

process.exitCode = main(process.argv.slice(2));
