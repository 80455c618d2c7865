import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createProxyTrust, resolveRequest } from '../../src/http/forwarded.js';
import { MAX_REDIRECT_LENGTH, createRedirectPolicy, validateRedirect, type RedirectPolicy } from '../../src/http/redirect.js';

// Fixture of security-cases.md §0: redirect allow-list *.homelab.example.com.
const policy = createRedirectPolicy(['.homelab.example.com']);
const BASE = 'https://app.homelab.example.com/';

function isAllowedHost(hostname: string): boolean {
  return hostname === 'homelab.example.com' || hostname.endsWith('.homelab.example.com');
}

/** REDIR-SAFE: refused, or a Location without CR/LF that stays on the allow-list. */
function assertSafe(target: string, result: string | undefined, rules: RedirectPolicy = policy): void {
  if (result === undefined) return;
  assert.doesNotMatch(result, /[\r\n]/, JSON.stringify(target));
  const hostname = new URL(result, BASE).hostname;
  if (rules === policy) assert.ok(isAllowedHost(hostname), `${JSON.stringify(target)} → ${result} (${hostname})`);
}

/** Every payload is sent raw and URL-encoded once (security-cases.md §C). */
function assertRejected(payloads: readonly string[], rules: RedirectPolicy = policy): void {
  for (const payload of payloads) {
    for (const target of [payload, encodeURIComponent(payload)]) {
      const result = validateRedirect(target, rules);
      assertSafe(target, result, rules);
      assert.equal(result, undefined, JSON.stringify(target));
    }
  }
}

