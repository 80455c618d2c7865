/**
 * Path normalization (src/policy/path.ts): every path form of security-cases.md POL-01..POL-11 and POL-21,
 * RFC 3986 §5.2.4 / §5.4 dot-segment vectors, and fast-check properties (idempotence, no dot segments,
 * encoded twins normalize alike, refused escapes never survive).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_PATH_LENGTH, normalizePath, normalizePathFully } from '../../src/policy/path.js';
import { compilePolicySet } from '../../src/policy/routes.js';
import { fixtureConfig, policyRequest } from './support.js';

/** One vector. `expected` is `bad-path`, the exact normalized path, or a list of acceptable outcomes. */
interface PathCase {
  readonly id: string;
  readonly input: string;
  readonly expected: string | readonly string[];
}

const BAD = 'bad-path';

const CATALOGUE: readonly PathCase[] = [
  // POL-01 traversal
  { id: 'POL-01', input: '/public/../admin/secrets', expected: '/admin/secrets' },
  { id: 'POL-01', input: '/public/./../admin', expected: '/admin' },
  // POL-02 encoded traversal: unreserved %2e decodes (once); an encoded / or % is refused.
  { id: 'POL-02', input: '/public/%2e%2e/admin', expected: '/admin' },
  { id: 'POL-02', input: '/public/%2E%2E/admin', expected: '/admin' },
  { id: 'POL-02', input: '/public/..%2fadmin', expected: BAD },
  { id: 'POL-02', input: '/public/%2e%2e%2fadmin', expected: BAD },
  { id: 'POL-02', input: '/public/.%2e/admin', expected: '/admin' },
  { id: 'POL-02', input: '/public/%2e./admin', expected: '/admin' },
  { id: 'POL-02', input: '/public/%252e%252e/admin', expected: BAD },
  // POL-03 dot-slash; `/api%2e/` is the segment `api.`, not a dot segment.
  { id: 'POL-03', input: '/./admin/secret', expected: '/admin/secret' },
  { id: 'POL-03', input: '/admin/./secret', expected: '/admin/secret' },
  // A segment ending in a dot is refused: servers that trim it would read /api./admin as /api/admin.
  { id: 'POL-03', input: '/api%2e/admin/secret', expected: BAD },
  // POL-04 slashes merged
  { id: 'POL-04', input: '//admin/secret', expected: '/admin/secret' },
  { id: 'POL-04', input: '/admin//secret', expected: '/admin/secret' },
  { id: 'POL-04', input: '///admin', expected: '/admin' },
  // POL-05 encoded reserved characters and backslashes: refused
  { id: 'POL-05', input: '/admin%2Fsecret', expected: BAD },
  { id: 'POL-05', input: '/admin%2fsecret', expected: BAD },
  { id: 'POL-05', input: '/public%2F..%2Fadmin', expected: BAD },
  { id: 'POL-05', input: '/admin%5Csecret', expected: BAD },
  { id: 'POL-05', input: '/public\\..\\admin', expected: BAD },
  { id: 'POL-05', input: '/public/..%5cadmin', expected: BAD },
  { id: 'POL-05', input: '/admin%3Bx', expected: BAD },
  { id: 'POL-05', input: '/admin%3bx', expected: BAD },
  // POL-06 case is kept (the matchers fold it); unreserved escapes decode
  { id: 'POL-06', input: '/Admin/secret', expected: '/Admin/secret' },
  { id: 'POL-06', input: '/ADMIN', expected: '/ADMIN' },
  { id: 'POL-06', input: '/%61dmin', expected: '/admin' },
  { id: 'POL-06', input: '/%41dmin', expected: '/Admin' },
  // POL-07 the query is not part of the path
  { id: 'POL-07', input: '/api/private/sensitive?path=/status', expected: '/api/private/sensitive' },
  { id: 'POL-07', input: '/admin?x=/public/', expected: '/admin' },
  { id: 'POL-07', input: '/admin?/public', expected: '/admin' },
  { id: 'POL-07', input: '/admin?/../public', expected: '/admin' },
  // POL-08 the path ends at a raw #; %23 is refused
  { id: 'POL-08', input: '/admin#/public/', expected: '/admin' },
  { id: 'POL-08', input: '/admin%23/public/x', expected: BAD },
  { id: 'POL-08', input: '/public/secret%23/endpoint', expected: BAD },
  { id: 'POL-08', input: '/admin%3F/public', expected: BAD },
  // POL-09 matrix parameters dropped per segment
  { id: 'POL-09', input: '/admin;jsessionid=x', expected: '/admin' },
  // A dot segment with parameters, or a segment of parameters only, has two readings: a servlet
  // container's (`..`, empty) and everyone else's (a name). Neither is safe to pick.
  { id: 'POL-09', input: '/public/..;/admin', expected: BAD },
  { id: 'POL-09', input: '/admin/..;/public/x', expected: BAD },
  { id: 'POL-09', input: '/admin/..;x=1/public/x', expected: BAD },
  { id: 'POL-09', input: '/admin/%2e%2e;/public/x', expected: BAD },
  { id: 'POL-09', input: '/admin/.%2E;/public/x', expected: BAD },
  { id: 'POL-09', input: '/admin/.;x/public', expected: BAD },
  { id: 'POL-09', input: '/admin/;x/../public', expected: BAD },
  { id: 'POL-09', input: '/;jsessionid=1', expected: BAD },
  { id: 'POL-09', input: '/admin/x;..', expected: '/admin/x' },
  { id: 'POL-09', input: '/public..;/admin/', expected: BAD },
  { id: 'POL-09', input: '/admin;/', expected: '/admin/' },
  // POL-10 NUL, controls and spaces
  { id: 'POL-10', input: '/admin%00', expected: BAD },
  { id: 'POL-10', input: '/public%00/../admin', expected: BAD },
  // A trailing (encoded) space: backends that trim (Spring CVE-2016-5007, Windows file names) serve
  // /admin. The catalogue wants BAD or the admin rule, and only BAD is a normalization outcome.
  { id: 'POL-10', input: '/admin%20', expected: BAD },
  { id: 'POL-10', input: '/admin%20/secret', expected: BAD },
  { id: 'POL-10', input: '/admin ', expected: BAD },
  { id: 'POL-10', input: '/admin%09', expected: BAD },
  { id: 'POL-10', input: '/admin/%0d%0a', expected: BAD },
  { id: 'POL-10', input: '/admin/%7F', expected: BAD },
  { id: 'POL-10', input: '/admin/\u0000', expected: BAD },
  // POL-11 Unicode and overlong UTF-8. Raw non-ASCII is refused. Overlong forms are not valid UTF-8;
  // `%c0%af` (overlong /) is safe either refused or kept encoded, but `%c0%ae%c0%ae` (overlong ..)
  // below /public must be refused: kept encoded it stays inside /public/** and becomes public.
  { id: 'POL-11', input: '/%c0%afadmin', expected: [BAD, '/%C0%AFadmin'] },
  { id: 'POL-11', input: '/public/%c0%ae%c0%ae/admin', expected: BAD },
  { id: 'POL-11', input: '/public/%e0%80%ae%e0%80%ae/admin', expected: BAD },
  { id: 'POL-11', input: '/ａｄｍｉｎ', expected: BAD },
  { id: 'POL-11', input: '/adm\u0131n', expected: BAD },
  { id: 'POL-11', input: '/ADM\u0130N', expected: BAD },
  // POL-13 empty or missing X-Forwarded-Uri
  { id: 'POL-13', input: '', expected: BAD },
  { id: 'POL-13', input: 'admin', expected: BAD },
  { id: 'POL-13', input: '*', expected: BAD },
  // POL-21 gateway endpoints as traversal gadgets
  { id: 'POL-21', input: '/oauth2/callback/../../admin', expected: '/admin' },
  { id: 'POL-21', input: '/oauth2/start/..%2fadmin', expected: BAD },
  { id: 'POL-21', input: '/.well-known/../admin', expected: '/admin' },
  // DOS-09: length cap before any matcher runs
  { id: 'DOS-09', input: `/${'a'.repeat(50_000)}!`, expected: BAD },
  { id: 'DOS-09', input: `/${'a'.repeat(MAX_PATH_LENGTH - 1)}`, expected: `/${'a'.repeat(MAX_PATH_LENGTH - 1)}` },
  { id: 'DOS-09', input: `/${'a'.repeat(MAX_PATH_LENGTH)}`, expected: BAD },
  { id: 'DOS-09', input: `/${'a'.repeat(MAX_PATH_LENGTH - 1)}?${'q'.repeat(10_000)}`, expected: `/${'a'.repeat(MAX_PATH_LENGTH - 1)}` },
];

