/**
 * IP addresses and CIDR ranges for source rules and CEL's `cidr()`: parsed once into numbers, matched
 * with integer arithmetic. Hand-written because node's BlockList builds an object per check (about 1 µs)
 * and this runs for every request a source rule sees. IPv4-mapped IPv6 (`::ffff:10.0.0.5`) is matched as
 * IPv4 (FWD-13).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** A parsed address: IPv4 as one 32-bit number, IPv6 as eight 16-bit groups. */
export type ParsedIp = { family: 4; value: number } | { family: 6; groups: readonly number[] };

function parseV4(text: string): number | undefined {
  if (!isIPv4(text)) return undefined;
  const [a = 0, b = 0, c = 0, d = 0] = text.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function parseV6(text: string): number[] | undefined {
  if (!isIPv6(text)) return undefined;
  let body = text;
  const zone = body.indexOf('%');
  if (zone !== -1) body = body.slice(0, zone);
  let tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  const maybeV4 = body.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    const v4 = parseV4(maybeV4);
    if (v4 === undefined) return undefined;
    tail = [v4 >>> 16, v4 & 0xffff];
    body = `${body.slice(0, lastColon + 1)}${tail.length === 2 ? '0:0' : ''}`;
  }
  const [head = '', rest] = body.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...(rest === undefined ? [] : Array<string>(Math.max(0, missing)).fill('0')), ...right].map((group) => parseInt(group, 16));
  if (groups.length !== 8 || groups.some((group) => Number.isNaN(group))) return undefined;
  if (tail.length === 2) {
    groups[6] = tail[0] ?? 0;
    groups[7] = tail[1] ?? 0;
  }
  return groups;
}

/** Parses an address; IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): ParsedIp | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const groups = parseV6(text);
  if (groups === undefined) return undefined;
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return { family: 4, value: (((groups[6] ?? 0) << 16) | (groups[7] ?? 0)) >>> 0 };
  }
  return { family: 6, groups };
}

/** A network range. */
export interface CidrRange {
  readonly text: string;
  contains(ip: ParsedIp): boolean;
}

/**
 * Parses `10.0.0.0/8`, `fd00::/8`, `::ffff:10.0.0.0/104` or a bare address.
 * @throws TypeError when the text is not a range.
 */
export function parseCidrRange(text: string): CidrRange {
  const [address = '', prefixText, extra] = text.trim().split('/');
  const ip = parseIp(address);
  if (ip === undefined || extra !== undefined || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))) {
    throw new TypeError(`'${text}' is not an IP address or CIDR range`);
  }
  const mappedV6 = ip.family === 4 && isIPv6(address);
  let prefix = prefixText === undefined ? (ip.family === 4 ? 32 : 128) : Number(prefixText);
  // An explicit prefix of an IPv4-mapped range counts the 96 bits of the mapping.
  if (mappedV6 && prefixText !== undefined) prefix -= 96;
  if (prefix < 0 || prefix > (ip.family === 4 ? 32 : 128)) throw new TypeError(`'${text}' has an impossible prefix length`);
  if (ip.family === 4) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const network = (ip.value & mask) >>> 0;
    return { text, contains: (candidate) => candidate.family === 4 && ((candidate.value & mask) >>> 0) === network };
  }
  const groups = ip.groups;
  return {
    text,
    contains: (candidate) => {
      if (candidate.family !== 6) return false;
      let bits = prefix;
      for (let index = 0; index < 8 && bits > 0; index++) {
        const take = Math.min(16, bits);
        const mask = (0xffff << (16 - take)) & 0xffff;
        if (((candidate.groups[index] ?? 0) & mask) !== ((groups[index] ?? 0) & mask)) return false;
        bits -= take;
      }
      return true;
    },
  };
}
