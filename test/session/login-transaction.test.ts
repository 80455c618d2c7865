/** Login-transaction cookies: one per login, named after its state, sealed, short-lived and capped. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createKeyring } from '../../src/crypto/keyring.js';
import { COOKIE_BUDGET, parseCookies, type CookieAttributes, type CookieJar } from '../../src/session/cookies.js';
import { createLoginTransactions, MAX_TRANSACTIONS, type LoginTransaction, type ReturnToReplaced } from '../../src/session/login-transaction.js';

const SECRET = 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf';
const OTHER_SECRET = randomBytes(32).toString('base64url');
const NOW = 1_800_000_000;
const ATTRIBUTES: CookieAttributes = { domain: '.homelab.example.com', path: '/oauth2/', maxAge: 900, secure: true, httpOnly: true, sameSite: 'lax' };

const transactions = createLoginTransactions({ cookieName: '_gatehouse', secrets: [SECRET] });

function transaction(overrides: Partial<LoginTransaction> = {}): LoginTransaction {
  return {
    state: randomBytes(32).toString('base64url'),
    nonce: randomBytes(32).toString('base64url'),
    codeVerifier: randomBytes(32).toString('base64url'),
    returnTo: 'https://app.homelab.example.com/dashboard',
    redirectUri: 'https://app.homelab.example.com/oauth2/callback',
    expiresAt: NOW + 900,
    ...overrides,
  };
}

/** The jar a browser holds after storing `setCookies` on top of `jar` (Max-Age=0 deletes). */
function store(setCookies: readonly string[], jar: CookieJar = new Map()): CookieJar {
  const next: CookieJar = new Map([...jar].map(([name, values]) => [name, [...values]]));
  for (const setCookie of setCookies) {
    const pair = setCookie.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    if (setCookie.includes('; Max-Age=0;')) next.delete(pair.slice(0, eq));
    else next.set(pair.slice(0, eq), [pair.slice(eq + 1)]);
  }
  return next;
}

function begin(tx: LoginTransaction, jar: CookieJar = new Map(), now = NOW): { jar: CookieJar; setCookies: string[] } {
  const setCookies = transactions.begin(tx, jar, ATTRIBUTES, now);
  return { jar: store(setCookies, jar), setCookies };
}

