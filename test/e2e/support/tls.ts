/**
 * A throw-away certificate authority and a `*.homelab.example.com` leaf certificate for nginx, made with the
 * `openssl` command line (node:crypto cannot sign X.509 certificates). Lives only in the test's temp dir.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Files of the test PKI. */
export interface TestPki {
  /** PEM of the CA certificate, for clients that verify. */
  readonly caPem: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** True when the `openssl` command is available. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Creates a CA and a leaf for `*.homelab.example.com` (P-256, one day) in `dir`. */
export function createTestPki(dir: string): TestPki {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ecKey = (name: string) => run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name);
  ecKey('ca.key');
  run('req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=gatehouse e2e test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ecKey('leaf.key');
  run('req', '-new', '-key', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=*.homelab.example.com');
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:*.homelab.example.com,DNS:homelab.example.com\n');
  run('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '1', '-extfile', 'leaf.ext');
  return { caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), certPath: join(dir, 'leaf.crt'), keyPath: join(dir, 'leaf.key') };
}
