/**
 * The trusted-proxy boundary: which peers may speak for the browser, and the original request rebuilt from
 * what they say (`X-Forwarded-*`, `X-Original-*`). Pure and allocation-light, because it runs on every
 * forward-auth check; it never throws on what a client or proxy sends.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { isAsciiWord } from '../ascii.js';
import { DEFAULT_TRUSTED_PROXIES, parseCidr } from '../config/address.js';
import { GenerationalCache } from '../session/cache.js';

/** Decides whether a TCP peer is a proxy whose `X-Forwarded-*` headers are believed. */
export interface ProxyTrust {
  /** True when `peerAddress` (as `socket.remoteAddress` gives it) is in a trusted range. */
  isTrusted(peerAddress: string): boolean;
  /**
   * How trusted proxies describe the original request: `x-forwarded` (Traefik, Caddy, nginx) or
   * `x-original` (ingress-nginx's X-Original-URL / X-Original-Method). Only that family is read.
   */
  readonly style?: 'x-forwarded' | 'x-original';
}

/** Entries in each generation of the memos of parsed texts below. */
const MEMO_SIZE = 1024;
/** Longest text a memo keeps; longer ones are parsed every time. */
const MEMO_KEY_LENGTH = 300;
/** Trusted peers whose client chains are memoized at once. */
const PEER_MEMOS = 16;

/**
 * The answers of a pure parser for the few texts that recur on every check (the proxy's addresses and
 * hosts, its client chains), in a bounded cache: hostile texts cannot grow it, and a flood of distinct
 * texts only costs the unmemoized price. `null` stands for "refused".
 */
class Memo<T> {
  readonly #answers = new GenerationalCache<T | null>(MEMO_SIZE);
  // The last text asked about, and its answer: a proxy sends the same few values check after check, and
  // comparing with the last text costs less than hashing a fresh string for the map.
  #lastText: string | undefined;
  #lastAnswer: T | undefined;

  constructor(readonly parse: (text: string) => T | undefined) {}