const CATALOGUE: Record<string, readonly string[]> = {
  'REDIR-01 protocol-relative': ['//evil.com', '///evil.com', '////evil.com/', '//evil.com/%2F..'],
  'REDIR-02 backslashes (CVE-2020-5233)': ['/\\evil.com', '\\\\evil.com', '\\/evil.com', '/\\/evil.com', '/\\\\evil.com'],
  'REDIR-03 whitespace and controls between slashes (CVE-2020-11053, CVE-2020-4037)': [
    '/\t/evil.com',
    '/%09/evil.com',
    '/ /evil.com',
    '/\n/evil.com',
    '/\r/evil.com',
    '/\v\\evil.com',
    '/\t/\t\\evil.com',
    '/\t\t\\\t/evil.com',
    '/%0a/evil.com',
    '/%0d/evil.com',
    '/%0b/evil.com',
    '/%20/evil.com',
    '/%00/evil.com',
  ],
  'REDIR-04 percent-encoded separators': ['/%2F%2Fevil.com', '/%2f%5c%2fevil.com', '/%5cevil.com', '%2F%2Fevil.com', '/%68ttp://evil.com', '/%2Fevil.com', '/%5C%5Cevil.com'],
  'REDIR-05 dot segments': ['/./\\evil.com', '/./../../\\evil.com', '/.//evil.com', '/..//evil.com', '/%2e/%2fevil.com', '/%2e%2e//evil.com', '/./evil.com', '/../evil.com', '/a/../b'],
  'REDIR-06 absolute foreign targets (CVE-2017-1000070)': ['https://evil.com/', 'HTTPS://EVIL.COM', 'http://evil.com', 'https://evil.com:443/'],
  'REDIR-07 userinfo': [
    'https://app.homelab.example.com@evil.com/',
    'https://app.homelab.example.com:443@evil.com',
    'https://evil.com\\@app.homelab.example.com/',
    'https://app.homelab.example.com%40evil.com/',
    'https://app.homelab.example.com%2F@evil.com',
    'https://user:pass@app.homelab.example.com/',
    'https://user@app.homelab.example.com/',
    'https://:@app.homelab.example.com/',
  ],
  'REDIR-08 suffix without a dot boundary (CVE-2021-21291)': [
    'https://evilhomelab.example.com',
    'https://evil-homelab.example.com',
    'https://homelab.example.com.evil.com',
    'https://app.homelab.example.com.evil.com',
    'https://homelab.example.comevil.com',
    'https://example.com',
  ],
  'REDIR-09 parser-differential hosts (CVE-2021-39191)': [
    'https://evil.com\\.homelab.example.com/',
    'https://evil.com#.homelab.example.com',
    'https://evil.com?.homelab.example.com',
    'https://evil.com/.homelab.example.com',
    'https://evil.com%23.homelab.example.com',
    'https://evil.com%2F.homelab.example.com',
    'https://evil.com%3F.homelab.example.com',
    'https://evil.com%5C.homelab.example.com',
    'https://evil.com%2e.homelab.example.com',
    'https://evil.com\t.homelab.example.com',
  ],
  'REDIR-10 dangerous schemes': [
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'java%0ascript:alert(1)',
    '\x01javascript:alert(1)',
    ' javascript:alert(1)',
    '/%09/javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
    'ftp://evil.com',
    'javascript://app.homelab.example.com/%0aalert(1)',
    'ws://app.homelab.example.com/',
    'httpx://app.homelab.example.com/',
  ],
  'REDIR-11 slash-less or odd scheme forms': [
    'https:evil.com',
    'https:/evil.com',
    'https:\\\\evil.com',
    'http:/\\/\\evil.com',
    'https:///evil.com',
    'https:app.homelab.example.com',
    'https:/app.homelab.example.com',
    'https:///app.homelab.example.com',
    'https://',
    'https:///',
  ],
  'REDIR-12 Unicode separators and look-alikes': [
    '/〱evil.com',
    '/〵evil.com',
    '/ゝevil.com',
    '/ーevil.com',
    '/ｰevil.com',
    '／／evil.com',
    'https://evil。com',
    'https://evil%E3%80%82com',
    'https://app。homelab。example。com/',
    'https://ａｐｐ.homelab.example.com/',
    '/\u2028/evil.com',
    '/\u0085/evil.com',
  ],
  'REDIR-13 IDN homographs': ['https://app.homelab.exаmple.com/', 'https://аpp.homelab.example.com/', 'https://xn--pp-6kc.homelab.example.com/'],
  'REDIR-14 ports': [
    'https://app.homelab.example.com:8443/',
    'https://app.homelab.example.com:0/',
    'https://app.homelab.example.com:65536/',
    'https://app.homelab.example.com:443abc/',
    'https://app.homelab.example.com:/',
    'http://app.homelab.example.com:443/',
    'https://app.homelab.example.com:80/',
  ],
  'REDIR-15 IP and numeric hosts': [
    'https://2130706433/',
    'https://0x7f.1/',
    'https://127.1/',
    'https://[::ffff:7f00:1]/',
    'https://10.0.0.5/',
    'https://[::1]/',
    'https://0x7f000001/',
  ],
  'REDIR-16 CRLF and response splitting': [
    '/ok%0d%0aSet-Cookie:%20s=attacker',
    '/ok\r\nLocation: https://evil.com',
    '/ok嘊嘍Set-Cookie:x',
    'https://app.homelab.example.com/ok\r\nSet-Cookie: s=x',
    '/ok\0',
  ],
  'REDIR-19 sign-out redirect': ['//evil.com', '/\\evil.com', '%2F%5Cevil.com%2Fa%3Fhttps%3A%2F%2Fapp.homelab.example.com', 'https://evil.com'],
  'REDIR-22 query values that are URLs (optional hardening)': [
    '/?rd=https://evil.com',
    '/?next=http://evil.com',
    '/?next=//evil.com',
    '/?next=%2F%2Fevil.com',
    '/?next=/%5Cevil.com',
    '/?next=javascript:alert(1)',
    '/?next=JaVa%09ScRiPt:alert(1)',
    '/?next=+%20data:text/html,x',
    '/x?a=1&b=https%3A%2F%2Fevil.com',
    '/x?https://evil.com',
    'https://app.homelab.example.com/?rd=https://evil.com',
    'https://app.homelab.example.com/login?next=//evil.com',
    'https://app.homelab.example.com/?u=vbscript:x',
  ],
};