/** RFC 3986 §5.2.4 and the §5.4 examples (base `http://a/b/c/d;p?q`), written as merged paths. */
const RFC3986: readonly PathCase[] = [
  { id: '§5.2.4', input: '/a/b/c/./../../g', expected: '/a/g' },
  { id: '§5.2.4', input: '/mid/content=5/../6', expected: '/mid/6' },
  { id: '§5.4.1', input: '/b/c/g', expected: '/b/c/g' },
  { id: '§5.4.1', input: '/b/c/./g', expected: '/b/c/g' },
  { id: '§5.4.1', input: '/b/c/g/', expected: '/b/c/g/' },
  { id: '§5.4.1', input: '/g', expected: '/g' },
  { id: '§5.4.1', input: '/b/c/g?y', expected: '/b/c/g' },
  { id: '§5.4.1', input: '/b/c/g#s', expected: '/b/c/g' },
  { id: '§5.4.1', input: '/b/c/g?y#s', expected: '/b/c/g' },
  { id: '§5.4.1', input: '/b/c/.', expected: '/b/c/' },
  { id: '§5.4.1', input: '/b/c/./', expected: '/b/c/' },
  { id: '§5.4.1', input: '/b/c/..', expected: '/b/' },
  { id: '§5.4.1', input: '/b/c/../', expected: '/b/' },
  { id: '§5.4.1', input: '/b/c/../g', expected: '/b/g' },
  { id: '§5.4.1', input: '/b/c/../..', expected: '/' },
  { id: '§5.4.1', input: '/b/c/../../', expected: '/' },
  { id: '§5.4.1', input: '/b/c/../../g', expected: '/g' },
  { id: '§5.4.2', input: '/b/c/../../../g', expected: '/g' },
  { id: '§5.4.2', input: '/b/c/../../../../g', expected: '/g' },
  { id: '§5.4.2', input: '/./g', expected: '/g' },
  { id: '§5.4.2', input: '/../g', expected: '/g' },
  { id: '§5.4.2', input: '/b/c/g.', expected: BAD },
  { id: '§5.4.2', input: '/b/c/.g', expected: '/b/c/.g' },
  { id: '§5.4.2', input: '/b/c/g..', expected: BAD },
  { id: '§5.4.2', input: '/b/c/..g', expected: '/b/c/..g' },
  { id: '§5.4.2', input: '/b/c/./../g', expected: '/b/g' },
  { id: '§5.4.2', input: '/b/c/./g/.', expected: '/b/c/g/' },
  { id: '§5.4.2', input: '/b/c/g/./h', expected: '/b/c/g/h' },
  { id: '§5.4.2', input: '/b/c/g/../h', expected: '/b/c/h' },
  // RFC keeps `;x=1` in the segment; gatehouse drops matrix parameters before resolving.
  { id: '§5.4.2', input: '/b/c/g;x=1/./y', expected: '/b/c/g/y' },
  { id: '§5.4.2', input: '/b/c/g;x=1/../y', expected: '/b/c/y' },
  { id: '§5.4.2', input: '/b/c/g?y/./x', expected: '/b/c/g' },
  { id: '§5.4.2', input: '/b/c/g?y/../x', expected: '/b/c/g' },
  { id: '§5.4.2', input: '/b/c/g#s/./x', expected: '/b/c/g' },
  { id: '§5.4.2', input: '/b/c/g#s/../x', expected: '/b/c/g' },
  // Edges
  { id: 'edge', input: '/', expected: '/' },
  { id: 'edge', input: '/.', expected: '/' },
  { id: 'edge', input: '/..', expected: '/' },
  { id: 'edge', input: '/../..', expected: '/' },
  { id: 'edge', input: '/%2e', expected: '/' },
  { id: 'edge', input: '/a/%2E', expected: '/a/' },
  { id: 'edge', input: '/a/%2e%2E', expected: '/' },
  { id: 'edge', input: '/a/.../b', expected: BAD },
  { id: 'edge', input: '/a//', expected: '/a/' },
  { id: 'edge', input: '/a/;x', expected: BAD },
  { id: 'edge', input: '/a/%7Eb/%7eb/%2D%5F', expected: '/a/~b/~b/-_' },
  // `:`, `@` and the sub-delimiters but `;` are read as themselves by applications (Go, Python, Java decode them).
  { id: 'edge', input: '/a/%3a/%40/%21', expected: '/a/:/@/!' },
  { id: 'edge', input: '/v1/secrets%3Alist', expected: '/v1/secrets:list' },
  { id: 'edge', input: '/users/%40admin/keys', expected: '/users/@admin/keys' },
  { id: 'edge', input: "/x/%24%26%27%28%29%2A%2B%2C%3D", expected: "/x/$&'()*+,=" },
  { id: 'edge', input: '/a/%22%3C%3E%60%7B%7D', expected: '/a/%22%3C%3E%60%7B%7D' },
  { id: 'edge', input: '/my%20file.pdf', expected: '/my%20file.pdf' },
  { id: 'edge', input: '/caf%C3%A9', expected: '/caf%C3%A9' },
  { id: 'edge', input: '/a%', expected: BAD },
  { id: 'edge', input: '/a%4', expected: BAD },
  { id: 'edge', input: '/a%zz', expected: BAD },
  { id: 'edge', input: '/a/%25', expected: BAD },
];

