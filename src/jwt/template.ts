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

const HEX = '0123456789ABCDEF';

/** Bytes Go's url.QueryEscape leaves as they are: A-Z, a-z, 0-9, `-`, `_`, `.`, `~`. */
const UNRESERVED = new Uint8Array(256);
for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~') UNRESERVED[char.charCodeAt(0)] = 1;

/**
 * Go's url.QueryEscape: the UTF-8 bytes, every one outside A-Z a-z 0-9 `-_.~` as `%XX` (upper-case), a
 * space as `+`. encodeURIComponent differs: it keeps `!'()*` and throws on a lone surrogate.
 */
function queryEscape(value: string): string {
  try {
    return encodeURIComponent(value).replace(/[!'()*]|%20/g, (text) => (text === '%20' ? '+' : `%${text.charCodeAt(0).toString(16).toUpperCase()}`));
  } catch {
    // A lone surrogate (encodeURIComponent throws): escaped as U+FFFD, as Buffer encodes it.
  }
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (UNRESERVED[byte] === 1) out += String.fromCharCode(byte);
    else if (byte === 0x20) out += '+';
    else out += `%${HEX[byte >> 4] ?? ''}${HEX[byte & 15] ?? ''}`;
  }
  return out;
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', "'": '&#39;', '<': '&lt;', '>': '&gt;', '"': '&#34;' };

/** Go's html.EscapeString (the plugin's `HTMLEscape`): `& ' < > "` as `&amp; &#39; &lt; &gt; &#34;`. */
function htmlEscape(value: string): string {
  return value.replace(/[&'<>"]/g, (char) => HTML_ENTITIES[char] ?? char);
}

const FUNCTIONS: Record<string, (value: string) => string> = {
  URLQueryEscape: queryEscape,
  HTMLEscape: htmlEscape,
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