describe('validateRedirect: security-cases.md §C', () => {
  for (const [name, payloads] of Object.entries(CATALOGUE)) {
    test(`${name}: refused raw and URL-encoded`, () => assertRejected(payloads));
  }

  test('REDIR-04: decoded exactly once — a double-encoded separator is one odd path segment on this origin', () => {
    assert.equal(validateRedirect('/%252F%252Fevil.com', policy), '/%252F%252Fevil.com');
    assert.equal(new URL('/%252F%252Fevil.com', BASE).hostname, 'app.homelab.example.com');
  });

  test('REDIR-04: /%68ttp:/ with one slash is a path here, never a scheme', () => {
    assert.equal(validateRedirect('/%68ttp:/evil.com', policy), '/%68ttp:/evil.com');
    assert.equal(new URL('/%68ttp:/evil.com', BASE).hostname, 'app.homelab.example.com');
  });

  test('REDIR-13: upper-case hosts are accepted and lower-cased; a trailing dot is refused', () => {
    assert.equal(validateRedirect('https://APP.HOMELAB.EXAMPLE.COM/x', policy), 'https://app.homelab.example.com/x');
    // Browsers keep `example.com.` cookies apart from `example.com` ones, so the session would not follow.
    assert.equal(validateRedirect('https://app.homelab.example.com./x', policy), undefined);
  });

  test('REDIR-14: a port is accepted only when its entry allows it', () => {
    const exact = createRedirectPolicy(['.homelab.example.com:8443']);
    const any = createRedirectPolicy(['.homelab.example.com:*']);
    const target = 'https://app.homelab.example.com:8443/';
    assert.equal(validateRedirect(target, exact), target);
    assert.equal(validateRedirect(target, any), target);
    assert.equal(validateRedirect('https://app.homelab.example.com/', exact), undefined);
    assert.equal(validateRedirect('https://app.homelab.example.com:9443/', exact), undefined);
    assert.equal(validateRedirect('https://app.homelab.example.com/', any), 'https://app.homelab.example.com/');
    assertRejected(['https://app.homelab.example.com:0/', 'https://app.homelab.example.com:65536/', 'https://app.homelab.example.com:443abc/'], any);
    assert.equal(validateRedirect('https://app.homelab.example.com:443/x', policy), 'https://app.homelab.example.com/x');
  });

  test('REDIR-14: http on an allowed host and default port is accepted (refusing a downgrade is the caller’s call)', () => {
    // The policy knows hosts, not cookies: the login handler, which knows cookie_secure, must refuse or upgrade.
    assert.equal(validateRedirect('http://app.homelab.example.com/', policy), 'http://app.homelab.example.com/');
    assert.equal(validateRedirect('http://app.homelab.example.com:80/', policy), 'http://app.homelab.example.com/');
  });

  test('REDIR-15: an IP host is accepted only when listed exactly, and only in canonical form', () => {
    const ips = createRedirectPolicy(['10.0.0.5', '[::1]:8080', '127.0.0.1:*']);
    assert.equal(validateRedirect('https://10.0.0.5/x', ips), 'https://10.0.0.5/x');
    assert.equal(validateRedirect('http://[::1]:8080/', ips), 'http://[::1]:8080/');
    assert.equal(validateRedirect('http://127.0.0.1:3000/', ips), 'http://127.0.0.1:3000/');
    assertRejected(
      [
        'https://0xa.0.0.5/',
        'https://10.5/',
        'https://167772165/',
        'https://010.0.0.5/',
        'https://10.0.0.5:8443/',
        'http://[0::1]:8080/',
        'http://[::1]/',
        'https://2130706433/',
        'https://127.1/',
        'https://[::ffff:7f00:1]/',
      ],
      ips,
    );
  });

  test('REDIR-16: a percent-encoded multi-byte character stays encoded; the Location is one ASCII line', () => {
    const result = validateRedirect('/ok%E5%98%8A%E5%98%8DSet-Cookie:x', policy);
    assert.equal(result, '/ok%E5%98%8A%E5%98%8DSet-Cookie:x');
    assert.match(result, /^[\x21-\x7e]+$/);
    const absolute = validateRedirect('https://app.homelab.example.com/ok嘊嘍Set-Cookie:x', policy);
    assert.equal(absolute, 'https://app.homelab.example.com/ok%E5%98%8A%E5%98%8DSet-Cookie:x');
  });

  test(`REDIR-17: over-long targets are refused, not truncated (limit ${MAX_REDIRECT_LENGTH})`, () => {
    const path = (length: number) => `/${'a'.repeat(length - 1)}`;
    assert.equal(validateRedirect(path(MAX_REDIRECT_LENGTH), policy), path(MAX_REDIRECT_LENGTH));
    assert.equal(validateRedirect(path(MAX_REDIRECT_LENGTH + 1), policy), undefined);
    assert.equal(validateRedirect(path(16 * 1024), policy), undefined);
    assert.equal(validateRedirect(`${BASE}${'a'.repeat(16 * 1024)}`, policy), undefined);
    // Serialisation may grow a target past the limit (each non-ASCII character becomes up to 12 bytes).
    assert.equal(validateRedirect(`${BASE}${'é'.repeat(2000)}`, policy), undefined);
  });

  test('REDIR-18: a return URL built from forwarded data never leaves the allow-list', () => {
    const trust = createProxyTrust({ reverseProxy: true, trusted: ['10.0.0.0/24'] });
    const returnUrl = (headers: Record<string, string>): string | undefined => {
      const result = resolveRequest({ method: 'GET', url: '/oauth2/auth', peerAddress: '10.0.0.2', encrypted: false, headers: { host: 'gatehouse', 'x-forwarded-proto': 'https', ...headers } }, trust);
      if (!result.ok) return undefined;
      const { scheme, host, port, uri } = result.request;
      const target = `${scheme}://${host}${port === undefined ? '' : `:${port}`}${uri}`;
      const safe = validateRedirect(target, policy);
      assertSafe(target, safe);
      return safe;
    };
    assert.equal(returnUrl({ 'x-forwarded-host': 'evil.com', 'x-forwarded-uri': '/x' }), undefined);
    assert.equal(returnUrl({ 'x-forwarded-host': 'app.homelab.example.com', 'x-forwarded-uri': '/x', 'x-forwarded-prefix': '//evil.com' }), 'https://app.homelab.example.com/x');
    assert.equal(returnUrl({ 'x-forwarded-host': 'app.homelab.example.com', 'x-forwarded-uri': '//evil.com/x' }), 'https://app.homelab.example.com//evil.com/x');
    assert.equal(returnUrl({ 'x-forwarded-host': 'app.homelab.example.com', 'x-forwarded-uri': '/?rd=https://evil.com' }), undefined);
    assert.equal(returnUrl({ 'x-forwarded-host': 'app.homelab.example.com@evil.com', 'x-forwarded-uri': '/' }), undefined);
  });

  test('REDIR-20: a non-string rd (qs arrays and objects) is refused; with URLSearchParams the first value wins', () => {
    for (const hostile of [['/ok', 'https://evil.com'], { a: 'x' }, ['//evil.com'], null, undefined, 42]) {
      assert.equal(validateRedirect(hostile as unknown as string, policy), undefined, JSON.stringify(hostile));
    }
    const query = new URLSearchParams('rd=/ok&rd=https://evil.com');
    assert.equal(validateRedirect(query.get('rd') ?? '', policy), '/ok');
    assert.deepEqual(
      query.getAll('rd').map((value) => validateRedirect(value, policy)),
      ['/ok', undefined],
    );
  });

  test('REDIR-21: an accepted target is returned as given (or serialised), never with anything appended', () => {
    for (const target of ['/a?b=c', 'https://app.homelab.example.com/a?b=c#d', 'https://Homelab.Example.Com/x%20y']) {
      const result = validateRedirect(target, policy);
      assert.equal(result, target.startsWith('/') ? target : new URL(target).href);
      assert.doesNotMatch(result, /access_token|id_token|code=/);
    }
  });

  test('REDIR-22: positive controls are preserved unchanged', () => {
    for (const target of ['/', '/dashboard?tab=1#x', 'https://app.homelab.example.com/a?b=c', 'https://homelab.example.com/']) {
      assert.equal(validateRedirect(target, policy), target);
    }
    assert.equal(validateRedirect('https://APP.HOMELAB.EXAMPLE.COM/x', policy), 'https://app.homelab.example.com/x');
  });
});