function label(input: string): string {
  return input.length > 80 ? `${JSON.stringify(input.slice(0, 40))}…(${input.length} chars)` : JSON.stringify(input);
}

for (const [title, cases] of [
  ['security-cases.md POL path forms', CATALOGUE],
  ['RFC 3986 dot segments', RFC3986],
] as const) {
  describe(`normalizePath: ${title}`, () => {
    for (const { id, input, expected } of cases) {
      const wanted = typeof expected === 'string' ? [expected] : expected;
      test(`${id} ${label(input)} → ${wanted.join(' or ')}`, () => {
        const result = normalizePath(input);
        if (!result.ok) assert.deepEqual(result, { ok: false, reason: 'bad-path' });
        const actual = result.ok ? result.path : result.reason;
        assert.ok(wanted.includes(actual), `got ${JSON.stringify(actual)}`);
      });
    }
  });
}

const SEGMENTS = ['a', 'admin', 'public', '.', '..', '', '%2e', '%2E', '%61', 'a;x=1', 'admin;'] as const;
const segmentPath = fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 12 }).map((segments) => `/${segments.join('/')}`);

/** Unreserved characters, dots more often so dot segments turn up. */
const UNRESERVED = ['a', 'b', '-', '_', '~', '.', 'Z', '0', '9', '.', '.'];
/** One character and how to write it: raw, `%XX`, or `%xx`. */
const unit = fc.record({ char: fc.oneof(fc.constantFrom(...UNRESERVED), fc.constant('/')), encoding: fc.constantFrom('raw', 'upper', 'lower') });
const hex = (char: string) => char.charCodeAt(0).toString(16).padStart(2, '0');