describe('begin and find', () => {
  test('the transaction is found with its own state, and comes back whole', () => {
    const tx = transaction();
    const { jar, setCookies } = begin(tx);
    assert.equal(setCookies.length, 1);
    const name = transactions.cookieName(tx.state);
    assert.match(name, /^_gatehouse_tx_[A-Za-z0-9_-]{12}$/);
    assert.ok(setCookies[0]!.startsWith(`${name}=v1.`));
    assert.ok(setCookies[0]!.endsWith('; Path=/oauth2/; Domain=.homelab.example.com; Max-Age=900; HttpOnly; Secure; SameSite=Lax'), setCookies[0]);
    assert.deepEqual(transactions.find(tx.state, jar, NOW), tx);
  });

  test('with secure cookies: a __Host- name, host-only on Path=/ and Secure, whatever attributes are passed (SESS-08)', () => {
    const hostOnly = createLoginTransactions({ cookieName: '_gatehouse', secrets: [SECRET], hostOnly: true });
    const tx = transaction();
    const setCookies = hostOnly.begin(tx, new Map(), ATTRIBUTES, NOW);
    const name = hostOnly.cookieName(tx.state);
    assert.match(name, /^__Host-_gatehouse_tx_[A-Za-z0-9_-]{12}$/);
    assert.ok(setCookies[0]!.endsWith('; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Lax'), setCookies[0]);
    assert.doesNotMatch(setCookies[0]!, /Domain=/);
    assert.deepEqual(hostOnly.find(tx.state, store(setCookies), NOW), tx);
    assert.equal(hostOnly.end(tx.state, ATTRIBUTES), `${name}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax`);
    // A cookie of the same login without the prefix (which a sibling domain could set) is not read.
    const unprefixed = store(transactions.begin(tx, new Map(), ATTRIBUTES, NOW));
    assert.equal(hostOnly.find(tx.state, unprefixed, NOW), undefined);
  });

  test('the sealed cookie does not show the state, nonce, verifier or return URL', () => {
    const tx = transaction({ returnTo: 'https://app.homelab.example.com/secret-path' });
    const [setCookie] = begin(tx).setCookies;
    for (const value of [tx.state, tx.nonce, tx.codeVerifier, 'secret-path']) assert.ok(!setCookie!.includes(value), value);
  });

  test('OIDC-05: another state finds nothing, even with a transaction cookie present', () => {
    const { jar } = begin(transaction());
    assert.equal(transactions.find(randomBytes(32).toString('base64url'), jar, NOW), undefined);
    assert.equal(transactions.find('', jar, NOW), undefined);
  });

  test('OIDC-06: no cookie, no transaction', () => {
    const tx = transaction();
    assert.equal(transactions.find(tx.state, new Map(), NOW), undefined);
  });

  test('OIDC-08: a transaction is not found at or after its expiry', () => {
    const tx = transaction();
    const { jar } = begin(tx);
    assert.deepEqual(transactions.find(tx.state, jar, tx.expiresAt - 1), tx);
    assert.equal(transactions.find(tx.state, jar, tx.expiresAt), undefined);
    assert.equal(transactions.find(tx.state, jar, tx.expiresAt + 3600), undefined);
  });

  test('OIDC-09: a tampered cookie (every character changed in turn) is not found', () => {
    const tx = transaction();
    const { jar } = begin(tx);
    const name = transactions.cookieName(tx.state);
    const value = jar.get(name)![0]!;
    for (let index = 3; index < value.length; index += 7) {
      const replacement = value[index] === 'A' ? 'B' : 'A';
      const forged = new Map(jar);
      forged.set(name, [value.slice(0, index) + replacement + value.slice(index + 1)]);
      assert.equal(transactions.find(tx.state, forged, NOW), undefined, `character ${index}`);
    }
  });

  test("OIDC-09: another deployment's secret, or a session-purpose seal, is not found", () => {
    const tx = transaction();
    const name = transactions.cookieName(tx.state);
    const plaintext = Buffer.from(JSON.stringify({ ...tx, codeVerifier: 'attacker-known-verifier' }));
    const foreign = createLoginTransactions({ cookieName: '_gatehouse', secrets: [OTHER_SECRET] });
    assert.equal(transactions.find(tx.state, store(foreign.begin(tx, new Map(), ATTRIBUTES, NOW)), NOW), undefined);
    assert.equal(transactions.find(tx.state, new Map([[name, [createKeyring([OTHER_SECRET], 'login-transaction').seal(plaintext, name)]]]), NOW), undefined);
    assert.equal(transactions.find(tx.state, new Map([[name, [createKeyring([SECRET], 'session').seal(plaintext, name)]]]), NOW), undefined);
  });

  test("OIDC-09: one login's cookie value under another login's name is not found (the name is bound)", () => {
    const a = transaction();
    const b = transaction();
    const jarA = begin(a).jar;
    const jarB = begin(b).jar;
    const valueA = jarA.get(transactions.cookieName(a.state))!;
    const swapped: CookieJar = new Map([[transactions.cookieName(b.state), valueA]]);
    assert.equal(transactions.find(b.state, swapped, NOW), undefined);
    assert.deepEqual(transactions.find(b.state, jarB, NOW), b);
  });

  test('a sealed transaction whose inner state differs from the state asked for is not found', () => {
    const asked = randomBytes(32).toString('base64url');
    const name = transactions.cookieName(asked);
    const inner = transaction();
    const sealed = createKeyring([SECRET], 'login-transaction').seal(Buffer.from(JSON.stringify(inner)), name);
    assert.equal(transactions.find(asked, new Map([[name, [sealed]]]), NOW), undefined);
  });

  test('malformed sealed contents are not found', () => {
    const tx = transaction();
    const name = transactions.cookieName(tx.state);
    const keyring = createKeyring([SECRET], 'login-transaction');
    const shapes: unknown[] = ['not json', null, [], 42, {}, { ...tx, nonce: 1 }, { ...tx, expiresAt: String(tx.expiresAt) }, { ...tx, codeVerifier: undefined }, { ...tx, redirectUri: null }];
    for (const shape of shapes) {
      const bytes = Buffer.from(typeof shape === 'string' ? shape : JSON.stringify(shape));
      assert.equal(transactions.find(tx.state, new Map([[name, [keyring.seal(bytes, name)]]]), NOW), undefined, JSON.stringify(shape));
    }
  });

  test('a transaction cookie sent twice is not found', () => {
    const tx = transaction();
    const { jar } = begin(tx);
    const name = transactions.cookieName(tx.state);
    const value = jar.get(name)![0]!;
    assert.equal(transactions.find(tx.state, parseCookies(`${name}=${value}; ${name}=${value}`), NOW), undefined);
  });

  test('end clears exactly the cookie of that state', () => {
    const tx = transaction();
    const cleared = transactions.end(tx.state, ATTRIBUTES);
    assert.equal(cleared, `${transactions.cookieName(tx.state)}=; Path=/oauth2/; Domain=.homelab.example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax`);
  });
});

