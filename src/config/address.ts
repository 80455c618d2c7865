/** Listener addresses and network ranges as operators write them. */
import { isIP } from 'node:net';

/** A host and port to listen on. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port`, `:port` (every interface), `[::1]:port`, optionally prefixed with `http://` as
 * oauth2-proxy's `http_address` allows.
 * @returns the address, or `undefined` when the text is not one.
 */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const bare = text.startsWith('http://') ? text.slice('http://'.length) : text;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/]*)):(\d{1,5})$/.exec(bare);
  if (match === null) return undefined;
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  if (host !== '' && isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) return undefined;
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** True for loopback hosts (the only place the development provider may listen). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A network range. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Parses `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128). */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The ranges trusted by default when `reverseProxy` is on and no proxies are named. */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
];
