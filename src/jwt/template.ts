/**
 * jwt-middleware's request templates (`{{.Host}}`, `{{URLQueryEscape .URL}}`), as a small safe subset of Go
 * templates: a field, or one function applied to a field. Unknown fields are errors (Go's
 * `missingkey=error`). Environment variables are available, except those whose names suggest a secret
 * (a template must never be a way to read one) and gatehouse's own configuration.
 */

/** The per-request fields. */
export interface TemplateRequest {
  readonly Method: string;
  readonly Host: string;
  readonly Path: string;
  readonly Scheme: string;
  readonly URL: string;
}

const FUNCTIONS: Record<string, (value: string) => string> = {
  URLQueryEscape: (value) => encodeURIComponent(value).replace(/%20/g, '+'),
  HTMLEscape: (value) => value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`),
};

const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|KEY|CREDENTIAL|^GATEHOUSE_|^OAUTH2_PROXY_/i;

/** The environment variables templates may read. */
export function templateEnvironment(env: NodeJS.ProcessEnv): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) if (value !== undefined && !SECRET_NAME.test(name)) out.set(name, value);
  return out;
}

/** True when the text holds a template action. */
export function isTemplate(text: string): boolean {
  return text.includes('{{') && text.includes('}}');
}

/** A parsed template. */
export type Template = (request: TemplateRequest) => string;

/**
 * Parses a template.
 * @throws SyntaxError for an action outside the supported subset.
 */
export function parseTemplate(text: string, env: ReadonlyMap<string, string>): Template {
  const parts: ((request: TemplateRequest) => string)[] = [];
  let rest = text;
  while (rest !== '') {
    const open = rest.indexOf('{{');
    if (open === -1) {
      const literal = rest;
      parts.push(() => literal);
      break;
    }
    const close = rest.indexOf('}}', open);
    if (close === -1) throw new SyntaxError(`unclosed {{ in '${text}'`);
    const literal = rest.slice(0, open);
    if (literal !== '') parts.push(() => literal);
    const action = rest.slice(open + 2, close).trim();
    const match = /^(?:([A-Za-z]+)\s+)?\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(action);
    if (match === null) throw new SyntaxError(`unsupported template action '{{${action}}}' (use {{.Field}} or {{URLQueryEscape .Field}})`);
    const [, fn, field = ''] = match;
    const apply = fn === undefined ? (value: string) => value : FUNCTIONS[fn];
    if (apply === undefined) throw new SyntaxError(`unknown template function '${fn ?? ''}'`);
    const requestField = ['Method', 'Host', 'Path', 'Scheme', 'URL'].includes(field) ? (field as keyof TemplateRequest) : undefined;
    const fromEnv = env.get(field);
    parts.push((request) => {
      if (requestField !== undefined) return apply(request[requestField]);
      if (fromEnv !== undefined) return apply(fromEnv);
      throw new RangeError(`template field .${field} is not defined`);
    });
    rest = rest.slice(close + 2);
  }
  return (request) => parts.map((part) => part(request)).join('');
}
