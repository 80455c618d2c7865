import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_FORWARDED_HOPS,
  UNKNOWN_CLIENT,
  createProxyTrust,
  resolveRequest,
  type ProxyTrust,
  type RequestFacts,
  type ResolvedRequest,
} from '../../src/http/forwarded.js';

// Fixture of security-cases.md §0: the trusted proxy CIDR is 10.0.0.0/24.
const trust = createProxyTrust({ reverseProxy: true, trusted: ['10.0.0.0/24'] });
const ingress = createProxyTrust({ reverseProxy: true, trusted: ['10.0.0.0/24'], headers: 'x-original' });
const PROXY = '10.0.0.2';
const OUTSIDER = '198.51.100.7';
const APP = 'app.homelab.example.com';

function facts(headers: RequestFacts['headers'], overrides: Partial<Omit<RequestFacts, 'headers'>> = {}): RequestFacts {
  return { method: 'GET', url: '/oauth2/auth', peerAddress: PROXY, encrypted: false, headers, ...overrides };
}

function resolved(input: RequestFacts, proxies: ProxyTrust = trust): ResolvedRequest {
  const result = resolveRequest(input, proxies);
  if (!result.ok) assert.fail(`expected ok, got ${result.reason}`);
  return result.request;
}

function reason(input: RequestFacts, proxies: ProxyTrust = trust): string | undefined {
  const result = resolveRequest(input, proxies);
  return result.ok ? undefined : result.reason;
}

/** What Traefik forwardAuth sends with `trustForwardHeader: false` (jwt-and-proxies.md B.1). */
function traefik(extra: Record<string, string | string[]> = {}): RequestFacts {
  return facts({
    host: 'gatehouse:4180',
    'x-forwarded-method': 'GET',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': APP,
    'x-forwarded-uri': '/dashboard?tab=1',
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-port': '443',
    'x-forwarded-server': 'traefik-1',
    'x-real-ip': '203.0.113.9',
    cookie: '_gatehouse=abc',
    ...extra,
  });
}

describe('createProxyTrust', () => {
  test('FWD-01: reverseProxy false trusts nobody, not even loopback', () => {
    const nobody = createProxyTrust({ reverseProxy: false, trusted: ['0.0.0.0/0'] });
    for (const peer of ['127.0.0.1', '::1', '10.0.0.2', '::ffff:127.0.0.1']) assert.equal(nobody.isTrusted(peer), false, peer);
  });

  test('reverseProxy true with no ranges trusts DEFAULT_TRUSTED_PROXIES only', () => {
    const defaults = createProxyTrust({ reverseProxy: true, trusted: [] });
    for (const peer of ['127.0.0.1', '127.8.9.10', '::1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', 'fd00::1', 'fc00::5']) {
      assert.equal(defaults.isTrusted(peer), true, peer);
    }
    for (const peer of ['8.8.8.8', '172.32.0.1', '203.0.113.9', '2001:db8::1', 'fe80::1']) assert.equal(defaults.isTrusted(peer), false, peer);
  });

  test('named ranges replace the defaults', () => {
    assert.equal(trust.isTrusted('10.0.0.255'), true);
    assert.equal(trust.isTrusted('10.0.1.1'), false);
    assert.equal(trust.isTrusted('127.0.0.1'), false);
    assert.equal(trust.isTrusted('192.168.1.1'), false);
    const v6 = createProxyTrust({ reverseProxy: true, trusted: ['fd00:1::/32', '192.0.2.7'] });
    assert.equal(v6.isTrusted('fd00:1:0:0::9'), true);
    assert.equal(v6.isTrusted('FD00:1::9'), true);
    assert.equal(v6.isTrusted('fd00:2::9'), false);
    assert.equal(v6.isTrusted('192.0.2.7'), true);
    assert.equal(v6.isTrusted('192.0.2.8'), false);
  });

  test('FWD-13: IPv4-mapped IPv6 peers match as the IPv4 address they carry', () => {
    for (const peer of ['::ffff:10.0.0.5', '::FFFF:10.0.0.5', '::ffff:a00:5', '0:0:0:0:0:ffff:10.0.0.5', '0:0:0:0:0:ffff:a00:5']) {
      assert.equal(trust.isTrusted(peer), true, peer);
    }
    assert.equal(trust.isTrusted('::ffff:10.0.1.5'), false);
    assert.equal(trust.isTrusted('::ffff:0:10.0.0.5'), false, 'IPv4-translated, not IPv4-mapped');
    const mappedRange = createProxyTrust({ reverseProxy: true, trusted: ['::ffff:10.0.0.0/120'] });
    assert.equal(mappedRange.isTrusted('10.0.0.9'), true);
    assert.equal(mappedRange.isTrusted('::ffff:10.0.0.9'), true);
    assert.equal(mappedRange.isTrusted('10.0.1.9'), false);
  });

  test('never trusts what is not an address, and never throws on it', () => {
    const all = createProxyTrust({ reverseProxy: true, trusted: ['0.0.0.0/0', '::/0'] });
    for (const peer of ['', 'garbage', '10.0.0.2:443', '[10.0.0.2]', ' 10.0.0.2', '10.0.0.2\0', 'fe80::1%eth0', '::ffff:999.0.0.1', 'undefined']) {
      assert.equal(all.isTrusted(peer), false, JSON.stringify(peer));
    }
    assert.equal(all.isTrusted(undefined as unknown as string), false);
  });

  test('rejects a malformed range at start-up with a TypeError', () => {
    for (const entry of ['10.0.0.0/33', 'not-an-ip', '10.0.0.0/8/8', '']) {
      assert.throws(() => createProxyTrust({ reverseProxy: true, trusted: [entry] }), TypeError, entry);
    }
  });
});

