/**
 * Every relative link in README.md and docs/ points at a file that exists, and every `#fragment` into a
 * Markdown file names one of its headings (GitHub's anchor rules). Links inside code are not links.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');


function markdownFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name));
  return ['README.md', ...docs].sort();
}

/** The text with fenced code blocks and code spans blanked, keeping line numbers. */
function withoutCode(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ' '))
    .replace(/(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g, (span) => span.replace(/[^\n]/g, ' '));
}

interface Link {
  readonly target: string;
  readonly line: number;
}

function linksOf(markdown: string): Link[] {
  const prose = withoutCode(markdown);
  const lineOf = (index: number) => prose.slice(0, index).split('\n').length;
  const links: Link[] = [];
  for (const match of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: match[1] ?? '', line: lineOf(match.index) });
  for (const match of prose.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) links.push({ target: match[1] ?? '', line: lineOf(match.index) });
  return links;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to `-`, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const heading = (match[1] ?? '')
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .toLowerCase();
    const base = heading.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const match of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1] ?? '');
  return anchors;
}

test('the scan finds links', () => {
  const readme = linksOf(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  assert.ok(readme.some((link) => link.target === 'docs/configuration.md'), 'README.md links docs/configuration.md; is the pattern broken?');
  assert.ok(anchorsOf('# A `b` c\n## Deliberate differences from oauth2-proxy\n').has('deliberate-differences-from-oauth2-proxy'));
});

for (const file of markdownFiles()) {
  test(`relative links in ${file} resolve`, () => {
    const markdown = readFileSync(join(ROOT, file), 'utf8');
    const broken: string[] = [];
    for (const { target, line } of linksOf(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const hash = target.indexOf('#');
      const pathPart = decodeURI(hash === -1 ? target : target.slice(0, hash));
      const fragment = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const absolute = pathPart === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), pathPart);
      const shown = relative(ROOT, absolute).split('\\').join('/');
      if (!existsSync(absolute)) {
        broken.push(`line ${line}: ${target} (${shown} does not exist)`);
        continue;
      }
      if (fragment === undefined || fragment === '' || !absolute.endsWith('.md') || statSync(absolute).isDirectory()) continue;
      if (!anchorsOf(readFileSync(absolute, 'utf8')).has(fragment)) broken.push(`line ${line}: ${target} (no heading #${fragment} in ${shown})`);
    }
    assert.deepEqual(broken, [], `broken links in ${file}`);
  });
}
