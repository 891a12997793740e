// Squid with ssl_bump, the peer of an inspected pull: it bumps (decrypts and re-encrypts) the
// registry's login server with leaves from its own CA, splices everything else (the blob host), and
// refuses writes with a method ACL, as pullOnly does. Certificates are minted by Debian's
// security_file_certgen helper and cached in memory, as a deployed squid-openssl would.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Proc } from './proc.js';
import { runSquid, squidCommonLines, writeHostsFile } from './squid.js';

const CERTGEN = '/usr/lib/squid/security_file_certgen';

export interface BumpOptions {
  dir: string;
  port: number;
  hosts: Readonly<Record<string, string>>;
  ports: readonly number[];
  /** The one name to bump; the others are spliced. */
  bump: string;
  /** The CA squid signs leaves with: certificate and key in one PEM. */
  caPem: string;
  /** Roots squid trusts upstream (the registry's CA). */
  upstreamCaFile: string;
  nofile: number;
}

function bumpConf(o: BumpOptions): string {
  return [
    `http_port 127.0.0.1:${o.port} ssl-bump tls-cert=${join(o.dir, 'ca.pem')} generate-host-certificates=on dynamic_cert_mem_cache_size=16MB`,
    `sslcrtd_program ${CERTGEN} -s ${join(o.dir, 'ssl_db')} -M 16MB`,
    'sslcrtd_children 4 startup=1 idle=1',
    `tls_outgoing_options cafile=${o.upstreamCaFile}`,
    `acl bench_hosts dstdomain ${Object.keys(o.hosts).join(' ')}`,
    `acl bench_ports port ${o.ports.join(' ')}`,
    'acl CONNECT method CONNECT',
    'acl writes method PUT POST PATCH DELETE',
    'acl step1 at_step SslBump1',
    `acl bumped ssl::server_name ${o.bump}`,
    'ssl_bump peek step1',
    'ssl_bump bump bumped',
    'ssl_bump splice all',
    'http_access allow CONNECT bench_hosts bench_ports',
    'http_access deny writes',
    'http_access allow bench_hosts bench_ports',
    'http_access deny all',
    ...squidCommonLines(o),
    '',
  ].join('\n');
}

function openUp(path: string): void {
  chmodSync(path, statSync(path).isDirectory() ? 0o777 : 0o666);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) openUp(join(path, e));
}

export async function startSquidBump(o: BumpOptions): Promise<Proc> {
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(join(o.dir, 'ca.pem'), o.caPem);
  writeHostsFile(o);
  execFileSync(CERTGEN, ['-c', '-s', join(o.dir, 'ssl_db'), '-M', '16MB'], { stdio: 'ignore' });
  // Squid and its helper drop to their own user: everything here must be theirs to read and write.
  openUp(o.dir);
  for (let d = dirname(o.dir); d !== dirname(d); d = dirname(d)) chmodSync(d, statSync(d).mode | 0o111);
  writeFileSync(join(o.dir, 'squid.conf'), bumpConf(o));
  return runSquid('squid-bump', o);
}
