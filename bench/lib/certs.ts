// Certificates for the bench's loopback upstream: an ECDSA P-256 CA and leaf made with the openssl
// CLI, so the upstream's handshake cost is small and the proxies' own per-tunnel cost shows.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchCerts {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Writes ca.crt, leaf.crt and leaf.key into dir for the given DNS names. */
export function makeBenchCerts(dir: string, names: readonly string[]): BenchCerts {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/CN=acr-egress bench CA',
      '-days',
      '2',
      '-out',
      'ca.crt',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key'], dir);
  openssl(['req', '-new', '-key', 'leaf.key', '-subj', `/CN=${names[0] ?? 'localhost'}`, '-out', 'leaf.csr'], dir);
  writeFileSync(
    join(dir, 'leaf.ext'),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
      '',
    ].join('\n'),
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      'leaf.crt',
      '-extfile',
      'leaf.ext',
    ],
    dir,
  );
  const caFile = join(dir, 'ca.crt');
  return { caFile, certFile: join(dir, 'leaf.crt'), keyFile: join(dir, 'leaf.key'), ca: readFileSync(caFile, 'utf8') };
}
