/** The effective configuration as `config check` prints it: every value, its origin, secrets redacted. */
import { FIELDS } from './fields.js';
import { formatDuration } from './duration.js';
import type { LoadedConfig } from './load.js';
import { describeOrigin } from './problems.js';

/** Replaces a secret with a marker that says only whether it is set. */
export function redactSecret(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '(unset)' : `[${value.map(() => '[redacted]').join(', ')}]`;
  return value === '' || value === undefined ? '(unset)' : '[redacted]';
}

function getPath(root: unknown, path: string): unknown {
  let node = root;
  for (const part of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return node;
}

/** A URL's user and password replaced by `***` (a Redis or collector address may carry them). */
function withoutCredentials(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@?#]*@/i, '$1***@');
}

function display(kind: string, value: unknown): string {
  if (kind === 'structured') {
    // Routes and profiles can hold keys and secrets: show their shape, never their content.
    if (Array.isArray(value)) return value.length === 0 ? '[]' : `[${value.length} entries: ${value.map((item) => JSON.stringify((item as { name?: unknown }).name ?? '?')).join(', ')}]`;
    const names = Object.keys(value as Record<string, unknown>);
    return names.length === 0 ? '{}' : `{${names.join(', ')}}`;
  }
  if (kind === 'duration' && typeof value === 'number') return formatDuration(value);
  if (Array.isArray(value)) return `[${value.map((item) => JSON.stringify(typeof item === 'string' ? withoutCredentials(item) : item)).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(withoutCredentials(value));
  return String(value);
}

/** One row per leaf: path, shown value, origin. */
export interface EffectiveRow {
  readonly path: string;
  readonly value: string;
  readonly origin: string;
}

/** The effective configuration as rows, secrets redacted. */
export function effectiveRows(loaded: LoadedConfig): EffectiveRow[] {
  return FIELDS.map((field) => {
    const value = getPath(loaded.config, field.path);
    const origin = loaded.origins.get(field.path) ?? { kind: 'default' as const };
    return {
      path: field.path,
      value: field.secret ? redactSecret(value) : display(field.kind, value),
      origin: describeOrigin(origin),
    };
  });
}

/** The effective configuration as aligned text. */
export function formatEffective(loaded: LoadedConfig): string {
  const rows = effectiveRows(loaded);
  const pathWidth = Math.max(...rows.map((row) => row.path.length));
  const valueWidth = Math.min(48, Math.max(...rows.map((row) => row.value.length)));
  return rows.map((row) => `${row.path.padEnd(pathWidth)}  ${row.value.padEnd(valueWidth)}  ${row.origin}`).join('\n');
}
