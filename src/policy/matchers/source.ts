/** Source matching: the client address (resolved right-to-left through trusted proxies) against CIDRs. */
import { parseCidrRange, parseIp } from '../ip.js';

/** Matches a client address. */
export type SourceMatcher = (ip: string) => boolean;

/**
 * Compiles CIDR ranges. An address that cannot be parsed (an unknown client) never matches.
 * @throws TypeError for an entry that is not a range.
 */
export function compileSources(ranges: readonly string[]): SourceMatcher {
  const compiled = ranges.map(parseCidrRange);
  return (ip) => {
    const parsed = parseIp(ip);
    return parsed !== undefined && compiled.some((range) => range.contains(parsed));
  };
}
