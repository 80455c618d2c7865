/**
 * The route matchers (src/policy/matchers/*.ts) and the address parsing under source rules and CEL
 * (src/policy/ip.ts): hosts, paths (with the DOS-09 linear-time promise), methods (POL-14), sources.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { compileHosts } from '../../src/policy/matchers/host.js';
import { compileMethods } from '../../src/policy/matchers/method.js';
import { compilePaths } from '../../src/policy/matchers/path.js';
import { compileSources } from '../../src/policy/matchers/source.js';
import { parseCidrRange, parseIp } from '../../src/policy/ip.js';
import { MAX_PATH_LENGTH } from '../../src/policy/path.js';

describe('compileHosts', () => {
  const CASES: readonly { patterns: string[]; host: string; match: boolean }[] = [
    { patterns: ['app.example.com'], host: 'app.example.com', match: true },
    { patterns: ['app.example.com'], host: 'other.example.com', match: false },
    { patterns: ['app.example.com'], host: 'x.app.example.com', match: false },
    { patterns: ['app.example.com'], host: 'app.example.com.evil.com', match: false },
    { patterns: ['app.example.com'], host: 'evilapp.example.com', match: false },
    { patterns: ['*.example.com'], host: 'app.example.com', match: true },
    { patterns: ['*.example.com'], host: 'a.b.c.example.com', match: true },
    { patterns: ['*.example.com'], host: 'example.com', match: false },
    { patterns: ['*.example.com'], host: 'evilexample.com', match: false },
    { patterns: ['*.example.com'], host: 'example.com.evil.com', match: false },
    { patterns: ['*.example.com'], host: '.example.com', match: false },
    // Patterns are folded to lower case and lose a trailing dot; hosts arrive lower-case, dot-less.
    { patterns: ['App.Example.COM'], host: 'app.example.com', match: true },
    { patterns: ['app.example.com.'], host: 'app.example.com', match: true },
    { patterns: ['*.Example.com.'], host: 'x.example.com', match: true },
    { patterns: [' app.example.com '], host: 'app.example.com', match: true },
    { patterns: ['a.example.com', '*.b.example.com'], host: 'x.b.example.com', match: true },
    { patterns: ['a.example.com', '*.b.example.com'], host: 'b.example.com', match: false },
    { patterns: ['localhost'], host: 'localhost', match: true },
    { patterns: ['10.0.0.1'], host: '10.0.0.1', match: true },
    { patterns: [], host: 'app.example.com', match: false },
  ];
  for (const { patterns, host, match } of CASES) {
    test(`${JSON.stringify(patterns)} ${match ? 'matches' : 'does not match'} ${host}`, () => {
      assert.equal(compileHosts(patterns)(host), match);
    });
  }

  for (const pattern of ['*', '*.', '**.example.com', 'a.*.example.com', '*example.com', '.example.com', 'app.example.com:443', 'https://app.example.com', 'app.example.com/x', 'app_1.example.com', '-app.example.com', 'app-.example.com', 'app..example.com', 'ａpp.example.com', '']) {
    test(`the pattern ${JSON.stringify(pattern)} throws`, () => {
      assert.throws(() => compileHosts([pattern]), TypeError);
    });
  }
});

describe('compilePaths', () => {
  const CASES: readonly { patterns: string[]; path: string; match: boolean; caseSensitive?: boolean; eitherSlash?: boolean }[] = [
    { patterns: ['/api/health'], path: '/api/health', match: true },
    { patterns: ['/api/health'], path: '/api/health/', match: false },
    { patterns: ['/api/health'], path: '/api/health/', match: true, eitherSlash: true },
    { patterns: ['/api/health/'], path: '/api/health', match: true, eitherSlash: true },
    { patterns: ['/api/health/'], path: '/api/health', match: false },
    { patterns: ['/'], path: '/x', match: false, eitherSlash: true },
    { patterns: ['/api/*/status'], path: '/api/v1/status/', match: true, eitherSlash: true },
    { patterns: ['/api/*/status'], path: '/api/v1/status/', match: false },
    // After `**` too: a protected `/api/**/delete` must not let `/api/x/delete/` fall to a broader route.
    { patterns: ['/api/**/delete'], path: '/api/items/delete/', match: true, eitherSlash: true },
    { patterns: ['/api/**/delete'], path: '/api/items/delete/', match: false },
    { patterns: ['/static/**/*.css'], path: '/static/a/site.css/', match: true, eitherSlash: true },
    { patterns: ['/x/**/'], path: '/x/y', match: true, eitherSlash: true },
    // A protected `/admin/*` covers at least what the public one does: `/admin/` (an empty last segment),
    // and so its other spelling `/admin`; never a deeper path.
    { patterns: ['/admin/*'], path: '/admin/', match: true },
    { patterns: ['/admin/*'], path: '/admin/', match: true, eitherSlash: true },
    { patterns: ['/admin/*'], path: '/admin', match: true, eitherSlash: true },
    { patterns: ['/admin/*'], path: '/admin', match: false },
    { patterns: ['/admin/*'], path: '/admin/x/', match: true, eitherSlash: true },
    { patterns: ['/admin/*'], path: '/admin/x/y', match: false, eitherSlash: true },
    { patterns: ['/admin/*'], path: '/administrator', match: false, eitherSlash: true },
    { patterns: ['/*'], path: '/', match: true, eitherSlash: true },
    { patterns: ['/api/health'], path: '/api/healthz', match: false },
    { patterns: ['/api/*/status'], path: '/api/v1/status', match: true },
    { patterns: ['/api/*/status'], path: '/api//status', match: true },
    { patterns: ['/api/*/status'], path: '/api/private/sensitive', match: false },
    { patterns: ['/api/*/status'], path: '/api/a/b/status', match: false },
    { patterns: ['/api/*/status'], path: '/api/v1/status/x', match: false },
    { patterns: ['/files/*.pdf'], path: '/files/report.pdf', match: true },
    { patterns: ['/files/*.pdf'], path: '/files/reportxpdf', match: false },
    { patterns: ['/files/*.pdf'], path: '/files/a/report.pdf', match: false },
    { patterns: ['/admin/**'], path: '/admin', match: true },
    { patterns: ['/admin/**'], path: '/admin/', match: true },
    { patterns: ['/admin/**'], path: '/admin/x', match: true },
    { patterns: ['/admin/**'], path: '/admin/x/y', match: true },
    { patterns: ['/admin/**'], path: '/administrator', match: false },
    { patterns: ['/admin/**'], path: '/admin.', match: false },
    { patterns: ['/admin/**'], path: '/public/admin', match: false },
    { patterns: ['/static/**/*.css'], path: '/static/a/b/site.css', match: true },
    { patterns: ['/static/**/*.css'], path: '/static/a/b/site.js', match: false },
    { patterns: ['/**'], path: '/', match: true },
    { patterns: ['/**'], path: '/anything/at/all', match: true },
    // Regex metacharacters in patterns are literal.
    { patterns: ['/a.b'], path: '/axb', match: false },
    { patterns: ['/a+b/*'], path: '/aab/x', match: false },
    { patterns: ['/a+b/*'], path: '/a+b/x', match: true },
    { patterns: ['/(x|y)/*'], path: '/x/1', match: false },
    { patterns: ['/$x^/*'], path: '/$x^/1', match: true },
    // Case-insensitive by default (POL-06), on request.
    { patterns: ['/admin/**'], path: '/ADMIN/Secret', match: true },
    { patterns: ['/Admin/**'], path: '/admin', match: true },
    { patterns: ['/api/*/STATUS'], path: '/Api/V1/status', match: true },
    { patterns: ['/admin/**'], path: '/ADMIN/Secret', match: false, caseSensitive: true },
    { patterns: ['/admin/**'], path: '/admin/Secret', match: true, caseSensitive: true },
    { patterns: ['/Admin'], path: '/admin', match: false, caseSensitive: true },
    { patterns: [], path: '/', match: false },
    { patterns: ['/a', '/b/**'], path: '/b/c', match: true },
  ];
  for (const { patterns, path, match, caseSensitive = false, eitherSlash = false } of CASES) {
    test(`${JSON.stringify(patterns)}${caseSensitive ? ' (case-sensitive)' : ''}${eitherSlash ? ' (either slash)' : ''} ${match ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(compilePaths(patterns, caseSensitive, eitherSlash)(path), match);
    });
  }

  for (const pattern of ['admin/**', '', '*', '**', '/a/**/b/**', '/**/**', '/a/***', '/a/***/b']) {
    test(`the pattern ${JSON.stringify(pattern)} throws`, () => {
      assert.throws(() => compilePaths([pattern], false), TypeError);
    });
  }

  test('DOS-09: a path of the maximum length against several patterns returns', () => {
    const matcher = compilePaths(['/admin/**', '/api/*/status', '/public/**', '/static/**/*.css', '/files/*.pdf', '/a*', '/**/x', '/x/**'], false);
    const paths = [`/${'a'.repeat(MAX_PATH_LENGTH - 1)}`, `/${'a/'.repeat((MAX_PATH_LENGTH - 2) / 2)}b`, `/${'a'.repeat(MAX_PATH_LENGTH - 2)}!`, `/static/${'a/'.repeat(2000)}x.cs`];
    assert.deepEqual(
      paths.map((path) => matcher(path)),
      [true, false, true, false],
    );
  });

  /**
   * Several `*` in one segment compile to `[^/]*x[^/]*y…`, which a backtracking engine matches in
   * O(n^k) time. Run in a worker so a slow match can be stopped; the bound is 100× the catalogue's
   * 10 ms per evaluation, to stay clear of slow machines.
   */
  test('DOS-09: several * within one segment stay linear on a maximum-length path', async () => {
    const patterns = ['/*a*a*b', '/files/*-*-*-*.tar.gz', '/*.*.*.js'];
    const paths = [`/${'a'.repeat(MAX_PATH_LENGTH - 1)}`, `/files/${'-'.repeat(MAX_PATH_LENGTH - 8)}`, `/${'.'.repeat(MAX_PATH_LENGTH - 1)}`];
    const result = await matchInWorker(patterns, paths, 1000);
    assert.deepEqual(result, [false, false, false], 'the match did not finish within 1 s');
  });
});

/** Compiles and runs path patterns in a worker; `timeout` when matching takes longer than `budgetMs`. */
function matchInWorker(patterns: readonly string[], paths: readonly string[], budgetMs: number): Promise<boolean[] | 'timeout'> {
  const source = new URL('../../src/policy/matchers/path.ts', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.tsx)
      .then(({ tsImport }) => tsImport(workerData.source, workerData.source))
      .then(({ compilePaths }) => {
        const matcher = compilePaths(workerData.patterns, false);
        parentPort.postMessage('ready');
        parentPort.postMessage(workerData.paths.map((path) => matcher(path)));
      });`;
  const worker = new Worker(code, { eval: true, workerData: { source, tsx: import.meta.resolve('tsx/esm/api'), patterns, paths } });
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    worker.on('message', (message: unknown) => {
      if (message === 'ready') {
        timer = setTimeout(() => {
          void worker.terminate().then(() => {
            resolve('timeout');
          });
        }, budgetMs);
        return;
      }
      clearTimeout(timer);
      void worker.terminate();
      resolve(message as boolean[]);
    });
    worker.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

describe('compileMethods', () => {
  const CASES: readonly { methods: string[]; method: string; match: boolean }[] = [
    { methods: ['GET'], method: 'GET', match: true },
    { methods: ['GET'], method: 'HEAD', match: true },
    { methods: ['GET'], method: 'POST', match: false },
    { methods: ['GET'], method: 'OPTIONS', match: false },
    { methods: ['HEAD'], method: 'GET', match: false },
    { methods: ['get'], method: 'GET', match: true },
    { methods: ['get'], method: 'HEAD', match: true },
    { methods: [' Post '], method: 'POST', match: true },
    // Requests arrive upper-case from the http layer; anything else fails closed.
    { methods: ['GET'], method: 'get', match: false },
    { methods: ['POST', 'PUT'], method: 'PUT', match: true },
    { methods: ['POST', 'PUT'], method: 'GET', match: false },
    { methods: ['PROPFIND'], method: 'PROPFIND', match: true },
    { methods: [], method: 'GET', match: false },
  ];
  for (const { methods, method, match } of CASES) {
    test(`${JSON.stringify(methods)} ${match ? 'matches' : 'does not match'} ${method}`, () => {
      assert.equal(compileMethods(methods)(method), match);
    });
  }
  for (const method of ['', 'GET POST', 'G-ET', 'GET,POST', '*', 'GE\r\nT', 'M-SEARCH', 'GÉT', 'A'.repeat(21), '1GET']) {
    test(`the method ${JSON.stringify(method)} throws`, () => {
      assert.throws(() => compileMethods([method]), TypeError);
    });
  }
});

describe('parseIp', () => {
  const CASES: readonly { text: string; expected: ReturnType<typeof parseIp> }[] = [
    { text: '10.0.0.5', expected: { family: 4, value: 0x0a000005 } },
    { text: '255.255.255.255', expected: { family: 4, value: 0xffffffff } },
    { text: '0.0.0.0', expected: { family: 4, value: 0 } },
    { text: '::ffff:10.0.0.5', expected: { family: 4, value: 0x0a000005 } },
    { text: '::ffff:a00:5', expected: { family: 4, value: 0x0a000005 } },
    { text: '::FFFF:10.0.0.5', expected: { family: 4, value: 0x0a000005 } },
    { text: '::1', expected: { family: 6, groups: [0, 0, 0, 0, 0, 0, 0, 1] } },
    { text: '::', expected: { family: 6, groups: [0, 0, 0, 0, 0, 0, 0, 0] } },
    { text: '1::', expected: { family: 6, groups: [1, 0, 0, 0, 0, 0, 0, 0] } },
    { text: '2001:db8::8:800:200c:417a', expected: { family: 6, groups: [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a] } },
    { text: '2001:DB8:0:0:0:0:0:1', expected: { family: 6, groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1] } },
    { text: 'fe80::1%eth0', expected: { family: 6, groups: [0xfe80, 0, 0, 0, 0, 0, 0, 1] } },
    { text: '64:ff9b::10.0.0.5', expected: { family: 6, groups: [0x64, 0xff9b, 0, 0, 0, 0, 0x0a00, 5] } },
    { text: 'unknown', expected: undefined },
    { text: '', expected: undefined },
    { text: '10.0.0.256', expected: undefined },
    { text: '010.0.0.5', expected: undefined },
    { text: '10.0.0', expected: undefined },
    { text: ' 10.0.0.5', expected: undefined },
    { text: '10.0.0.5:8080', expected: undefined },
    { text: '[::1]', expected: undefined },
    { text: '::ffff:10.0.0.256', expected: undefined },
    { text: '1::2::3', expected: undefined },
    { text: '0x0a000005', expected: undefined },
    { text: '167772165', expected: undefined },
  ];
  for (const { text, expected } of CASES) {
    test(`${JSON.stringify(text)} → ${expected === undefined ? 'undefined' : JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseIp(text), expected);
    });
  }
});

describe('parseCidrRange', () => {
  const ip = (text: string) => parseIp(text)!;
  const CASES: readonly { range: string; inside: string[]; outside: string[] }[] = [
    { range: '10.0.0.0/8', inside: ['10.0.0.0', '10.255.255.255', '::ffff:10.1.2.3'], outside: ['11.0.0.0', '9.255.255.255', '::a00:5', 'fd00::1'] },
    { range: '192.168.1.0/24', inside: ['192.168.1.0', '192.168.1.255'], outside: ['192.168.2.1', '192.168.0.255'] },
    { range: '192.168.1.77/24', inside: ['192.168.1.1'], outside: ['192.168.2.1'] },
    { range: '10.0.0.1', inside: ['10.0.0.1', '::ffff:10.0.0.1'], outside: ['10.0.0.2'] },
    { range: '10.0.0.1/32', inside: ['10.0.0.1'], outside: ['10.0.0.0'] },
    { range: '0.0.0.0/0', inside: ['0.0.0.0', '255.255.255.255', '::ffff:1.2.3.4'], outside: ['::1', '2001:db8::1'] },
    { range: '::/0', inside: ['::1', '2001:db8::1', 'fe80::1'], outside: ['10.0.0.1', '::ffff:10.0.0.1'] },
    { range: 'fd00::/8', inside: ['fd00::1', 'fdff:ffff::1'], outside: ['fe00::1', 'fc00::1'] },
    { range: 'fe80::/10', inside: ['fe80::1', 'febf::1', 'fe80::1%eth0'], outside: ['fec0::1'] },
    { range: '2001:db8::/127', inside: ['2001:db8::', '2001:db8::1'], outside: ['2001:db8::2'] },
    { range: '::1', inside: ['::1'], outside: ['::2', '127.0.0.1'] },
    { range: ' 10.0.0.0/8 ', inside: ['10.9.9.9'], outside: ['11.0.0.0'] },
    // IPv4-mapped ranges are IPv4 ranges (FWD-13).
    { range: '::ffff:10.0.0.0/104', inside: ['10.1.2.3', '::ffff:10.1.2.3'], outside: ['11.0.0.0'] },
    { range: '::ffff:0:0/96', inside: ['1.2.3.4', '255.255.255.255'], outside: ['::1'] },
    // A bare address is a range of one, IPv4-mapped included.
    { range: '::ffff:10.0.0.5', inside: ['10.0.0.5', '::ffff:10.0.0.5'], outside: ['10.0.0.6'] },
    { range: '::ffff:a00:5', inside: ['10.0.0.5'], outside: ['10.0.0.6'] },
  ];
  for (const { range, inside, outside } of CASES) {
    test(`${JSON.stringify(range)} holds ${inside.join(', ')} and not ${outside.join(', ')}`, () => {
      const parsed = parseCidrRange(range);
      assert.equal(parsed.text, range);
      for (const address of inside) assert.equal(parsed.contains(ip(address)), true, `${address} should be inside`);
      for (const address of outside) assert.equal(parsed.contains(ip(address)), false, `${address} should be outside`);
    });
  }
  for (const range of ['', 'unknown', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.0/ 8', '10.0.0.0/8a', '10.0.0.0/1000', '::/129', '::ffff:10.0.0.0/95', '10.0.0/8', 'example.com/8', '10.0.0.0-10.0.0.255']) {
    test(`${JSON.stringify(range)} throws`, () => {
      assert.throws(() => parseCidrRange(range), TypeError);
    });
  }
});

describe('compileSources', () => {
  const CASES: readonly { ranges: string[]; ip: string; match: boolean }[] = [
    { ranges: ['10.0.0.0/24'], ip: '10.0.0.7', match: true },
    { ranges: ['10.0.0.0/24'], ip: '10.0.1.7', match: false },
    { ranges: ['10.0.0.0/24'], ip: '::ffff:10.0.0.7', match: true },
    { ranges: ['10.0.0.0/24', 'fd00::/8'], ip: 'fd12::1', match: true },
    { ranges: ['0.0.0.0/0'], ip: '203.0.113.9', match: true },
    { ranges: ['0.0.0.0/0'], ip: '2001:db8::1', match: false },
    { ranges: ['0.0.0.0/0', '::/0'], ip: '2001:db8::1', match: true },
    // An unresolvable client never matches, even the widest range.
    { ranges: ['0.0.0.0/0', '::/0'], ip: 'unknown', match: false },
    { ranges: ['0.0.0.0/0', '::/0'], ip: '', match: false },
    { ranges: ['0.0.0.0/0', '::/0'], ip: '10.0.0.7, 10.0.0.8', match: false },
    { ranges: [], ip: '10.0.0.7', match: false },
  ];
  for (const { ranges, ip, match } of CASES) {
    test(`${JSON.stringify(ranges)} ${match ? 'matches' : 'does not match'} ${JSON.stringify(ip)}`, () => {
      assert.equal(compileSources(ranges)(ip), match);
    });
  }
  test('a bad range throws', () => {
    assert.throws(() => compileSources(['10.0.0.0/8', 'intranet']), TypeError);
  });
});