describe('resolveRequest from each front proxy', () => {
  test('Traefik forwardAuth', () => {
    assert.deepEqual(resolved(traefik()), {
      method: 'GET',
      scheme: 'https',
      host: APP,
      port: undefined,
      uri: '/dashboard?tab=1',
      clientIp: '203.0.113.9',
      forwarded: true,
    });
  });

  test('Caddy forward_auth keeps the original Host and adds X-Forwarded-*', () => {
    const request = resolved(
      facts(
        {
          host: APP,
          'x-forwarded-method': 'POST',
          'x-forwarded-uri': '/api/items?ids=1,2,3',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': APP,
          'x-forwarded-for': '203.0.113.9',
          via: '1.1 Caddy',
        },
        { url: '/oauth2/auth?ids=1,2,3' },
      ),
    );
    assert.deepEqual(request, { method: 'POST', scheme: 'https', host: APP, port: undefined, uri: '/api/items?ids=1,2,3', clientIp: '203.0.113.9', forwarded: true });
  });

  test('nginx auth_request with the oauth2-proxy headers; X-Real-IP and X-Original-Method are not read', () => {
    const request = resolved(
      facts({
        host: APP,
        'x-forwarded-uri': '/admin/',
        'x-forwarded-method': 'DELETE',
        'x-original-method': 'GET',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': `${APP}:8443`,
        'x-real-ip': '1.2.3.4',
      }),
    );
    assert.deepEqual(request, { method: 'DELETE', scheme: 'https', host: APP, port: 8443, uri: '/admin/', clientIp: PROXY, forwarded: true });
  });

  test('nginx without X-Forwarded-Uri: the uri falls back to the request target', () => {
    const request = resolved(facts({ host: APP, 'x-forwarded-proto': 'https' }, { url: '/oauth2/auth?x=1' }));
    assert.equal(request.uri, '/oauth2/auth?x=1');
    assert.equal(request.forwarded, true);
  });

  test('ingress-nginx (headers: x-original): X-Original-URL gives scheme, host, path and query; X-Original-Method the method', () => {
    const request = resolved(
      facts({
        host: 'gatehouse.auth.svc',
        'x-original-url': `https://${APP}/reports/2026?format=csv`,
        'x-original-method': 'post',
        'x-auth-request-redirect': '/reports/2026?format=csv',
        'x-sent-from': 'nginx-ingress-controller',
      }),
      ingress,
    );
    assert.equal(request.method, 'POST');
    assert.equal(request.uri, '/reports/2026?format=csv');
    assert.equal(request.host, APP);
    assert.equal(request.scheme, 'https');
  });

  test('ingress-nginx (headers: x-original): client-sent X-Forwarded-* that ingress-nginx passes through are ignored', () => {
    const request = resolved(
      facts({
        host: 'gatehouse.auth.svc',
        'x-original-url': `https://${APP}/admin/`,
        'x-forwarded-host': 'public.homelab.example.com',
        'x-forwarded-uri': '/public/',
        'x-forwarded-method': 'GET',
        'x-forwarded-proto': '',
        'x-original-method': 'DELETE',
      }),
      ingress,
    );
    assert.deepEqual([request.host, request.uri, request.method, request.scheme], [APP, '/admin/', 'DELETE', 'https']);
  });

  test("ingress-nginx (headers: x-original): its own route to /oauth2/ (no X-Original-URL) takes the scheme from X-Forwarded-Proto, and nothing else", () => {
    // Without it an https browser would be sent from /oauth2/start to https again, for ever.
    const request = resolved(facts({ host: APP, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example.net', 'x-forwarded-uri': '/elsewhere' }, { url: '/oauth2/start?rd=%2F' }), ingress);
    assert.deepEqual([request.scheme, request.host, request.uri, request.forwarded], ['https', APP, '/oauth2/start?rd=%2F', true]);
    const plain = resolved(facts({ host: APP }, { url: '/oauth2/start' }), ingress);
    assert.deepEqual([plain.scheme, plain.forwarded], ['http', false]);
  });

  test('FWD-12 (headers: x-forwarded): X-Original-URL and X-Original-Method are never read', () => {
    const request = resolved(traefik({ 'x-original-url': 'https://evil.example/elsewhere', 'x-original-method': 'DELETE' }));
    assert.deepEqual([request.host, request.uri, request.method], [APP, '/dashboard?tab=1', 'GET']);
    const bare = resolved(facts({ host: APP, 'x-original-url': '/from-client' }, { url: '/real' }));
    assert.equal(bare.uri, '/real');
  });

  test('X-Forwarded-Method wins over X-Original-Method', () => {
    assert.equal(resolved(traefik({ 'x-forwarded-method': 'PUT', 'x-original-method': 'DELETE' })).method, 'PUT');
  });

  test('FWD-05: a trusted proxy that sent no forwarded headers is visible as forwarded: false', () => {
    const request = resolved(facts({ host: 'gatehouse:4180', 'x-forwarded-for': '203.0.113.9' }));
    assert.equal(request.forwarded, false);
    assert.equal(request.host, 'gatehouse');
    assert.equal(request.port, 4180);
    assert.equal(request.uri, '/oauth2/auth');
  });
});

describe('resolveRequest trust boundary', () => {
  test('FWD-01: forwarded headers from an untrusted peer are ignored entirely', () => {
    const spoofed = facts(
      {
        host: 'gatehouse:4180',
        'x-forwarded-host': APP,
        'x-forwarded-uri': '/public/ok',
        'x-forwarded-proto': 'https',
        'x-forwarded-method': 'GET',
        'x-original-url': `https://${APP}/public/ok`,
        'x-original-method': 'GET',
        'x-forwarded-for': '10.0.0.1',
      },
      { peerAddress: OUTSIDER, method: 'POST', url: '/oauth2/auth' },
    );
    assert.deepEqual(resolved(spoofed), {
      method: 'POST',
      scheme: 'http',
      host: 'gatehouse',
      port: 4180,
      uri: '/oauth2/auth',
      clientIp: OUTSIDER,
      forwarded: false,
    });
  });

  test('FWD-01: an untrusted peer without Host is BAD (missing-host), never the spoofed host', () => {
    assert.equal(reason(facts({ 'x-forwarded-host': APP }, { peerAddress: OUTSIDER })), 'missing-host');
  });

  test('FWD-01: reverseProxy false ignores forwarded headers even from loopback', () => {
    const nobody = createProxyTrust({ reverseProxy: false, trusted: [] });
    const request = resolved(traefik(), nobody);
    assert.equal(request.host, 'gatehouse');
    assert.equal(request.forwarded, false);
    assert.equal(request.clientIp, PROXY);
  });

  test('FWD-02: a direct call to GET /admin/secret with X-Forwarded-Uri: /public/x is judged on /admin/secret', () => {
    for (const spoof of ['/healthz', '/public/x']) {
      const request = resolved(facts({ host: APP, 'x-forwarded-uri': spoof }, { peerAddress: OUTSIDER, url: '/admin/secret' }));
      assert.equal(request.uri, '/admin/secret');
      assert.equal(request.forwarded, false);
    }
  });

  test('FWD-11: underscore and mixed spellings are never read', () => {
    const request = resolved(
      facts({
        host: APP,
        x_forwarded_host: 'evil.com',
        'x-forwarded_host': 'evil.com',
        x_forwarded_proto: 'https',
        'x-forwarded_uri': '/public',
        x_forwarded_method: 'POST',
        x_forwarded_for: '1.2.3.4',
        x_original_url: 'https://evil.com/public',
      }),
    );
    assert.deepEqual(request, { method: 'GET', scheme: 'http', host: APP, port: undefined, uri: '/oauth2/auth', clientIp: PROXY, forwarded: false });
  });

  test('FWD-10: X-Forwarded-Prefix and X-Replaced-Path never change the uri', () => {
    const request = resolved(traefik({ 'x-forwarded-prefix': '/public', 'x-replaced-path': '/public/ok' }));
    assert.equal(request.uri, '/dashboard?tab=1');
  });

  test('FWD-12: Forwarded (RFC 7239) is ignored, even from a trusted proxy', () => {
    const request = resolved(facts({ host: APP, forwarded: 'host=evil.com;proto=https;for=127.0.0.1' }));
    assert.equal(request.host, APP);
    assert.equal(request.scheme, 'http');
    assert.equal(request.clientIp, PROXY);
    assert.equal(request.forwarded, false);
  });

  test('FWD-12: X-Original-URI and X-Rewrite-URL are not read', () => {
    const request = resolved(facts({ host: APP, 'x-original-uri': '/public', 'x-rewrite-url': '/public' }, { url: '/admin' }));
    assert.equal(request.uri, '/admin');
  });

  test('FWD-14: X-HTTP-Method-Override is ignored', () => {
    assert.equal(resolved(traefik({ 'x-forwarded-method': 'POST', 'x-http-method-override': 'GET' })).method, 'POST');
    assert.equal(resolved(facts({ host: APP, 'x-http-method-override': 'GET' }, { method: 'DELETE' })).method, 'DELETE');
  });

  test('FWD-15: an absolute-form target never overrides Host; its path and query are the uri', () => {
    for (const peerAddress of [OUTSIDER, PROXY]) {
      const request = resolved(facts({ host: APP }, { peerAddress, url: 'http://evil.com/auth?x=1' }));
      assert.equal(request.host, APP);
      assert.equal(request.uri, '/auth?x=1');
    }
    assert.equal(resolved(facts({ host: APP }, { url: 'HTTP://evil.com' })).uri, '/');
    assert.equal(resolved(facts({ host: APP }, { url: 'https://evil.com?x' })).uri, '/?x');
    assert.equal(reason(facts({ host: APP }, { url: 'http://evil.com#frag' })), 'bad-uri');
  });

  test('FWD-15: Host: evil.com on a direct call resolves to evil.com, for the policy to deny', () => {
    assert.equal(resolved(facts({ host: 'evil.com' }, { peerAddress: OUTSIDER })).host, 'evil.com');
  });
});

describe('resolveRequest multi-valued headers (FWD-08)', () => {
  test('the right-most value, the one the trusted proxy wrote, wins', () => {
    const cases: [Record<string, string | string[]>, keyof ResolvedRequest, unknown][] = [
      [{ 'x-forwarded-host': `evil.com, ${APP}` }, 'host', APP],
      [{ 'x-forwarded-host': `evil.com,${APP}` }, 'host', APP],
      [{ 'x-forwarded-host': ['evil.com', APP] }, 'host', APP],
      [{ 'x-forwarded-proto': 'https, http' }, 'scheme', 'http'],
      [{ 'x-forwarded-proto': ['http', 'https'] }, 'scheme', 'https'],
      [{ 'x-forwarded-method': 'GET, POST' }, 'method', 'POST'],
      [{ 'x-forwarded-method': ['GET', 'post'] }, 'method', 'POST'],
      [{ 'x-forwarded-uri': '/public, /admin' }, 'uri', '/admin'],
      [{ 'x-forwarded-uri': '/public,\t/admin' }, 'uri', '/admin'],
      [{ 'x-forwarded-uri': ['/public', '/admin?x=1'] }, 'uri', '/admin?x=1'],
    ];
    for (const [extra, field, expected] of cases) assert.equal(resolved(traefik(extra))[field], expected, JSON.stringify(extra));
  });

  test('a bare comma belongs to the uri', () => {
    assert.equal(resolved(traefik({ 'x-forwarded-uri': '/api/items?ids=1,2,3' })).uri, '/api/items?ids=1,2,3');
    assert.equal(resolved(traefik({ 'x-forwarded-uri': '/a,/b' })).uri, '/a,/b');
  });

  test('an empty right-most value is BAD, not a fall-back to an earlier one', () => {
    assert.equal(reason(traefik({ 'x-forwarded-host': `${APP},` })), 'bad-host');
    assert.equal(reason(traefik({ 'x-forwarded-proto': 'https, ' })), 'bad-proto');
    assert.equal(reason(traefik({ 'x-forwarded-method': ['GET', ''] })), 'bad-method');
    assert.equal(reason(traefik({ 'x-forwarded-uri': '/a, ' })), 'bad-uri');
  });

  test('an empty array is the same as an absent header', () => {
    assert.equal(resolved(facts({ host: APP, 'x-forwarded-host': [] })).host, APP);
  });

  test('more than one Host header is BAD (RFC 9112 §3.2)', () => {
    assert.equal(reason(facts({ host: [APP, 'evil.com'] }, { peerAddress: OUTSIDER })), 'bad-host');
    assert.equal(resolved(facts({ host: [APP] }, { peerAddress: OUTSIDER })).host, APP);
  });
});

describe('resolveRequest scheme (FWD-09)', () => {
  test('only http and https, case-insensitive', () => {
    for (const [proto, scheme] of [
      ['https', 'https'],
      ['HTTPS', 'https'],
      ['Http', 'http'],
      ['hTtPs', 'https'],
      ['httpS', 'https'],
      [' https ', 'https'],
    ] as const) {
      assert.equal(resolved(traefik({ 'x-forwarded-proto': proto })).scheme, scheme, proto);
    }
    for (const proto of ['javascript', 'ws', 'wss', '', 'ftp', 'https:', 'http://', 'h ttp', 'httpss', 'https\0', 'httpz', 'htt', 'xttp', 'hxtp', 'htxp', 'httx', 'http5', 'HTTP\u017f', '\u0130ttp']) {
      assert.equal(reason(traefik({ 'x-forwarded-proto': proto })), 'bad-proto', JSON.stringify(proto));
    }
  });

  test('without X-Forwarded-Proto the listener decides', () => {
    const headers = { ...traefik().headers, 'x-forwarded-proto': undefined };
    assert.equal(resolved(facts(headers)).scheme, 'http');
    assert.equal(resolved(facts(headers, { encrypted: true })).scheme, 'https');
  });

  test('X-Forwarded-Port is never used', () => {
    const request = resolved(traefik({ 'x-forwarded-proto': 'http', 'x-forwarded-port': '443' }));
    assert.equal(request.scheme, 'http');
    assert.equal(request.port, undefined);
    assert.equal(resolved(traefik({ 'x-forwarded-port': '8443' })).port, undefined);
  });
});

describe('resolveRequest host (FWD-04, FWD-06, FWD-07)', () => {
  const host = (value: string, extra: Record<string, string> = {}) => resolved(traefik({ 'x-forwarded-host': value, ...extra }));
  const hostReason = (value: string) => reason(traefik({ 'x-forwarded-host': value }));

  test('FWD-04: malformed hosts are BAD (bad-host)', () => {
    const malformed = [
      `\0${APP}`,
      `${APP}\0.evil.com`,
      `${APP}@evil.com`,
      `evil.com/${APP}`,
      `evil.com\\${APP}`,
      `${APP}#x`,
      `${APP}?x`,
      'app homelab',
      'app\thomelab',
      `${APP}\r\nx`,
      `${APP}\x7f`,
      `${APP}\x85`,
      'evil.com%2f.homelab.example.com',
      'a;b',
      '.',
      '..',
      `.${APP}`,
      `${APP}..`,
      'a..b',
      `${'a'.repeat(64)}.example.com`,
      `${'a.'.repeat(127)}com`,
      '[',
      '[::1',
      '[::1]x',
      '[fe80::1%25eth0]',
      '[fe80::1%eth0]',
      '[1.2.3.4]',
      '[]',
      '::1',
      '*',
    ];
    for (const value of malformed) assert.equal(hostReason(value), 'bad-host', JSON.stringify(value));
  });

  test('FWD-04: empty host — an explicit empty X-Forwarded-Host is bad-host, an empty Host is missing-host', () => {
    assert.equal(hostReason(''), 'bad-host');
    assert.equal(hostReason(' '), 'bad-host');
    assert.equal(reason(facts({ host: '' }, { peerAddress: OUTSIDER })), 'missing-host');
    assert.equal(reason(facts({}, { peerAddress: OUTSIDER })), 'missing-host');
    assert.equal(reason(facts({}, { peerAddress: PROXY })), 'missing-host');
  });

  test('FWD-04: malformed Host from an untrusted peer is bad-host too', () => {
    for (const value of [`${APP}@evil.com`, `evil.com/${APP}`, `${APP}:`, `${APP}:abc`, `evil.com,${APP}`, `evil.com, ${APP}`]) {
      assert.equal(reason(facts({ host: value }, { peerAddress: OUTSIDER })), 'bad-host', value);
    }
  });

  test('FWD-06: default ports are dropped, others kept, malformed ports are BAD', () => {
    assert.equal(host(`${APP}:443`).port, undefined);
    assert.equal(host(`${APP}:443`).host, APP);
    assert.equal(host(`${APP}:8443`).port, 8443);
    assert.equal(host(`${APP}:80`, { 'x-forwarded-proto': 'http' }).port, undefined);
    assert.equal(host(`${APP}:443`, { 'x-forwarded-proto': 'http' }).port, 443);
    assert.equal(host(`${APP}:80`).port, 80);
    assert.equal(host(`${APP}:65535`).port, 65535);
    assert.equal(host(`${APP}:00443`).port, undefined);
    for (const value of [`${APP}:`, `${APP}:abc`, `${APP}:0`, `${APP}:65536`, `${APP}:99999`, `${APP}:100000`, `${APP}:-1`, `${APP}:+80`, `${APP}: 80`, `${APP}:80:80`, `${APP}:443abc`]) {
      assert.equal(hostReason(value), 'bad-host', value);
    }
  });

  test('FWD-06: IPv6 literals keep their brackets and are canonicalised', () => {
    assert.deepEqual([host('[::1]:8080').host, host('[::1]:8080').port], ['[::1]', 8080]);
    assert.equal(host('[0:0::1]').host, '[::1]');
    assert.equal(host('[2001:DB8::1]:443').host, '[2001:db8::1]');
    assert.equal(host('[2001:DB8::1]:443').port, undefined);
  });

  test('FWD-07: upper case and one trailing dot are normalised', () => {
    for (const value of ['ADMIN.HOMELAB.EXAMPLE.COM', 'admin.homelab.example.com.', 'Admin.HomeLab.Example.Com.:443']) {
      assert.equal(host(value).host, 'admin.homelab.example.com', value);
      assert.equal(host(value).port, undefined, value);
    }
  });

  test('FWD-07: a Cyrillic look-alike becomes its own punycode host', () => {
    assert.equal(host('аdmin.homelab.example.com').host, 'xn--dmin-43d.homelab.example.com');
    assert.equal(host('bücher.example').host, 'xn--bcher-kva.example');
    assert.equal(host('BÜCHER.example.').host, 'xn--bcher-kva.example');
  });

  test('FWD-07: Unicode that folds into another ASCII host is BAD', () => {
    for (const value of ['ａｄｍｉｎ.homelab.example.com', 'admin。homelab。example。com', 'admin．homelab.example.com', 'ad\u00admin.homelab.example.com', '１２７.0.0.1']) {
      assert.equal(hostReason(value), 'bad-host', value);
    }
  });

  test('FWD-07: only canonical dotted-quad IPv4; other numeric spellings are BAD', () => {
    assert.equal(host('10.0.0.5').host, '10.0.0.5');
    assert.equal(host('10.0.0.5:8080').port, 8080);
    for (const value of ['127.1', '2130706433', '0x7f.0.0.1', '0x7f000001', '017.0.0.1', '1.2.3.4.5', '256.0.0.1', 'example.123', 'example.0x1f', '0x']) {
      assert.equal(hostReason(value), 'bad-host', value);
    }
    assert.equal(host('example.0xg').host, 'example.0xg');
    assert.equal(host('123.example').host, '123.example');
  });

  test('names with underscores and hyphens (container service names) are accepted', () => {
    assert.equal(host('my_service').host, 'my_service');
    assert.equal(host('auth-svc.default.svc.cluster.local').host, 'auth-svc.default.svc.cluster.local');
  });
});

describe('resolveRequest method (FWD-14)', () => {
  const method = (value: string) => resolveRequest(traefik({ 'x-forwarded-method': value }), trust);

  test('letters only, upper-cased', () => {
    for (const [value, expected] of [
      ['get', 'GET'],
      ['GET', 'GET'],
      ['Patch', 'PATCH'],
      [' options ', 'OPTIONS'],
      ['PROPFIND', 'PROPFIND'],
      ['CONNECT', 'CONNECT'],
      ['TRACE', 'TRACE'],
      ['A'.repeat(20), 'A'.repeat(20)],
    ] as const) {
      const result = method(value);
      assert.ok(result.ok, value);
      assert.equal(result.request.method, expected);
    }
  });

  test("GETZ is accepted as a token (the brief's all-letters rule; the catalogue's FWD-14 would reject it)", () => {
    // An unknown method matches no method-specific rule, so it can only fall through to the default rule.
    const result = method('GETZ');
    assert.ok(result.ok);
    assert.equal(result.request.method, 'GETZ');
  });

  test('anything but a letters-only token of 1–20 is bad-method', () => {
    for (const value of ['G ET', '', '123', 'GET1', 'GET-X', 'VERSION-CONTROL', 'GET\0', 'GET\r\n', 'A'.repeat(21), 'ГЕТ', 'get;', 'GET/1.1']) {
      const result = method(value);
      assert.ok(!result.ok, JSON.stringify(value));
      assert.equal(result.reason, 'bad-method');
    }
  });

  test('the request method is validated the same way when no forwarded method is trusted', () => {
    assert.equal(reason(facts({ host: APP }, { method: 'G ET', peerAddress: OUTSIDER })), 'bad-method');
    assert.equal(resolved(facts({ host: APP }, { method: 'head', peerAddress: OUTSIDER })).method, 'HEAD');
  });

  test('an untrusted X-Forwarded-Method is ignored', () => {
    assert.equal(resolved(facts({ host: APP, 'x-forwarded-method': 'GET' }, { method: 'POST', peerAddress: OUTSIDER })).method, 'POST');
  });
});

describe('resolveRequest uri', () => {
  test('X-Forwarded-Uri must start with / and hold no CR, LF, NUL, space or control character', () => {
    for (const value of ['public', '', 'http://evil.com/x', `https://${APP}/x`, '*', '/x\r\nSet-Cookie: a=b', '/x\n', '/x\0', '/a b', '/x\ty', '/x\t/', '/x\x7f', '?x=1', '#x']) {
      assert.equal(reason(traefik({ 'x-forwarded-uri': value })), 'bad-uri', JSON.stringify(value));
    }
  });

  test('X-Original-URL with a foreign scheme or no path is bad-uri', () => {
    const headers = { host: APP };
    for (const value of ['javascript:alert(1)', 'ftp://evil.com/x', 'https:/x', 'evil.com/x', 'https://evil.com#x']) {
      assert.deepEqual(resolveRequest(facts({ ...headers, 'x-original-url': value }), ingress), { ok: false, reason: 'bad-uri' }, value);
    }
  });

  test('REDIR-18: X-Forwarded-Uri //evil.com/x is kept as a path; the host still comes from X-Forwarded-Host', () => {
    const request = resolved(traefik({ 'x-forwarded-uri': '//evil.com/x' }));
    assert.equal(request.uri, '//evil.com/x');
    assert.equal(request.host, APP);
  });

  test('a request target that is not origin- or absolute-form is bad-uri', () => {
    for (const url of ['*', 'app.homelab.example.com:443', '', 'x', 'ftp://evil.com/x']) {
      assert.equal(reason(facts({ host: APP }, { url, peerAddress: OUTSIDER })), 'bad-uri', url);
    }
  });

  test('non-ASCII (latin1-decoded) bytes in a path are passed through', () => {
    assert.equal(resolved(traefik({ 'x-forwarded-uri': '/caf\u00e9' })).uri, '/caf\u00e9');
  });
});

describe('resolveRequest client IP (FWD-13)', () => {
  const clientIp = (xff: string | string[] | undefined, peerAddress = PROXY, extra: Record<string, string> = {}) =>
    resolved(facts({ host: APP, 'x-forwarded-for': xff, ...extra }, { peerAddress })).clientIp;

  test('the right-most untrusted hop is the client', () => {
    assert.equal(clientIp('127.0.0.1, 203.0.113.9'), '203.0.113.9');
    assert.equal(clientIp('203.0.113.9, 10.0.0.7'), '203.0.113.9');
    assert.equal(clientIp('1.1.1.1, 203.0.113.9, 10.0.0.7, 10.0.0.8'), '203.0.113.9');
    assert.equal(clientIp(['127.0.0.1', '203.0.113.9, 10.0.0.7']), '203.0.113.9');
    assert.equal(clientIp('203.0.113.9,10.0.0.7'), '203.0.113.9');
  });

  test('an untrusted peer is the client; its X-Forwarded-For is ignored', () => {
    assert.equal(clientIp('10.0.0.7, 127.0.0.1', OUTSIDER), OUTSIDER);
  });

  test('without X-Forwarded-For the trusted peer is the client', () => {
    assert.equal(clientIp(undefined), PROXY);
    assert.equal(clientIp(''), PROXY);
    assert.equal(clientIp(' '), PROXY);
    assert.equal(clientIp([]), PROXY);
  });

  test('garbage hops are untrusted and stop the walk as unknown', () => {
    for (const xff of ['a', '999.1.1.1', '203.0.113.9, a', '1.2.3.4:5678', '[2001:db8::1]', '203.0.113.9,', ', 10.0.0.7', '203.0.113.9,,10.0.0.7', 'fe80::1%eth0', 'unknown', '_hidden']) {
      assert.equal(clientIp(xff), UNKNOWN_CLIENT, xff);
    }
    // Garbage left of the first untrusted hop is never reached.
    assert.equal(clientIp('a, 999.1.1.1, 203.0.113.9'), '203.0.113.9');
  });

  test(`the walk stops after ${MAX_FORWARDED_HOPS} hops`, () => {
    const trustedHop = (i: number) => `10.0.0.${i + 10}`;
    const exactly = Array.from({ length: MAX_FORWARDED_HOPS }, (_, i) => trustedHop(i)).join(', ');
    assert.equal(clientIp(exactly), '10.0.0.10', 'all hops trusted: the left-most');
    assert.equal(clientIp(`203.0.113.9, ${exactly}`), UNKNOWN_CLIENT);
    const fifty = Array.from({ length: 50 }, () => '127.0.0.1').join(', ');
    assert.equal(clientIp(`${fifty}, 203.0.113.9`), '203.0.113.9');
    assert.equal(clientIp(Array.from({ length: 50 }, (_, i) => trustedHop(i))), UNKNOWN_CLIENT);
  });

  test('IPv4-mapped addresses are normalised in the chain and in the peer', () => {
    assert.equal(clientIp('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(clientIp('203.0.113.9, ::ffff:10.0.0.7'), '203.0.113.9');
    assert.equal(clientIp('::FFFF:CB00:7109'), '203.0.113.9');
    assert.equal(clientIp(undefined, '::ffff:10.0.0.2'), '10.0.0.2');
    assert.equal(clientIp(undefined, '::ffff:198.51.100.7'), '198.51.100.7');
    assert.equal(clientIp('2001:DB8::1'), '2001:db8::1');
  });

  test('X-Real-IP is never read', () => {
    assert.equal(clientIp('203.0.113.9', PROXY, { 'x-real-ip': '127.0.0.1' }), '203.0.113.9');
    assert.equal(clientIp(undefined, PROXY, { 'x-real-ip': '1.2.3.4' }), PROXY);
  });

  test('an unparsable peer is unknown', () => {
    assert.equal(resolved(facts({ host: APP }, { peerAddress: '' })).clientIp, UNKNOWN_CLIENT);
  });
});

describe('resolveRequest properties', () => {
  const headerNames = [
    'host',
    'x-forwarded-host',
    'x-forwarded-proto',
    'x-forwarded-uri',
    'x-forwarded-method',
    'x-forwarded-for',
    'x-original-url',
    'x-original-method',
    'forwarded',
    'x_forwarded_host',
  ];
  const fragment = fc.constantFrom(
    APP,
    'evil.com',
    ',',
    ', ',
    ':',
    ':443',
    '[',
    ']',
    '::1',
    '::ffff:',
    '10.0.0.7',
    '203.0.113.9',
    '/',
    '//',
    '\\',
    '@',
    '#',
    '?',
    '%2f',
    '.',
    ' ',
    '\t',
    '\r\n',
    '\0',
    'https',
    'http://',
    'GET',
    'get',
    'а',
    'ａ',
    '。',
    'xn--',
    '0x7f',
  );
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.array(fragment, { maxLength: 8 }).map((parts) => parts.join('')));
  const value = fc.oneof(fc.constant(undefined), text, fc.array(text, { maxLength: 3 }));
  const headers = fc.dictionary(fc.constantFrom(...headerNames), value);
  const peer = fc.oneof(fc.constantFrom(PROXY, '::ffff:10.0.0.2', OUTSIDER, '', 'garbage', '::1'), fc.string({ maxLength: 20 }));
  const input = fc.record({
    method: fc.oneof(fc.constantFrom('GET', 'post'), fc.string({ maxLength: 25 })),
    url: fc.oneof(fc.constantFrom('/', '/oauth2/auth', 'http://evil.com/x', '*'), text),
    headers,
    peerAddress: peer,
    encrypted: fc.boolean(),
  });

  test('never throws, and every accepted request satisfies the invariants', () => {
    fc.assert(
      fc.property(input, (request) => {
        const result = resolveRequest(request, trust);
        if (!result.ok) {
          assert.match(result.reason, /^(bad-host|bad-proto|bad-method|bad-uri|missing-host)$/);
          return;
        }
        const { method, scheme, host, port, uri, clientIp, forwarded } = result.request;
        assert.match(method, /^[A-Z]{1,20}$/);
        assert.match(scheme, /^https?$/);
        assert.match(host, /^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])$/);
        assert.equal(new URL(`${scheme}://${host}${port === undefined ? '' : `:${port}`}/`).hostname, host);
        if (port !== undefined) assert.ok(Number.isInteger(port) && port >= 1 && port <= 65535 && port !== (scheme === 'https' ? 443 : 80));
        assert.ok(uri.startsWith('/'));
        assert.doesNotMatch(uri, /[\0-\x20\x7f]/);
        assert.ok(clientIp === UNKNOWN_CLIENT || /^[0-9a-f:.]+$/.test(clientIp), clientIp);
        if (!trust.isTrusted(request.peerAddress)) assert.equal(forwarded, false);
      }),
      { numRuns: 5000 },
    );
  });

  test('an untrusted peer gets the same answer with or without forwarded headers', () => {
    fc.assert(
      fc.property(input, (request) => {
        const untrusted = { ...request, peerAddress: OUTSIDER };
        const bare = { ...untrusted, headers: { host: request.headers.host } };
        assert.deepEqual(resolveRequest(untrusted, trust), resolveRequest(bare, trust));
      }),
      { numRuns: 2000 },
    );
  });
});
