/**
 * Turning operator text (environment variables, flags) into typed values for one schema leaf, parsed as
 * oauth2-proxy parses them: comma lists, Go booleans, integers; durations stay text for the schema.
 */
import type { LeafKind } from './schema.js';
import type { Origin, Problem } from './problems.js';

/** A value for one leaf, from one source. */
export interface Assignment {
  readonly path: string;
  readonly value: unknown;
  readonly origin: Origin;
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's `strconv.ParseBool`. */
export function parseGoBool(text: string): boolean | undefined {
  if (GO_TRUE.has(text)) return true;
  if (GO_FALSE.has(text)) return false;
  return undefined;
}

/** Splits a comma list the way viper does for env values; empty items are dropped. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export type Converted = { ok: true; value: unknown } | { ok: false; problem: Omit<Problem, 'path' | 'source'> };

/** Converts operator text into the typed value a leaf of this kind expects. */
export function convertText(kind: LeafKind, text: string): Converted {
  switch (kind) {
    case 'boolean': {
      const value = parseGoBool(text.trim());
      if (value === undefined) {
        return {
          ok: false,
          problem: { code: 'ERR_CONFIG_NOT_BOOLEAN', message: `'${text}' is not a boolean`, fix: 'write true or false' },
        };
      }
      return { ok: true, value };
    }
    case 'integer': {
      if (!/^-?\d+$/.test(text.trim())) {
        return {
          ok: false,
          problem: { code: 'ERR_CONFIG_NOT_INTEGER', message: `'${text}' is not a whole number`, fix: 'write a whole number such as 202' },
        };
      }
      return { ok: true, value: Number(text.trim()) };
    }
    case 'list':
    case 'secretList':
      return { ok: true, value: splitList(text) };
    case 'structured':
      return {
        ok: false,
        problem: { code: 'ERR_CONFIG_FILE_ONLY', message: 'can only be set in the YAML file', fix: 'write it in the file given with --config' },
      };
    case 'string':
    case 'secret':
    case 'enum':
    case 'duration':
      return { ok: true, value: text };
  }
}