  get(text: string): T | undefined {
    if (text === this.#lastText) return this.#lastAnswer;
    if (text.length > MEMO_KEY_LENGTH) return this.parse(text);
    const known = this.#answers.get(text);
    let answer: T | undefined;
    if (known !== undefined) answer = known ?? undefined;
    else {
      answer = this.parse(text);
      this.#answers.set(text, answer ?? null);
    }
    this.#lastText = text;
    this.#lastAnswer = answer;
    return answer;
  }
}

const httpAuthorities = new Memo<Authority>((text) => parseAuthority(text, 80));
const httpsAuthorities = new Memo<Authority>((text) => parseAuthority(text, 443));
/** The client address for each trust, peer and `X-Forwarded-For` value. */
const clientMemos = new WeakMap<ProxyTrust, Map<string, Memo<string>>>();

const TRUST_NOBODY: ProxyTrust = Object.freeze({ isTrusted: () => false });

/**
 * Builds the trusted-proxy check once at start-up.
 *
 * `reverseProxy: false` trusts nobody. `reverseProxy: true` with no `trusted` ranges trusts
 * {@link DEFAULT_TRUSTED_PROXIES} (loopback and private networks). IPv4-mapped IPv6 peers
 * (`::ffff:10.0.0.5`) are matched as the IPv4 address they carry, and `::ffff:a.b.c.d/n` ranges (n ≥ 96) as
 * the IPv4 range they denote.
 * @throws TypeError when an entry of `trusted` is not an address or CIDR range.
 */
export function createProxyTrust(options: { reverseProxy: boolean; trusted: readonly string[]; headers?: 'x-forwarded' | 'x-original' }): ProxyTrust {
  if (!options.reverseProxy) return TRUST_NOBODY;
  const style = options.headers ?? 'x-forwarded';
  const list = new BlockList();
  for (const entry of options.trusted.length === 0 ? DEFAULT_TRUSTED_PROXIES : options.trusted) {
    const cidr = parseCidr(entry);
    if (cidr === undefined) throw new TypeError(`'${entry}' is not an IP address or CIDR range`);
    const mapped = cidr.family === 'ipv6' && cidr.prefix >= 96 ? normalizeAddress(cidr.address) : undefined;
    if (mapped !== undefined && isIPv4(mapped)) list.addSubnet(mapped, cidr.prefix - 96, 'ipv4');
    else list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  // BlockList#check builds a SocketAddress per call (about 1 µs on Node 20), and the hot path asks about the
  // same few proxies and clients over and over: memoized by the text as received.
  const verdicts = new Memo((text) => {
    const address = normalizeAddress(text);
    return address !== undefined && list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
  });
  return Object.freeze({
    style,
    isTrusted: (peerAddress: string): boolean => typeof peerAddress === 'string' && verdicts.get(peerAddress) === true,
  });
}

/** What the http layer knows about an incoming forward-auth request, copied from `IncomingMessage`. */
export interface RequestFacts {
  /** `request.method`. */
  method: string;
  /** `request.url`: origin-form `path?query`, or absolute-form `http://host/path?query`. */
  url: string;
  /** `request.headers` (`IncomingHttpHeaders`): lower-case names, duplicates joined with `, `. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** `socket.remoteAddress`. */
  peerAddress: string;
  /** True on a TLS listener (always false for now). */
  encrypted: boolean;
}

/** The original request as the browser made it, rebuilt and validated. */
export interface ResolvedRequest {
  /** Upper-case method token: `X-Forwarded-Method` (else `X-Original-Method`) when trusted, else the request's. */
  method: string;
  scheme: 'http' | 'https';
  /** Lower-case hostname without trailing dot or port; IDN as punycode; IPv6 literals in brackets. */
  host: string;
  /** The port, only when explicit and not the scheme's default. */
  port: number | undefined;
  /** Original `path?query`, always starting with `/`. */
  uri: string;
  /**
   * Right-most untrusted address of the `X-Forwarded-For` + peer chain when the peer is trusted, else the
   * peer; IPv4-mapped IPv6 normalised to IPv4. `unknown` (RFC 7239 §6.2) when that hop is not an address.
   */
  clientIp: string;
  /** True when the peer is trusted and at least one `X-Forwarded-*` / `X-Original-*` header was used. */
  forwarded: boolean;
}

/** Why a request could not be resolved. Stable kebab-case codes. */
export type ResolveFailure = 'bad-host' | 'bad-proto' | 'bad-method' | 'bad-uri' | 'missing-host';

/** The outcome of {@link resolveRequest}. */
export type ResolveResult = { ok: true; request: ResolvedRequest } | { ok: false; reason: ResolveFailure };

/** The client address reported when the right-most untrusted hop is not an IP address (RFC 7239 §6.2). */
export const UNKNOWN_CLIENT = 'unknown';

/** The most `X-Forwarded-For` entries walked, right to left. */
export const MAX_FORWARDED_HOPS = 20;

const MAX_METHOD_LENGTH = 20;

/**
 * Rebuilds the original request from the forward-auth call.
 *
 * `X-Forwarded-Host/Proto/Uri/Method` (and `X-Original-URL`/`X-Original-Method`, as ingress-nginx sends)
 * are read only when the peer is trusted; otherwise they are ignored entirely. Of a repeated header the
 * right-most value wins: it is the one the trusted proxy wrote. `Forwarded` (RFC 7239),
 * `X-Forwarded-Prefix`, `X-Forwarded-Port`, `X-Replaced-Path`, `X-Real-IP`, `X-HTTP-Method-Override` and
 * underscore spellings are never read. Without a trusted `X-Forwarded-Host` the host comes from `Host`;
 * without a trusted `X-Forwarded-Uri` the uri comes from the request target, whose authority (absolute-form)
 * is never used.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-7.2 (Host)
 * @see https://www.rfc-editor.org/rfc/rfc9112#section-3.2 (request target forms)
 */
export function resolveRequest(facts: RequestFacts, trust: ProxyTrust): ResolveResult {
  const headers = facts.headers;
  const trusted = trust.isTrusted(facts.peerAddress);
  let forwarded = false;

  let methodText = facts.method;
  let schemeText: string | undefined;
  let hostText: string | undefined;
  let uriText: string | undefined;
  let originOnly = false;
  if (trusted && trust.style === 'x-original') {
    // ingress-nginx passes every client header through unchanged, X-Forwarded-* included, so only the
    // X-Original-* headers it writes itself are read: X-Original-URL is `$scheme://$http_host$request_uri`.
    const method = lastValue(headers['x-original-method']);
    if (method !== undefined) methodText = method;
    uriText = lastUriValue(headers['x-original-url']);
    const absolute = uriText === undefined ? null : /^(https?):\/\/([^/?#]+)/i.exec(uriText);
    if (absolute !== null) {
      schemeText = absolute[1];
      hostText = absolute[2];
    } else if (uriText === undefined) {
      // Not an auth subrequest: ingress-nginx's own route to gatehouse's /oauth2/ endpoints, where it
      // writes X-Forwarded-Proto itself. Without it the scheme would read http, and /oauth2/start would
      // send an https browser to https again, for ever. Only the scheme is taken; the host is Host.
      schemeText = lastValue(headers['x-forwarded-proto']);
    }
    forwarded = method !== undefined || uriText !== undefined || schemeText !== undefined;
  } else if (trusted) {
    // X-Original-* are never read here (FWD-12): a client behind Traefik or Caddy could send them.
    const method = lastValue(headers['x-forwarded-method']);
    if (method !== undefined) methodText = method;
    schemeText = lastValue(headers['x-forwarded-proto']);
    hostText = lastValue(headers['x-forwarded-host']);
    uriText = lastUriValue(headers['x-forwarded-uri']);
    originOnly = uriText !== undefined;
    forwarded = method !== undefined || schemeText !== undefined || hostText !== undefined || uriText !== undefined;
  }

  const method = parseMethod(methodText);
  if (method === undefined) return { ok: false, reason: 'bad-method' };

  let scheme: 'http' | 'https';
  if (schemeText === undefined) scheme = facts.encrypted ? 'https' : 'http';
  else {
    const parsed = parseScheme(schemeText);
    if (parsed === undefined) return { ok: false, reason: 'bad-proto' };
    scheme = parsed;
  }

  if (hostText === undefined) {
    const host = headers.host;
    if (Array.isArray(host)) {
      // RFC 9112 §3.2: a request with more than one Host is invalid; Node drops duplicates, so an array here
      // means the caller built the facts from somewhere that did not.
      if (host.length !== 1) return { ok: false, reason: 'bad-host' };
      hostText = host[0];
    } else hostText = host;
    if (hostText === undefined || hostText === '') return { ok: false, reason: 'missing-host' };
  }
  const authority = (scheme === 'https' ? httpsAuthorities : httpAuthorities).get(hostText);
  if (authority === undefined) return { ok: false, reason: 'bad-host' };

  // X-Forwarded-Uri is `$request_uri` by every convention, so it is a path; only X-Original-URL and the
  // request target may be absolute.
  const uri = originOnly && uriText?.charCodeAt(0) !== 0x2f ? undefined : originForm(uriText ?? facts.url);
  if (uri === undefined) return { ok: false, reason: 'bad-uri' };

  return {
    ok: true,
    request: {
      method,
      scheme,
      host: authority.host,
      port: authority.port,
      uri,
      clientIp: trusted ? clientOf(headers['x-forwarded-for'], facts.peerAddress, trust) : (normalizeAddress(facts.peerAddress) ?? UNKNOWN_CLIENT),
      forwarded,
    },
  };
}

/** The right-most element of a comma-separated header (RFC 9110 §5.3), OWS-trimmed. */
function lastValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[value.length - 1] : value;
  if (text === undefined) return undefined;
  return trimOws(text, lastComma(text, text.length - 1) + 1, text.length);
}

/**
 * The index of the last `,` at or before `from`, else -1. Node 20's `String#lastIndexOf` calls into the
 * runtime (about 35 ns) on every check, while `indexOf` is a fast builtin: most values hold no comma at all.
 */
function lastComma(text: string, from: number): number {
  if (text.indexOf(',') === -1) return -1;
  let index = from;
  while (index >= 0 && text.charCodeAt(index) !== 0x2c) index--;
  return index;
}

/**
 * Like {@link lastValue}, but a bare `,` belongs to the URI (`/items?ids=1,2`); only `,` followed by
 * whitespace separates values, which is how Node and proxies fold repeated headers. A request target never
 * contains whitespace, so the split is unambiguous.
 */
function lastUriValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[value.length - 1] : value;
  if (text === undefined) return undefined;
  let comma = lastComma(text, text.length - 1);
  while (comma > 0 && !isOws(text.charCodeAt(comma + 1))) comma = lastComma(text, comma - 1);
  return trimOws(text, comma !== -1 && isOws(text.charCodeAt(comma + 1)) ? comma + 1 : 0, text.length);
}

function trimOws(text: string, start: number, end: number): string {
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function parseMethod(text: string): string | undefined {
  const length = text.length;
  if (length === 0 || length > MAX_METHOD_LENGTH) return undefined;
  let lower = false;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x61 && code <= 0x7a) lower = true;
    else if (code < 0x41 || code > 0x5a) return undefined;
  }
  return lower ? text.toUpperCase() : text;
}

/** `http` or `https` in any letter case. */
function parseScheme(text: string): 'http' | 'https' | undefined {
  return isAsciiWord(text, 'https') ? 'https' : isAsciiWord(text, 'http') ? 'http' : undefined;
}

interface Authority {
  readonly host: string;
  readonly port: number | undefined;
}

/**
 * Parses `host[:port]` from `Host` or `X-Forwarded-Host` strictly: only letters, digits, `-`, `_`, `.`,
 * non-ASCII (IDN) or a bracketed IPv6 literal, then an optional port 1–65535.
 */
function parseAuthority(text: string, defaultPort: number): Authority | undefined {
  const length = text.length;
  // 253 for the name, 1 for a trailing dot, 6 for ':65535'; IPv6 literals are shorter.
  if (length === 0 || length > 260) return undefined;
  let host: string | undefined;
  let portStart: number;
  if (text.charCodeAt(0) === 0x5b /* [ */) {
    const close = text.indexOf(']');
    if (close === -1) return undefined;
    host = parseIpv6Literal(text.slice(1, close));
    portStart = close + 1;
  } else {
    const colon = text.indexOf(':');
    portStart = colon === -1 ? length : colon;
    host = parseHostname(text, portStart);
  }
  if (host === undefined) return undefined;
  if (portStart === length) return { host, port: undefined };
  // FWD-06: `host:` and `host:abc` are malformed, not "no port".
  if (text.charCodeAt(portStart) !== 0x3a /* : */) return undefined;
  const port = parsePort(text, portStart + 1);
  if (port === undefined) return undefined;
  return { host, port: port === defaultPort ? undefined : port };
}

function parsePort(text: string, start: number): number | undefined {
  const length = text.length - start;
  if (length === 0 || length > 5) return undefined;
  let port = 0;
  for (let i = start; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    port = port * 10 + digit;
  }
  return port === 0 || port > 65535 ? undefined : port;
}

function parseIpv6Literal(inner: string): string | undefined {
  // A zone id (`%eth0`) is meaningless beyond this host and `%` would be percent-decoded by URL parsers.
  if (!isIPv6(inner) || inner.includes('%')) return undefined;
  try {
    return new URL(`http://[${inner}]/`).hostname;
  } catch {
    return undefined;
  }
}

/** Validates and normalises `text.slice(0, end)` as a DNS name or dotted-quad IPv4 address. */
function parseHostname(text: string, end: number): string | undefined {
  // FWD-07: one trailing dot names the same host (Caddy CVE-2026-27588), so it must match the same rules.
  if (end > 1 && text.charCodeAt(end - 1) === 0x2e /* . */) end--;
  if (end === 0 || end > 253) return undefined;
  let upper = false;
  let nonAscii = false;
  let labelLength = 0;
  for (let i = 0; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x2e /* . */) {
      if (labelLength === 0) return undefined;
      labelLength = 0;
      continue;
    }
    if (++labelLength > 63) return undefined;
    if ((code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x5f) continue;
    if (code >= 0x41 && code <= 0x5a) upper = true;
    // C0/C1 controls, space, DEL, and every delimiter that would change what a URL parser calls the host
    // (`@ / \ # ? % :` and friends) are refused: Authelia CVE-2021-32637.
    else if (code >= 0xa0) nonAscii = true;
    else return undefined;
  }
  if (labelLength === 0) return undefined;
  const name = end === text.length ? text : text.slice(0, end);
  const lower = upper ? name.toLowerCase() : name;
  if (nonAscii) return toPunycode(lower);
  // An ASCII `xn--` label must be valid punycode, or WHATWG URL (and so every redirect built from this host)
  // would reject what the policy accepted.
  if (lower.includes('xn--') && toPunycode(lower) !== lower) return undefined;
  // WHATWG treats a name whose last label is numeric as IPv4 and rewrites `127.1` or `0x7f.1`; only the
  // canonical dotted quad is accepted, so the proxy's routing and our policy see the same host.
  if (endsInNumber(lower) && !isIPv4(lower)) return undefined;
  return lower;
}

function endsInNumber(name: string): boolean {
  const start = name.lastIndexOf('.') + 1;
  let i = start;
  let hex = false;
  if (name.length - start >= 2 && name.charCodeAt(start) === 0x30 && name.charCodeAt(start + 1) === 0x78 /* 0x */) {
    hex = true;
    i += 2;
  }
  for (; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 0x30 && code <= 0x39) continue;
    if (hex && code >= 0x61 && code <= 0x66) continue;
    return false;
  }
  return true;
}

