/**
 * The proxy recipes in docs/proxies/ are the configurations the tests run. Each recipe is a template with
 * `{{NAME}}` placeholders; the documentation shows it filled with the values a reader would use, and a test
 * checks that the documented block is exactly that, so the docs cannot drift from what was tested.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './build.js';

/** Fills every `{{NAME}}` of `template`; an unknown or unused name is an error. */
export function renderTemplate(template: string, values: Readonly<Record<string, string>>): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for placeholder {{${name}}}`);
    used.add(name);
    return value;
  });
  const unused = Object.keys(values).filter((name) => !used.has(name));
  if (unused.length > 0) throw new Error(`values for placeholders the template does not have: ${unused.join(', ')}`);
  return out;
}

/**
 * The fenced code block right after the marker line `<!-- tested: <id> -->` in `docs/<path>`, without its
 * fences.
 */
export function documentedBlock(path: string, id: string): string {
  const text = readFileSync(join(ROOT, 'docs', path), 'utf8');
  const marker = `<!-- tested: ${id} -->`;
  const at = text.indexOf(marker);
  if (at === -1) throw new Error(`docs/${path} has no '${marker}'`);
  const match = /^\n```[a-z]*\n([\s\S]*?)^```$/m.exec(text.slice(at + marker.length));
  if (match === null || match.index !== 0) throw new Error(`docs/${path}: '${marker}' is not followed by a fenced code block`);
  return match[1] ?? '';
}