describe('validateRedirect: more accepted targets', () => {
  test('ordinary paths, queries and fragments', () => {
    for (const target of [
      '/a/b/c',
      '/a/b/',
      '/search?q=a%20b&page=2',
      '/files/caf%C3%A9',
      '/api?ids=1,2,3',
      '/?next=/dashboard',
      '/?q=https',
      '/...',
      '/a..b/.c',
      '/x#/route?y=//z',
      '/x?a=%zz',
      '/a%2Fb',
      '/My%20Documents/a%20b/',
      "/~user/it's-(fine)!*",
    ]) {
      assert.equal(validateRedirect(target, policy), target);
    }
  });

  test('absolute URLs are returned in their WHATWG serialisation', () => {
    const cases: [string, string][] = [
      ['https://app.homelab.example.com', 'https://app.homelab.example.com/'],
      ['HTTPS://app.homelab.example.com/a/../b', 'https://app.homelab.example.com/b'],
      ['https://app.homelab.example.com/café?q=ü#ß', 'https://app.homelab.example.com/caf%C3%A9?q=%C3%BC#%C3%9F'],
      ['https://deep.sub.app.homelab.example.com/', 'https://deep.sub.app.homelab.example.com/'],
      ['https://app.homelab.example.com?x=1', 'https://app.homelab.example.com/?x=1'],
    ];
    for (const [target, expected] of cases) assert.equal(validateRedirect(target, policy), expected, target);
  });
});

