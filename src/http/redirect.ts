/**
 * Open-redirect defence for every place the gateway sends a browser on: `rd` on login start and sign-out,
 * the stored return-to URL, the post-login redirect. Pure, allocation-light and total: hostile input yields
 * `undefined`, never an exception.
 */
import { isIPv4 } from 'node:net';

/**
 * The hosts an absolute redirect may target (oauth2-proxy `whitelist_domains`).
 *
 * Entries: `app.example.com` (that host only), `.example.com` or `*.example.com` (the domain and every
 * subdomain), each optionally with `:8443` (that port only) or `:*` (any port). Without a port only the
 * scheme's default port is allowed. IP addresses are allowed only as exact entries (`10.0.0.5`, `[::1]`).
 */
export interface RedirectPolicy {
  readonly allowedDomains: readonly string[];
}

/** The longest redirect target accepted, in UTF-16 code units (before and after serialisation). */
export const MAX_REDIRECT_LENGTH = 8192;

interface DomainRule {
  /** Canonical host (WHATWG serialisation: lower-case, punycode, canonical IP). */
  readonly host: string;
  /** `.${host}` for subdomain entries, else undefined. */
  readonly suffix: string | undefined;
  /** undefined: the scheme's default port only; 0: any port (`:*`); else that port. */
  readonly port: number | undefined;
}

const ANY_PORT = 0;

class ParsedRedirectPolicy implements RedirectPolicy {
  readonly allowedDomains: readonly string[];
  readonly #rules: readonly DomainRule[];

  constructor(allowedDomains: readonly string[], rules: readonly DomainRule[]) {
    this.allowedDomains = allowedDomains;
    this.#rules = rules;
    Object.freeze(this);
  }

