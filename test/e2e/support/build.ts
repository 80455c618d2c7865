/**
 * `dist/` must match `src/` before gatehouse runs as `node dist/cli/bin.js`. Test files run in parallel, so
 * the build is guarded by a lock directory: whoever takes it builds, the others wait and find it fresh.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root. */
export const ROOT = new URL('../../../', import.meta.url).pathname;

/** The gatehouse command line entry point that the tests run. */
export const BIN = join(ROOT, 'dist/cli/bin.js');

const LOCK = join(ROOT, '.e2e-tmp/build.lock');
const STALE_LOCK_MS = 120_000;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function isFresh(): boolean {
  try {
    const built = statSync(BIN).mtimeMs;
    return built >= newestMtime(join(ROOT, 'src')) && built >= statSync(join(ROOT, 'package.json')).mtimeMs;
  } catch {
    return false;
  }
}

function tryLock(): boolean {
  mkdirSync(join(ROOT, '.e2e-tmp'), { recursive: true });
  try {
    mkdirSync(LOCK);
    return true;
  } catch {
    try {
      if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
    } catch {
      // Removed by its owner meanwhile.
    }
    return false;
  }
}

/** Runs `npm run build` when package.json or any file under src/ is newer than dist/cli/bin.js. */
export async function ensureBuilt(): Promise<void> {
  const deadline = Date.now() + STALE_LOCK_MS;
  while (!isFresh()) {
    if (tryLock()) {
      try {
        if (isFresh()) return;
        const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
        if (result.status !== 0) throw new Error(`npm run build failed:\n${result.stdout}${result.stderr}`);
        return;
      } finally {
        rmSync(LOCK, { recursive: true, force: true });
      }
    }
    if (Date.now() > deadline) throw new Error('timed out waiting for another test file to build dist/');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