/**
 * IDN to punycode via WHATWG URL. Every label that was ASCII must come out unchanged and every non-ASCII
 * label must become an `xn--` label: UTS #46 would otherwise fold full-width letters or U+3002 into plain
 * ASCII (`ａｄｍｉｎ`, `admin。example。com`), letting a look-alike match another host's rules (FWD-07).
 */
function toPunycode(name: string): string | undefined {
  let ascii: string;
  try {
    ascii = new URL(`http://${name}/`).hostname;
  } catch {
    return undefined;
  }
  const input = name.split('.');
  const output = ascii.split('.');
  if (input.length !== output.length) return undefined;
  for (let i = 0; i < input.length; i++) {
    const before = input[i] ?? '';
    const after = output[i] ?? '';
    if (isAscii(before) ? before !== after : !after.startsWith('xn--')) return undefined;
  }
  return ascii;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * The `path?query` of a request target or `X-Forwarded-Uri`/`X-Original-URL`: origin-form as is,
 * absolute-form reduced to its path and query (FWD-15: its authority never overrides the host).
 */
function originForm(target: string): string | undefined {
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    const scheme = absoluteSchemeLength(target);
    if (scheme === 0) return undefined;
    start = scheme;
    while (start < target.length) {
      const code = target.charCodeAt(start);
      if (code === 0x2f || code === 0x3f /* ? */) break;
      if (code === 0x23 /* # */) return undefined;
      start++;
    }
    if (start === target.length) return '/';
  }
  for (let i = start; i < target.length; i++) {
    const code = target.charCodeAt(i);
    // CR/LF/NUL would split headers or truncate strings downstream; no request target holds a space or
    // control character (RFC 9112 §3.2).
    if (code <= 0x20 || code === 0x7f) return undefined;
  }
  if (start === 0) return target;
  return target.charCodeAt(start) === 0x3f ? `/${target.slice(start)}` : target.slice(start);
}