  static rulesOf(policy: RedirectPolicy): readonly DomainRule[] {
    if (#rules in policy) return policy.#rules;
    // A policy not built by createRedirectPolicy: parse on every call, skipping entries that do not parse.
    const rules: DomainRule[] = [];
    for (const entry of policy.allowedDomains) {
      const rule = parseDomainRule(entry);
      if (rule !== undefined) rules.push(rule);
    }
    return rules;
  }
}

/**
 * Parses an allow-list once, at start-up.
 * @throws TypeError when an entry is not `[.|*.]host[:port|:*]`.
 */
export function createRedirectPolicy(allowedDomains: readonly string[]): RedirectPolicy {
  const rules = allowedDomains.map((entry) => {
    const rule = parseDomainRule(entry);
    if (rule === undefined) throw new TypeError(`'${entry}' is not a redirect domain such as .example.com or app.example.com:8443`);
    return rule;
  });
  return new ParsedRedirectPolicy(Object.freeze([...allowedDomains]), Object.freeze(rules));
}

function parseDomainRule(entry: string): DomainRule | undefined {
  if (typeof (entry as unknown) !== 'string') return undefined;
  let text = entry.trim().toLowerCase();
  let subdomains = false;
  if (text.startsWith('*.')) {
    subdomains = true;
    text = text.slice(2);
  } else if (text.startsWith('.')) {
    subdomains = true;
    text = text.slice(1);
  }
  let hostEnd = text.length;
  if (text.startsWith('[')) hostEnd = text.indexOf(']') + 1;
  else if (text.includes(':')) hostEnd = text.indexOf(':');
  if (hostEnd <= 0) return undefined;
  let port: number | undefined;
  if (hostEnd < text.length) {
    if (text.charCodeAt(hostEnd) !== 0x3a /* : */) return undefined;
    const portText = text.slice(hostEnd + 1);
    if (portText === '*') port = ANY_PORT;
    else {
      if (!/^\d{1,5}$/.test(portText)) return undefined;
      port = Number(portText);
      if (port < 1 || port > 65535) return undefined;
    }
  }
  const hostText = text.slice(0, hostEnd);
  if (!(hostText.startsWith('[') ? /^\[[0-9a-f:.]+\]$/.test(hostText) : isEntryHostname(hostText))) return undefined;
  let host: string;
  try {
    const url = new URL(`http://${hostText}/`);
    if (url.host !== url.hostname) return undefined;
    host = url.hostname;
  } catch {
    return undefined;
  }
  if (host.endsWith('.')) return undefined;
  const ip = isIpHost(host);
  if (ip && subdomains) return undefined;
  return { host, suffix: subdomains ? `.${host}` : undefined, port };
}

/** Letters, digits, `-`, `.`, `_` or non-ASCII (an IDN the URL parser turns into punycode). */
function isEntryHostname(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const ok = (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2e || code === 0x5f || code >= 0xa0;
    if (!ok) return false;
  }
  return text.length > 0;
}

function isIpHost(hostname: string): boolean {
  return hostname.startsWith('[') || isIPv4(hostname);
}

/**
 * Returns the target if it is a safe place to send the browser, else `undefined`.
 *
 * Relative targets (`/path?query#fragment`, printable ASCII only) are returned unchanged. Absolute
 * `http:`/`https:` URLs on an allowed host and port are returned in their WHATWG serialisation. Everything
 * else is refused: other schemes, protocol-relative and backslash tricks, userinfo, control characters,
 * non-canonical host spellings, over-long targets, and query values that are themselves URLs.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.2 (Location)
 * @see https://url.spec.whatwg.org/#concept-basic-url-parser
 */
export function validateRedirect(target: string, policy: RedirectPolicy): string | undefined {
  // REDIR-20: a query parser may hand over an array or object for `rd[]=…`; refuse rather than coerce.
  if (typeof (target as unknown) !== 'string') return undefined;
  const length = target.length;
  if (length === 0 || length > MAX_REDIRECT_LENGTH) return undefined;
  const first = target.charCodeAt(0);
  if (first === 0x2f /* / */) return validateRelative(target);
  if (first === 0x68 || first === 0x48 /* h H */) return validateAbsolute(target, ParsedRedirectPolicy.rulesOf(policy));
  return undefined;
}

/**
 * A path on the current origin. The path is inspected raw and once percent-decoded (never twice: REDIR-04),
 * and refused if either view has an empty or all-space segment (`//`, `/ /`), a dot segment (`/./`, `/../`), a
 * backslash or a control character, because some browser, proxy or application on the way normalises one into the other
 * and ends up with `//evil.com` (oauth2-proxy CVE-2020-5233, CVE-2020-11053, CVE-2020-4037).
 *
 * `/%68ttp://evil.com` is refused for its `//`, not for the `%68`: a target that starts with one `/` and
 * has no empty segment is a path on this origin however it is spelled (`/http:/evil.com` is a page here),
 * and a relative reference starting with `/` can never be re-read as a scheme. `/%252F%252Fevil.com`
 * decodes once to `/%2F%2Fevil.com`, a single odd segment, and is accepted as such.
 */
function validateRelative(target: string): string | undefined {
  const length = target.length;
  // `/` + `/` or `\` is protocol-relative to every browser; `\` is refused anywhere below.
  let segmentLength = 0;
  let segmentDots = 0;
  let segmentSpaces = 0;
  let i = 1;
  for (; i < length; i++) {
    let code = target.charCodeAt(i);
    if (code === 0x3f /* ? */ || code === 0x23 /* # */) break;
    if (code === 0x25 /* % */) {
      code = decodeByte(target, i);
      if (code === -1) return undefined;
      i += 2;
    } else if (!isPrintableAscii(code)) return undefined;
    if (code < 0x20 || code === 0x7f || code === 0x5c /* \ */) return undefined;
    if (code === 0x2f) {
      // oauth2-proxy's `[/\\](?:[\s\v]*|\.{1,2})[/\\]`, applied to the decoded path as well.
      if (segmentLength === segmentSpaces || (segmentDots === segmentLength && segmentLength <= 2)) return undefined;
      segmentLength = 0;
      segmentDots = 0;
      segmentSpaces = 0;
    } else {
      segmentLength++;
      if (code === 0x2e /* . */) segmentDots++;
      else if (code === 0x20) segmentSpaces++;
    }
  }
  if (segmentLength > 0 && segmentDots === segmentLength && segmentLength <= 2) return undefined;
  const queryStart = i;
  for (; i < length; i++) if (!isPrintableAscii(target.charCodeAt(i))) return undefined;
  if (queryStart < length && target.charCodeAt(queryStart) === 0x3f) {
    const fragment = target.indexOf('#', queryStart);
    if (hasDangerousQueryValue(target, queryStart + 1, fragment === -1 ? length : fragment)) return undefined;
  }
  return target;
}

/** Visible ASCII except `\`: no space, no control character, no non-ASCII. */
function isPrintableAscii(code: number): boolean {
  return code > 0x20 && code < 0x7f && code !== 0x5c;
}

/** The byte `%XX` at `index` encodes, or -1 when it is not a valid escape. */
function decodeByte(text: string, index: number): number {
  const high = hexValue(text.charCodeAt(index + 1));
  const low = hexValue(text.charCodeAt(index + 2));
  return high === -1 || low === -1 ? -1 : (high << 4) | low;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function validateAbsolute(target: string, rules: readonly DomainRule[]): string | undefined {
  const length = target.length;
  let authorityStart: number;
  if (startsWithIgnoringCase(target, 'https://')) authorityStart = 8;
  else if (startsWithIgnoringCase(target, 'http://')) authorityStart = 7;
  // `https:evil.com`, `https:/evil.com` and `https:\\evil.com` all mean https://evil.com to a browser
  // (REDIR-11); only the plain spelling is accepted so the text and the parse cannot disagree.
  else return undefined;

  let authorityEnd = length;
  let hostEnd = -1;
  let nonAscii = false;
  for (let i = authorityStart; i < length; i++) {
    const code = target.charCodeAt(i);
    // Control characters are stripped or rejected differently by each URL parser; a backslash is a path
    // separator to WHATWG but not to RFC 3986 (mod_auth_openidc CVE-2021-39191).
    if (code <= 0x20 || code === 0x7f || code === 0x5c) return undefined;
    if (i < authorityEnd) {
      if (code === 0x2f || code === 0x3f || code === 0x23) authorityEnd = i;
      // REDIR-07: userinfo (`allowed.host@evil.com`) is how most look-alike redirects are built.
      else if (code === 0x40 /* @ */) return undefined;
      else if (code === 0x3a /* : */ && target.charCodeAt(authorityStart) !== 0x5b) hostEnd = i;
      else if (code === 0x5d /* ] */) hostEnd = i + 1;
      else if (code > 0x7f) nonAscii = true;
    }
  }
  if (hostEnd === -1 || hostEnd > authorityEnd) hostEnd = authorityEnd;
  // An empty port (`host:`) means the default to WHATWG; refused like the other malformed ports (FWD-06).
  if (hostEnd === authorityStart || target.charCodeAt(authorityEnd - 1) === 0x3a) return undefined;

  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  const hostname = url.hostname;
  // The host as written must be the host as parsed: this refuses numeric IPv4 spellings (`0x7f.1`,
  // `2130706433`), percent-encoded hosts (`evil.com%2F.allowed`), and anything else a second parser could read
  // differently. Non-ASCII hosts go through UTS #46 mapping, so they may only match an exact entry.
  if (!nonAscii && !equalsIgnoringAsciiCase(target, authorityStart, hostEnd, hostname)) return undefined;
  const scheme = url.protocol;
  const defaultPort = scheme === 'https:' ? 443 : 80;
  const port = url.port === '' ? defaultPort : Number(url.port);
  if (port === 0) return undefined;
  if (!isAllowed(hostname, port, defaultPort, nonAscii, rules)) return undefined;
  const search = url.search;
  if (search.length > 1 && hasDangerousQueryValue(search, 1, search.length)) return undefined;
  const href = url.href;
  return href.length > MAX_REDIRECT_LENGTH ? undefined : href;
}

function isAllowed(hostname: string, port: number, defaultPort: number, exactOnly: boolean, rules: readonly DomainRule[]): boolean {
  const ip = isIpHost(hostname);
  for (const rule of rules) {
    if (!portMatches(rule.port, port, defaultPort)) continue;
    if (hostname === rule.host) return true;
    const suffix = rule.suffix;
    if (suffix === undefined || exactOnly || ip || !hostname.endsWith(suffix)) continue;
    // The dot in `suffix` is the label boundary that `evilexample.com` lacks (CVE-2021-21291).
    const prefixLength = hostname.length - suffix.length;
    // An IDN label left of the allowed domain is a homograph candidate (`аpp.example.com` in Cyrillic):
    // operators who want one list it exactly.
    if (hostname.startsWith('xn--')) continue;
    const idn = hostname.indexOf('.xn--');
    if (idn !== -1 && idn < prefixLength) continue;
    return true;
  }
  return false;
}

function portMatches(rulePort: number | undefined, port: number, defaultPort: number): boolean {
  return rulePort === ANY_PORT || port === (rulePort ?? defaultPort);
}

function startsWithIgnoringCase(text: string, lowerPrefix: string): boolean {
  if (text.length < lowerPrefix.length) return false;
  for (let i = 0; i < lowerPrefix.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0x41 && code <= 0x5a) code |= 0x20;
    if (code !== lowerPrefix.charCodeAt(i)) return false;
  }
  return true;
}

function equalsIgnoringAsciiCase(text: string, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let code = text.charCodeAt(start + i);
    if (code >= 0x41 && code <= 0x5a) code |= 0x20;
    if (code !== lower.charCodeAt(i)) return false;
  }
  return true;
}

