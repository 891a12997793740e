// The loopback "registry host" every throughput, setup and idle scenario talks to: certificates for
// its name and the upstream-server process on 127.0.0.2.
import { join } from 'node:path';
import { makeBenchCerts, type BenchCerts } from './certs.js';
import { freePort, waitForPort, type Proc } from './proc.js';
import { spawnTsScript } from './targets.js';

const UPSTREAM_HOST = 'myregistry.azurecr.io';
const UPSTREAM_IP = '127.0.0.2';

export interface BenchUpstream {
  readonly host: string;
  readonly ip: string;
  readonly port: number;
  readonly certs: BenchCerts;
  readonly proc: Proc;
  stop(): Promise<void>;
}

export async function startBenchUpstream(dir: string, nofile: number): Promise<BenchUpstream> {
  const certs = makeBenchCerts(dir, [UPSTREAM_HOST]);
  const port = await freePort(UPSTREAM_IP);
  const log = join(dir, 'upstream.out');
  const proc = spawnTsScript(
    'upstream',
    'upstream-server.ts',
    { host: UPSTREAM_IP, port, certFile: certs.certFile, keyFile: certs.keyFile },
    log,
    nofile,
  );
  await waitForPort(UPSTREAM_IP, port, 20_000, proc, log);
  return { host: UPSTREAM_HOST, ip: UPSTREAM_IP, port, certs, proc, stop: () => proc.stop() };
}