describe('createRedirectPolicy', () => {
  test('an exact entry matches only that host', () => {
    const exact = createRedirectPolicy(['app.example.com']);
    assert.equal(validateRedirect('https://app.example.com/', exact), 'https://app.example.com/');
    assertRejected(['https://sub.app.example.com/', 'https://example.com/', 'https://xapp.example.com/'], exact);
  });

  test('.x and *.x match x and its subdomains at a dot boundary (CVE-2021-21291)', () => {
    for (const entry of ['.example.com', '*.example.com', '*.EXAMPLE.com']) {
      const domain = createRedirectPolicy([entry]);
      assert.equal(validateRedirect('https://example.com/', domain), 'https://example.com/', entry);
      assert.equal(validateRedirect('https://a.b.example.com/', domain), 'https://a.b.example.com/', entry);
      assertRejected(['https://evilexample.com/', 'https://example.com.evil.com/', 'https://example.co/'], domain);
    }
  });

  test('an IDN is allowed when listed; an IDN label under a listed domain is not', () => {
    const homograph = new URL('https://аpp.homelab.example.com/').hostname;
    assert.equal(homograph, 'xn--pp-6kc.homelab.example.com');
    const listed = createRedirectPolicy([homograph, 'bücher.example']);
    assert.equal(validateRedirect(`https://${homograph}/`, listed), `https://${homograph}/`);
    assert.equal(validateRedirect('https://аpp.homelab.example.com/', listed), `https://${homograph}/`);
    assert.equal(validateRedirect('https://xn--bcher-kva.example/', listed), 'https://xn--bcher-kva.example/');
    assert.equal(validateRedirect('https://BÜCHER.example/', listed), 'https://xn--bcher-kva.example/');
    const idnBase = createRedirectPolicy(['.bücher.example']);
    assert.equal(validateRedirect('https://shop.xn--bcher-kva.example/', idnBase), 'https://shop.xn--bcher-kva.example/');
    assertRejected(['https://xn--shp-qla.xn--bcher-kva.example/', 'https://shöp.bücher.example/'], idnBase);
  });

  test('refuses malformed entries at start-up with a TypeError', () => {
    for (const entry of ['', '.', '*.', '*', 'https://example.com', 'example.com/path', 'user@example.com', 'example.com:0', 'example.com:65536', 'example.com:abc', 'example.com:', '.10.0.0.5', '*.[::1]', 'exa mple.com', 'example.com.', '[::1', 'a:b:c', 'example.com#x', 'ex%61mple.com', '**.example.com']) {
      assert.throws(() => createRedirectPolicy([entry]), TypeError, JSON.stringify(entry));
    }
  });

  test('the policy is frozen and keeps the entries as given', () => {
    const entries = ['.homelab.example.com', 'app.example.com:8443'];
    const created = createRedirectPolicy(entries);
    assert.deepEqual(created.allowedDomains, entries);
    assert.ok(Object.isFrozen(created) && Object.isFrozen(created.allowedDomains));
    entries.push('evil.com');
    assert.equal(validateRedirect('https://evil.com/', created), undefined);
  });

  test('a plain object works too (parsed per call, malformed entries skipped)', () => {
    const plain: RedirectPolicy = { allowedDomains: ['not a domain', '.homelab.example.com'] };
    assert.equal(validateRedirect('https://app.homelab.example.com/', plain), 'https://app.homelab.example.com/');
    assert.equal(validateRedirect('https://evil.com/', plain), undefined);
    assert.equal(validateRedirect('https://x/', { allowedDomains: [42 as unknown as string] }), undefined);
  });
});