describe(`SESS-06: at most MAX_TRANSACTIONS (${MAX_TRANSACTIONS}) transactions per browser`, () => {
  test('several tabs can log in at once, up to the cap, each finding its own transaction', () => {
    let jar: CookieJar = new Map();
    const started: LoginTransaction[] = [];
    for (let index = 0; index < MAX_TRANSACTIONS; index += 1) {
      const tx = transaction({ expiresAt: NOW + 900 + index });
      started.push(tx);
      jar = begin(tx, jar, NOW + index).jar;
    }
    for (const tx of started) assert.deepEqual(transactions.find(tx.state, jar, NOW + 10), tx);
  });

  test('beyond the cap the oldest transactions are evicted and the new one is kept', () => {
    let jar: CookieJar = new Map();
    const started: LoginTransaction[] = [];
    for (let index = 0; index < 10; index += 1) {
      const tx = transaction({ expiresAt: NOW + 900 + index });
      started.push(tx);
      jar = begin(tx, jar, NOW + index).jar;
      const held = [...jar.keys()].filter((name) => name.startsWith('_gatehouse_tx_'));
      assert.ok(held.length <= MAX_TRANSACTIONS, `${held.length} held after ${index + 1} logins`);
    }
    const found = started.filter((tx) => transactions.find(tx.state, jar, NOW + 20) !== undefined);
    assert.deepEqual(found, started.slice(-MAX_TRANSACTIONS));
  });

  test('200 abandoned transaction cookies (forged, expired or valid) are bounded to the cap and the new login works', () => {
    const names: string[] = [];
    let header = '';
    for (let index = 0; index < 200; index += 1) {
      const tx = transaction({ expiresAt: index % 3 === 0 ? NOW - 10 : NOW + 100 + index });
      const name = transactions.cookieName(tx.state);
      names.push(name);
      const value = index % 3 === 1 ? 'v1.forged' : store(transactions.begin(tx, new Map(), ATTRIBUTES, NOW)).get(name)![0]!;
      header += `${name}=${value}; `;
    }
    // Each answer clears a bounded number (so it stays small enough for a proxy's header buffer); the
    // flood drains over the following logins, and every new login works meanwhile.
    let jar = parseCookies(header);
    let held = Infinity;
    for (let login = 0; login < 40 && held > MAX_TRANSACTIONS; login += 1) {
      const fresh = transaction();
      const setCookies = transactions.begin(fresh, jar, ATTRIBUTES, NOW);
      assert.ok(setCookies.length <= 9, `${setCookies.length} Set-Cookie values in one answer`);
      jar = store(setCookies, jar);
      assert.deepEqual(transactions.find(fresh.state, jar, NOW), fresh);
      held = [...jar.keys()].filter((name) => name.startsWith('_gatehouse_tx_')).length;
    }
    assert.ok(held <= MAX_TRANSACTIONS, `${held} transaction cookies left`);
  });

  test('expired and forged transaction cookies are cleared first, live ones kept', () => {
    const live = transaction({ expiresAt: NOW + 500 });
    const expired = transaction({ expiresAt: NOW - 1 });
    let jar = begin(live).jar;
    jar = store(transactions.begin(expired, new Map(), ATTRIBUTES, NOW - 900), jar);
    jar.set('_gatehouse_tx_forgedforged', ['v1.AAAA']);
    const fresh = transaction();
    const setCookies = transactions.begin(fresh, jar, ATTRIBUTES, NOW);
    const cleared = setCookies.filter((setCookie) => setCookie.includes('Max-Age=0')).map((setCookie) => setCookie.slice(0, setCookie.indexOf('=')));
    assert.deepEqual(cleared.sort(), [transactions.cookieName(expired.state), '_gatehouse_tx_forgedforged'].sort());
    const after = store(setCookies, jar);
    assert.deepEqual(transactions.find(live.state, after, NOW), live);
    assert.deepEqual(transactions.find(fresh.state, after, NOW), fresh);
  });
});

