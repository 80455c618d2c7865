import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/docs-render.js';

const SRC = join(REPO_ROOT, 'src');
const ERRORS_DOC = join(REPO_ROOT, 'docs/errors.md');
/** A code as a string literal: `'ERR_X'`, `"ERR_X"` or `` `ERR_X` `` (the last also in JSDoc). */
const CODE_LITERAL = /(['"`])(ERR_[A-Z0-9_]+)\1/g;

interface Documented {
  readonly code: string;
  readonly room: string;
  readonly meaning: string;
  readonly fix: string;
}

function sourceFiles(): { path: string; text: string }[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .sort()
    .map((name) => ({ path: `src/${name}`, text: readFileSync(join(SRC, name), 'utf8') }));
}

/** Every code used in src/, with the files that use it. */
function codesInSource(): Map<string, string[]> {
  const codes = new Map<string, string[]>();
  for (const { path, text } of sourceFiles()) {
    for (const match of text.matchAll(CODE_LITERAL)) {
      const code = match[2] ?? '';
      const files = codes.get(code) ?? [];
      if (!files.includes(path)) files.push(path);
      codes.set(code, files);
    }
  }
  return codes;
}

/** The table rows of docs/errors.md, with the `## room` heading each sits under. */
function documentedCodes(): Documented[] {
  const out: Documented[] = [];
  let room = '';
  for (const line of readFileSync(ERRORS_DOC, 'utf8').split('\n')) {
    const heading = /^## (\S+)/.exec(line);
    if (heading !== null) room = heading[1] ?? '';
    const row = /^\| `(ERR_[A-Z0-9_]+)` \| (.*) \| (.*) \|$/.exec(line);
    if (row !== null) out.push({ code: row[1] ?? '', room, meaning: (row[2] ?? '').trim(), fix: (row[3] ?? '').trim() });
  }
  return out;
}

test('the scan finds the codes in src/', () => {
  assert.ok(codesInSource().has('ERR_CONFIG_INVALID'), 'the code of ConfigError (src/config/load.ts) was not found; is the pattern broken?');
});

test('every error code used in src/ is documented in docs/errors.md', () => {
  const documented = new Set(documentedCodes().map((entry) => entry.code));
  const missing = [...codesInSource()].filter(([code]) => !documented.has(code)).map(([code, files]) => `${code} (${files.join(', ')})`);
  assert.deepEqual(missing, [], `add a row to docs/errors.md, under the room's heading, for: ${missing.join('; ')}`);
});

test('every code in docs/errors.md is still used in src/', () => {
  const everything = sourceFiles().map((file) => file.text).join('\n');
  const stale = documentedCodes().filter((entry) => !everything.includes(entry.code)).map((entry) => entry.code);
  assert.deepEqual(stale, [], `remove these rows from docs/errors.md, or restore the codes: ${stale.join(', ')}`);
});

test('docs/errors.md lists each code once, under its room, with a meaning and a fix', () => {
  const entries = documentedCodes();
  const seen = new Set<string>();
  for (const entry of entries) {
    assert.ok(!seen.has(entry.code), `${entry.code} is listed twice`);
    seen.add(entry.code);
    const room = (entry.code.split('_')[1] ?? '').toLowerCase();
    assert.equal(entry.room, room, `${entry.code} belongs under '## ${room}'`);
    assert.notEqual(entry.meaning, '', `${entry.code} has no meaning`);
    assert.notEqual(entry.fix, '', `${entry.code} has no fix`);
  }
});