const DANGEROUS_VALUE_PREFIXES = ['http:', 'https:', '//', '/\\', '\\', 'javascript:', 'data:', 'vbscript:'];
const DANGEROUS_PREFIX_LENGTH = 11;

/**
 * REDIR-22 (optional hardening, as vouch-proxy's `errDangerQS`): a redirect whose query carries another URL
 * (`/?rd=https://evil.com`, `…?next=//evil.com`) is refused, because the page it lands on may forward
 * there. Each value is percent-decoded once; leading spaces and controls and embedded tab/CR/LF are skipped
 * as browsers do before reading a scheme. The cost is that a legitimate `?q=http://…` is refused too.
 */
function hasDangerousQueryValue(text: string, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    let paramEnd = text.indexOf('&', i);
    if (paramEnd === -1 || paramEnd > end) paramEnd = end;
    const equals = text.indexOf('=', i);
    const valueStart = equals !== -1 && equals < paramEnd ? equals + 1 : i;
    if (isDangerousValue(text, valueStart, paramEnd)) return true;
    i = paramEnd + 1;
  }
  return false;
}

function isDangerousValue(text: string, start: number, end: number): boolean {
  let head = '';
  for (let i = start; i < end && head.length < DANGEROUS_PREFIX_LENGTH; i++) {
    let code = text.charCodeAt(i);
    if (code === 0x25 /* % */) {
      const byte = decodeByte(text, i);
      if (byte !== -1) {
        code = byte;
        i += 2;
      }
    } else if (code === 0x2b /* + */) code = 0x20;
    if (code === 0x09 || code === 0x0a || code === 0x0d) continue;
    if (head === '' && code <= 0x20) continue;
    if (code >= 0x41 && code <= 0x5a) code |= 0x20;
    head += String.fromCharCode(code);
  }
  if (head === '') return false;
  for (const prefix of DANGEROUS_VALUE_PREFIXES) if (head.startsWith(prefix)) return true;
  return false;
}
