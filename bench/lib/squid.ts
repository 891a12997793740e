// Debian's Squid as a CONNECT proxy equivalent to the gateway's allowlist: CONNECT only to the bench's
// host names and ports, names from a hosts_file, no cache, an access log, everything in one temp dir.
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnProc, waitForPort, type Proc } from './proc.js';

export const SQUID_BIN = '/usr/sbin/squid';

export interface SquidOptions {
  dir: string;
  port: number;
  /** name -> loopback address; the only names CONNECT may reach. */
  hosts: Readonly<Record<string, string>>;
  ports: readonly number[];
  nofile: number;
}

/** The part of squid.conf both bench Squids share: names from a hosts file, no cache, logs in o.dir. */
export function squidCommonLines(o: { dir: string; nofile: number }): string[] {
  return [
    `hosts_file ${join(o.dir, 'hosts')}`,
    'dns_nameservers 127.0.0.1',
    'cache deny all',
    'cache_mem 8 MB',
    `access_log stdio:${join(o.dir, 'access.log')}`,
    `cache_log ${join(o.dir, 'cache.log')}`,
    'cache_store_log none',
    'logfile_rotate 0',
    `pid_filename ${join(o.dir, 'squid.pid')}`,
    `coredump_dir ${o.dir}`,
    'netdb_filename none',
    'pinger_enable off',
    `max_filedescriptors ${o.nofile}`,
    'shutdown_lifetime 1 seconds',
  ];
}

/** The hosts_file: the only names the bench Squids resolve, each to its loopback address. */
export function writeHostsFile(o: { dir: string; hosts: Readonly<Record<string, string>> }): void {
  writeFileSync(
    join(o.dir, 'hosts'),
    Object.entries(o.hosts)
      .map(([name, ip]) => `${ip} ${name}\n`)
      .join(''),
  );
}

/** Runs `squid -N -f o.dir/squid.conf` in the foreground; resolves once it accepts connections. */
export async function runSquid(name: string, o: { dir: string; port: number; nofile: number }): Promise<Proc> {
  const proc = spawnProc(name, SQUID_BIN, ['-N', '-f', join(o.dir, 'squid.conf')], {
    logFile: join(o.dir, 'squid.out'),
    nofile: o.nofile,
  });
  await waitForPort('127.0.0.1', o.port, 20_000, proc, join(o.dir, 'cache.log'));
  return proc;
}

export function squidConf(o: SquidOptions): string {
  return [
    `http_port 127.0.0.1:${o.port}`,
    `acl bench_hosts dstdomain ${Object.keys(o.hosts).join(' ')}`,
    `acl bench_ports port ${o.ports.join(' ')}`,
    'acl CONNECT method CONNECT',
    'http_access allow CONNECT bench_hosts bench_ports',
    'http_access deny all',
    ...squidCommonLines(o),
    'read_timeout 15 minutes',
    'client_lifetime 1 hour',
    '',
  ].join('\n');
}

/** Starts `squid -N -f <conf>` in the foreground; resolves once it accepts connections. */
export async function startSquid(o: SquidOptions): Promise<Proc> {
  mkdirSync(o.dir, { recursive: true });
  // Squid drops from root to its own user before opening its files: the directory and every one
  // above it must let that user in.
  chmodSync(o.dir, 0o777);
  for (let d = dirname(o.dir); d !== dirname(d); d = dirname(d)) chmodSync(d, statSync(d).mode | 0o111);
  writeHostsFile(o);
  writeFileSync(join(o.dir, 'squid.conf'), squidConf(o));
  return runSquid('squid', o);
}