describe('validateRedirect: generated open-redirect corpus', () => {
  // Shapes of oauth2-proxy's testdata/openredirects.txt (GHSA-5m6c-jp6f-2vcv), crossed with each other.
  const prefixes = [
    '',
    '/',
    '//',
    '///',
    '////',
    '/\\',
    '\\\\',
    '/\\/',
    '\\/',
    '/%09/',
    '/%2f',
    '/%2F/',
    '/%5c',
    '//%09/',
    '///%5c',
    '/ /',
    '/./',
    '/../',
    '/.//',
    '/<>//',
    'http:',
    'https:',
    'http:/',
    'https:/',
    'https:///',
    'http://',
    'https://',
    'HtTpS://',
    '/https://',
    '/http:/%5c',
    ' https://',
    'https://%09/',
    'https://%5c',
    'https://:@',
    'javascript://',
    '〱',
    '／／',
    '@',
    '<>',
  ];
  const hosts = [
    'evil.com',
    'app.homelab.example.com@evil.com',
    'evil.com\\@app.homelab.example.com',
    'evil.com%23.homelab.example.com',
    'evil.com%2f%2f.homelab.example.com',
    'evil.com%3F.homelab.example.com',
    'evil.com%5c%5c.homelab.example.com',
    'evil.com%2e.homelab.example.com',
    'evil.com:80#@app.homelab.example.com',
    'evil.com:80?@app.homelab.example.com',
    'evil.com:80%40app.homelab.example.com',
    'evil.com\\tapp.homelab.example.com',
    'app.homelab.example.com+&@evil.com#+@app.homelab.example.com',
    'x@app.homelab.example.com+@evil.com',
    '0xd83ad6ce',
    '3627734734',
    '0330.072.0326.0316',
    '00330.0x3a.54990',
    '472.314.470.462',
    '[::216.58.214.206]',
    '[::ffff:216.58.214.206]',
    '%65vil.com',
    'evil%E3%80%82com',
    'evil%00.com',
    '.evil.com',
    ';@evil.com',
    'evilhomelab.example.com',
    'homelab.example.com.evil.com',
  ];
  const suffixes = ['', '/', '//', '/%2e%2e', '/%2e%2e%2f', '/%2f..', '/%2f%2e%2e', '/https://evil.com/'];

  test(`${prefixes.length * hosts.length * suffixes.length} crossed payloads are refused raw and URL-encoded`, () => {
    const accepted: string[] = [];
    for (const prefix of prefixes) {
      for (const host of hosts) {
        for (const suffix of suffixes) {
          const payload = `${prefix}${host}${suffix}`;
          for (const target of [payload, encodeURIComponent(payload)]) {
            const result = validateRedirect(target, policy);
            assertSafe(target, result);
            if (result !== undefined) accepted.push(target);
          }
        }
      }
    }
    // With no prefix, or with `/`, the host text is a relative path on this origin (`/evil.com/`), which is safe;
    // everything else is refused.
    for (const target of accepted) assert.ok(target.startsWith('/') && !target.startsWith('//'), target);
  });
});

describe('validateRedirect properties', () => {
  const fragment = fc.constantFrom(
    '/',
    '//',
    '\\',
    '%2f',
    '%2F',
    '%5c',
    '%09',
    '%0d%0a',
    '%2e',
    '%25',
    '.',
    '..',
    '@',
    ':',
    '#',
    '?',
    '&',
    '=',
    ' ',
    '\t',
    '\r',
    '\n',
    '\0',
    'http:',
    'https:',
    'HTTPS://',
    'javascript:',
    'evil.com',
    'homelab.example.com',
    'app.',
    '.homelab.example.com',
    '[::1]',
    ':443',
    ':8443',
    '0x7f',
    '。',
    '／',
    'а',
    'xn--',
    '〱',
  );
  const hostile = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ unit: 'binary-ascii', maxLength: 60 }),
    fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join('')),
    fc.tuple(fc.constantFrom('/', 'https://', 'http://', '//', 'https://app.homelab.example.com'), fc.array(fragment, { maxLength: 10 })).map(([head, parts]) => head + parts.join('')),
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
  );

  test('never returns a target off the allow-list, or one containing CR/LF', () => {
    fc.assert(
      fc.property(hostile, (target) => {
        const result = validateRedirect(target, policy);
        assertSafe(target, result);
        const encoded = validateRedirect(encodeURIComponent(target), policy);
        assertSafe(target, encoded);
      }),
      { numRuns: 20_000 },
    );
  });

  test('an accepted target is a fixed point', () => {
    fc.assert(
      fc.property(hostile, (target) => {
        const result = validateRedirect(target, policy);
        if (result !== undefined) assert.equal(validateRedirect(result, policy), result, target);
      }),
      { numRuns: 5_000 },
    );
  });

  test('plain paths of safe segments are accepted unchanged', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,15}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 0, maxLength: 6 }), (segments) => {
        const path = `/${segments.join('/')}`;
        assert.equal(validateRedirect(path, policy), path);
      }),
    );
  });
});
