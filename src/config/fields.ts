/**
 * The leaves of the configuration schema, enumerated once: their key paths, kinds, defaults, and the
 * native environment variable and flag each can be set with.
 */
import { z } from 'zod';
import { ConfigSchema, type LeafKind } from './schema.js';
import { formatDuration } from './duration.js';

/** One configurable value. */
export interface Field {
  /** Dotted key path in the YAML file, e.g. `provider.clientSecret`. */
  readonly path: string;
  readonly kind: LeafKind;
  readonly description: string;
  readonly example: string | undefined;
  /** Enum members, for `enum` leaves. */
  readonly values: readonly string[] | undefined;
  /** The default, as an operator would write it. */
  readonly defaultText: string;
  /** `GATEHOUSE_PROVIDER_CLIENT_SECRET`. */
  readonly env: string;
  /** `--provider.client-secret`. */
  readonly flag: string;
  /** True for secrets: redacted when printed, also readable from a file. */
  readonly secret: boolean;
  readonly schema: z.ZodType;
}

function upperSnake(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function kebab(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

function unwrapObject(schema: z.ZodType): z.ZodObject | undefined {
  let current: z.ZodType = schema;
  for (let depth = 0; depth < 5; depth += 1) {
    if (current instanceof z.ZodObject) return current;
    const def = (current as { _zod: { def: { innerType?: z.ZodType; in?: z.ZodType } } })._zod.def;
    const next = def.innerType ?? def.in;
    if (next === undefined) return undefined;
    current = next;
  }
  return undefined;
}

function formatDefault(kind: LeafKind, value: unknown): string {
  if (kind === 'duration' && typeof value === 'number') return formatDuration(value);
  if (Array.isArray(value)) return value.length === 0 ? '' : value.join(',');
  if (typeof value === 'object' && value !== null) return '';
  if (kind === 'secret' || kind === 'secretList') return '';
  return String(value);
}

function collect(schema: z.ZodObject, prefix: string[], out: Field[]): void {
  const shape: Record<string, z.ZodType> = schema.shape;
  for (const [key, child] of Object.entries(shape)) {
    const path = [...prefix, key];
    const meta = child.meta() as { gatehouseLeaf?: boolean; kind?: LeafKind; description?: string; example?: string } | undefined;
    if (meta?.gatehouseLeaf === true && meta.kind !== undefined) {
      const parsed = child.safeParse(undefined);
      const enumSchema = unwrapEnum(child);
      out.push({
        path: path.join('.'),
        kind: meta.kind,
        description: meta.description ?? '',
        example: meta.example,
        values: enumSchema,
        defaultText: parsed.success ? formatDefault(meta.kind, parsed.data) : '',
        env: `GATEHOUSE_${path.map(upperSnake).join('_')}`,
        flag: `--${path.map(kebab).join('.')}`,
        secret: meta.kind === 'secret' || meta.kind === 'secretList',
        schema: child,
      });
      continue;
    }
    const inner = unwrapObject(child);
    if (inner !== undefined) collect(inner, path, out);
  }
}

function unwrapEnum(schema: z.ZodType): readonly string[] | undefined {
  let current: z.ZodType = schema;
  for (let depth = 0; depth < 5; depth += 1) {
    if (current instanceof z.ZodEnum) return current.options.map(String);
    const def = (current as { _zod: { def: { innerType?: z.ZodType } } })._zod.def;
    if (def.innerType === undefined) return undefined;
    current = def.innerType;
  }
  return undefined;
}

/** Every leaf of the configuration, in schema order. */
export const FIELDS: readonly Field[] = (() => {
  const out: Field[] = [];
  collect(ConfigSchema, [], out);
  return Object.freeze(out);
})();

/** Leaves by dotted path. */
export const FIELD_BY_PATH: ReadonlyMap<string, Field> = new Map(FIELDS.map((field) => [field.path, field]));