describe('the cookie fits the browser limit of 4096 bytes, name and attributes included', () => {
  /** The transactions codec with `__Host-` names, recording every replaced return target. */
  function recording(): { codec: ReturnType<typeof createLoginTransactions>; replaced: ReturnToReplaced[] } {
    const replaced: ReturnToReplaced[] = [];
    const codec = createLoginTransactions({ cookieName: '_gatehouse', secrets: [SECRET], hostOnly: true, onReturnToReplaced: (event) => replaced.push(event) });
    return { codec, replaced };
  }

  test('a return target that fits is sealed unchanged, without a replacement', () => {
    const { codec, replaced } = recording();
    const tx = transaction({ returnTo: `/search?q=${'a'.repeat(2400)}` });
    const setCookies = codec.begin(tx, new Map(), ATTRIBUTES, NOW);
    assert.ok(setCookies[0]!.length <= COOKIE_BUDGET, `${setCookies[0]!.length} bytes`);
    assert.deepEqual(codec.find(tx.state, store(setCookies), NOW), tx);
    assert.deepEqual(replaced, []);
  });

  test('a relative return target too long for the cookie is replaced by /, and the login still completes', () => {
    for (const length of [3000, 3500, 8192]) {
      const { codec, replaced } = recording();
      const tx = transaction({ returnTo: `/search?q=${'a'.repeat(length - 10)}` });
      const setCookies = codec.begin(tx, new Map(), ATTRIBUTES, NOW);
      assert.equal(setCookies.length, 1);
      assert.ok(setCookies[0]!.length <= COOKIE_BUDGET && setCookies[0]!.length < 4096, `${setCookies[0]!.length} bytes for a ${length}-character target`);
      assert.deepEqual(codec.find(tx.state, store(setCookies), NOW), { ...tx, returnTo: '/' });
      assert.deepEqual(replaced, [{ length, replacement: '/' }]);
    }
  });

  test('an absolute return target too long for the cookie is replaced by its origin root', () => {
    const { codec, replaced } = recording();
    const tx = transaction({ returnTo: `https://app.homelab.example.com:8443/search?q=${'a'.repeat(3500)}` });
    const setCookies = codec.begin(tx, new Map(), ATTRIBUTES, NOW);
    assert.ok(setCookies[0]!.length <= COOKIE_BUDGET);
    assert.equal(codec.find(tx.state, store(setCookies), NOW)?.returnTo, 'https://app.homelab.example.com:8443/');
    assert.deepEqual(replaced, [{ length: tx.returnTo.length, replacement: 'https://app.homelab.example.com:8443/' }]);
  });

  test('without Domain, with a long cookie name and callback URL, the budget still holds', () => {
    const codec = createLoginTransactions({ cookieName: `_${'c'.repeat(60)}`, secrets: [SECRET] });
    const tx = transaction({ returnTo: `/${'p'.repeat(4000)}`, redirectUri: `https://${'h'.repeat(200)}.example.com/oauth2/callback` });
    const setCookies = codec.begin(tx, new Map(), { ...ATTRIBUTES, sameSite: 'none' }, NOW);
    assert.ok(setCookies[0]!.length <= COOKIE_BUDGET, `${setCookies[0]!.length} bytes`);
    assert.equal(codec.find(tx.state, store(setCookies), NOW)?.returnTo, '/');
  });
});