describe('normalizePath properties', () => {
  test('(a) paths of a small segment alphabet: valid, idempotent, no empty or dot segments', () => {
    fc.assert(
      fc.property(segmentPath, (input) => {
        const result = normalizePath(input);
        assert.ok(result.ok, `${input} was refused`);
        const path = result.path;
        assert.deepEqual(normalizePath(path), { ok: true, path }, `not idempotent: ${input} → ${path}`);
        assert.ok(path.startsWith('/'));
        for (const bad of ['//', '/./', '/../']) assert.ok(!path.includes(bad), `${input} → ${path} holds ${bad}`);
        const segments = path.split('/').slice(1);
        for (const segment of segments) assert.ok(segment !== '.' && segment !== '..', `${input} → ${path} holds a dot segment`);
        assert.ok(!/%2e|%61|;/i.test(path), `${input} → ${path} keeps an escape or parameter`);
      }),
      { numRuns: 2000 },
    );
  });

  test('(b) percent-encoding unreserved characters never changes the path, hence never the route', () => {
    const set = compilePolicySet(fixtureConfig());
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 40 }), fc.constantFrom('public', 'admin', 'api', 'x'), (units, first) => {
        const plain = `/${first}/${units.map(({ char }) => char).join('')}`;
        const encoded = `/${first}/${units.map(({ char, encoding }) => (char === '/' || encoding === 'raw' ? char : `%${encoding === 'upper' ? hex(char).toUpperCase() : hex(char)}`)).join('')}`;
        const a = normalizePath(plain);
        const b = normalizePath(encoded);
        assert.deepEqual(b, a, `${plain} and ${encoded}`);
        // Both refused (a segment ending in a dot) is consistent too.
        if (!a.ok || !b.ok) return;
        assert.equal(set.select(policyRequest(b.path), undefined).label, set.select(policyRequest(a.path), undefined).label);
      }),
      { numRuns: 2000 },
    );
  });

  test('(c) any input: bad-path, or a rooted, idempotent path with no refused escape or byte', () => {
    const escape = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([byte, upper]) => `%${upper ? byte.toString(16).padStart(2, '0').toUpperCase() : byte.toString(16).padStart(2, '0')}`);
    const piece = fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 4 }) },
      { weight: 3, arbitrary: fc.constantFrom('/', '.', '..', '%2e', '%2f', '%5c', '%25', '%2525', ';', '?', '#', '\\', 'admin', 'public') },
      { weight: 2, arbitrary: escape },
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), fc.boolean(), (pieces, rooted) => {
        const input = `${rooted ? '/' : ''}${pieces.join('')}`;
        const result = normalizePath(input);
        if (!result.ok) {
          assert.deepEqual(result, { ok: false, reason: 'bad-path' });
          return;
        }
        const path = result.path;
        assert.ok(path.startsWith('/'), `${JSON.stringify(input)} → ${path}`);
        assert.ok(!/%2F|%5C|%25/i.test(path), `${JSON.stringify(input)} → ${path} keeps a refused escape`);
        // eslint-disable-next-line no-control-regex
        assert.ok(!/[\u0000-\u0020\u007f-\uffff\\?#;]/.test(path), `${JSON.stringify(input)} → ${JSON.stringify(path)} keeps a raw byte a backend could read differently`);
        assert.ok(!/%[0-9a-f]?[a-f]/.test(path), `${JSON.stringify(input)} → ${path} keeps a lower-case escape`);
        assert.deepEqual(normalizePath(path), { ok: true, path }, `not idempotent: ${JSON.stringify(input)} → ${path}`);
      }),
      { numRuns: 3000 },
    );
  });

  test('(d) the shortcut for already-normal paths answers exactly what the full normalization answers', () => {
    const piece = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('/', '.', '..', 'a', 'admin', '.well-known', 'x.y', '?', '#', ';', '%2e', '\\', ' ', '~', '"', '\u00e9', '\u007f') },
      { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 3 }) },
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.boolean(), (pieces, rooted) => {
        const input = `${rooted ? '/' : ''}${pieces.join('')}`;
        assert.deepEqual(normalizePath(input), normalizePathFully(input), JSON.stringify(input));
      }),
      { numRuns: 5000 },
    );
    for (const input of ['/', '/?q', '/a/', '/a/?q', '/a.', '/a./b', '/a/..', '//', '/.well-known/x', `/${'a'.repeat(MAX_PATH_LENGTH)}`, `/${'a'.repeat(MAX_PATH_LENGTH - 2)}?q`]) {
      assert.deepEqual(normalizePath(input), normalizePathFully(input), input);
    }
  });
});