/** Length of a leading `http://` or `https://` (any case), else 0. */
function absoluteSchemeLength(text: string): number {
  const colon = text.indexOf('://');
  if (colon !== 4 && colon !== 5) return 0;
  const scheme = text.slice(0, colon).toLowerCase();
  return scheme === 'http' || scheme === 'https' ? colon + 3 : 0;
}

/** {@link walkForwardedFor}, memoized per trust for a single `X-Forwarded-For` value. */
function clientOf(value: string | string[] | undefined, peer: string, trust: ProxyTrust): string {
  if (Array.isArray(value)) return walkForwardedFor(value, peer, trust);
  let byPeer = clientMemos.get(trust);
  if (byPeer === undefined) {
    byPeer = new Map();
    clientMemos.set(trust, byPeer);
  }
  let memo = byPeer.get(peer);
  if (memo === undefined) {
    // Trusted peers are the proxies: few. Should there be more (a trusted network full of clients), the
    // map starts over, so memory stays bounded at PEER_MEMOS memos.
    if (byPeer.size >= PEER_MEMOS) byPeer.clear();
    memo = new Memo((text) => walkForwardedFor(text, peer, trust));
    byPeer.set(peer, memo);
  }
  return memo.get(value ?? '') ?? UNKNOWN_CLIENT;
}