describe('SESS-06: "oldest" is the order the logins started, not their expiry second', () => {
  test('five logins within one second: the first is dropped and the four newest are kept', () => {
    let jar: CookieJar = new Map();
    const started: LoginTransaction[] = [];
    for (let index = 0; index < MAX_TRANSACTIONS + 1; index += 1) {
      const tx = transaction({ expiresAt: NOW + 900 });
      started.push(tx);
      jar = begin(tx, jar, NOW).jar;
    }
    const found = started.filter((tx) => transactions.find(tx.state, jar, NOW) !== undefined);
    assert.deepEqual(found, started.slice(1));
  });

  test('many logins in one second, in any jar order: always the newest MAX_TRANSACTIONS remain', () => {
    let jar: CookieJar = new Map();
    const started: LoginTransaction[] = [];
    for (let index = 0; index < 12; index += 1) {
      const tx = transaction({ expiresAt: NOW + 900 });
      started.push(tx);
      jar = begin(tx, jar, NOW).jar;
      // The browser may send its cookies in any order.
      jar = new Map([...jar].reverse());
    }
    const found = started.filter((tx) => transactions.find(tx.state, jar, NOW) !== undefined);
    assert.deepEqual(found, started.slice(-MAX_TRANSACTIONS));
  });

  test('a shorter expiry configured later does not make a newer login look older', () => {
    let jar: CookieJar = new Map();
    const started: LoginTransaction[] = [];
    for (let index = 0; index < MAX_TRANSACTIONS + 1; index += 1) {
      const tx = transaction({ expiresAt: NOW + 900 - index * 60 });
      started.push(tx);
      jar = begin(tx, jar, NOW).jar;
    }
    const found = started.filter((tx) => transactions.find(tx.state, jar, NOW) !== undefined);
    assert.deepEqual(found, started.slice(1));
  });

  test('transactions sealed without a sequence are still found, and rank below those with one, by expiry', () => {
    const keyring = createKeyring([SECRET], 'login-transaction');
    const legacy = [transaction({ expiresAt: NOW + 500 }), transaction({ expiresAt: NOW + 400 })];
    let jar: CookieJar = new Map(legacy.map((tx) => [transactions.cookieName(tx.state), [keyring.seal(Buffer.from(JSON.stringify(tx)), transactions.cookieName(tx.state))]]));
    for (const tx of legacy) assert.deepEqual(transactions.find(tx.state, jar, NOW), tx);
    const newer = [transaction({ expiresAt: NOW + 100 }), transaction({ expiresAt: NOW + 100 }), transaction({ expiresAt: NOW + 100 })];
    for (const tx of newer) jar = begin(tx, jar, NOW).jar;
    // Five were started; the legacy one expiring first is the one dropped.
    assert.equal(transactions.find(legacy[1]!.state, jar, NOW), undefined);
    for (const tx of [legacy[0]!, ...newer]) assert.deepEqual(transactions.find(tx.state, jar, NOW), tx);
  });

  test('a sealed sequence that is not a non-negative integer makes the transaction unreadable', () => {
    const keyring = createKeyring([SECRET], 'login-transaction');
    const tx = transaction();
    const name = transactions.cookieName(tx.state);
    for (const sequence of [-1, 1.5, '3', null, Number.MAX_SAFE_INTEGER + 2]) {
      const sealed = keyring.seal(Buffer.from(JSON.stringify({ ...tx, sequence })), name);
      assert.equal(transactions.find(tx.state, new Map([[name, [sealed]]]), NOW), undefined, String(sequence));
    }
  });
});
