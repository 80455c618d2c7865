/**
 * A deliberately small JSON Schema checker for the keywords schema/gatehouse.schema.json uses (no ajv in
 * the dependencies). It refuses schemas with any other assertion keyword, so the generator cannot start
 * emitting something this check would silently ignore.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = Record<string, Json>;

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', 'default', 'examples']);
const ASSERTIONS = new Set(['type', 'enum', 'anyOf', 'pattern', 'minLength', 'minimum', 'maximum', 'properties', 'additionalProperties', 'items']);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function matchesType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

/** Problems of `value` against `schema`, as `path: message` lines; empty when it conforms. */
export function checkJsonSchema(schema: unknown, value: unknown, path = '(root)'): string[] {
  if (!isObject(schema)) throw new TypeError(`schema at ${path} is not an object`);
  for (const key of Object.keys(schema)) {
    if (!ANNOTATIONS.has(key) && !ASSERTIONS.has(key)) throw new TypeError(`schema at ${path} uses '${key}', which this checker does not implement`);
  }
  const problems: string[] = [];
  const { type } = schema;
  if (type !== undefined) {
    const types = (Array.isArray(type) ? type : [type]).map(String);
    if (!types.some((candidate) => matchesType(value, candidate))) problems.push(`${path}: is ${typeOf(value)}, expected ${types.join(' or ')}`);
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((member) => member === value)) {
    problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((branch) => checkJsonSchema(branch, value, path).length === 0)) {
    problems.push(`${path}: matches none of the anyOf branches`);
  }
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${path}: '${value}' does not match ${schema.pattern}`);
    // JSON Schema counts code points, not UTF-16 units.
    if (typeof schema.minLength === 'number' && Array.from(value).length < schema.minLength) problems.push(`${path}: is shorter than ${schema.minLength}`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) problems.push(`${path}: ${value} is below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) problems.push(`${path}: ${value} is above ${schema.maximum}`);
  }
  if (isObject(value)) {
    const properties = isObject(schema.properties) ? schema.properties : {};
    for (const [key, child] of Object.entries(value)) {
      const childPath = path === '(root)' ? key : `${path}.${key}`;
      const childSchema = properties[key];
      if (childSchema !== undefined) problems.push(...checkJsonSchema(childSchema, child, childPath));
      else if (schema.additionalProperties === false) problems.push(`${childPath}: is not allowed`);
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, index) => problems.push(...checkJsonSchema(schema.items, item, `${path}[${index}]`)));
  }
  return problems;
}