/**
 * FWD-13: walks `X-Forwarded-For` right to left from the (trusted) peer, skipping trusted proxies; the first
 * untrusted hop is the client. Entries left of it were written by the client and are never believed
 * (authentik CVE-2024-47070). A hop that is not an address stops the walk as `unknown`.
 */
function walkForwardedFor(value: string | string[] | undefined, peer: string, trust: ProxyTrust): string {
  let client: string | undefined;
  let hops = 0;
  const parts = value === undefined ? 0 : Array.isArray(value) ? value.length : 1;
  for (let p = parts - 1; p >= 0; p--) {
    const text = (Array.isArray(value) ? value[p] : value) ?? '';
    if (trimOws(text, 0, text.length) === '') continue;
    let end = text.length;
    for (;;) {
      const comma = end === 0 ? -1 : text.lastIndexOf(',', end - 1);
      if (++hops > MAX_FORWARDED_HOPS) return UNKNOWN_CLIENT;
      const entry = trimOws(text, comma + 1, end);
      const address = normalizeAddress(entry);
      if (address === undefined) return UNKNOWN_CLIENT;
      client = address;
      if (!trust.isTrusted(address)) return address;
      if (comma === -1) break;
      end = comma;
    }
  }
  // Every hop is a trusted proxy: the left-most one is the closest we know to the client.
  return client ?? normalizeAddress(peer) ?? UNKNOWN_CLIENT;
}

/** A bare IPv4 or IPv6 address, lower-case, with IPv4-mapped IPv6 (`::ffff:10.0.0.5`) reduced to IPv4. */
function normalizeAddress(text: string): string | undefined {
  if (isIPv4(text)) return text;
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let address = text.toLowerCase();
  if (!address.startsWith('::ffff:')) {
    if (!address.includes('ffff')) return address;
    // Rare spellings of a mapped address (`0:0:0:0:0:ffff:a00:5`): let URL canonicalise them first.
    try {
      address = new URL(`http://[${address}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
    if (!address.startsWith('::ffff:')) return address;
  }
  const tail = address.slice(7);
  if (isIPv4(tail)) return tail;
  const colon = tail.indexOf(':');
  if (colon < 1 || colon > 4 || tail.length - colon - 1 < 1 || tail.length - colon - 1 > 4) return address;
  const high = Number.parseInt(tail.slice(0, colon), 16);
  const low = Number.parseInt(tail.slice(colon + 1), 16);
  if (Number.isNaN(high) || Number.isNaN(low)) return address;
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}
