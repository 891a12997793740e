// The contenders: acr-egress (the built CLI, its own process), Squid, the minimal Node pipe, and a
// direct connection. Each proxy is started with the same allowlist (names -> loopback addresses,
// ports) and stopped by PID; `direct` has no process and no proxy.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeTagsFile } from '../../test/helpers/tags.js';
import { freePort, spawnProc, waitForPort, type Proc } from './proc.js';
import { startSquid } from './squid.js';

/**
 * `before`: another acr-egress build (--before), to measure a change side by side with the current one;
 * `alt-node`: this build under another Node binary (--node), to compare runtimes in the same run.
 */
export type TargetName = 'acr-egress' | 'squid' | 'node-pipe' | 'direct' | 'before' | 'alt-node';

/** The --node binary and its version, set once by run.ts. */
let altNode: { path: string; version: string } | null = null;

export function setAltNode(path: string, version: string): void {
  altNode = { path, version };
}

export function displayName(name: TargetName): string {
  if (name === 'before') return 'acr-egress (before)';
  if (name === 'alt-node') {
    // A wrapper script (node with V8 flags) shows by its file name, a node binary by its major version.
    const file = altNode?.path.split('/').pop() ?? '?';
    return `acr-egress (${file === 'node' ? `node ${altNode?.version.split('.')[0] ?? '?'}` : file})`;
  }
  return name;
}

/** V8 flags acr-egress ships with (Dockerfile NODE_OPTIONS, npm start): the bench runs it as shipped. */
export const SHIPPED_NODE_FLAGS = ['--max-semi-space-size=32'];

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const GATEWAY_CLI = join(ROOT, 'dist', 'cli.js');
/** tsx's loader by path, so children started in another directory still find it. */
export const TSX_IMPORT = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

export interface Target {
  readonly name: TargetName;
  /** Proxy listener port on 127.0.0.1; null for direct. */
  readonly proxyPort: number | null;
  /** The process whose memory counts; null for direct. */
  readonly proc: Proc | null;
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** Scratch directory for this target's files. */
  dir: string;
  hosts: Readonly<Record<string, string>>;
  ports: readonly number[];
  nofile: number;
  /** acr-egress only: write a V8 CPU profile here on exit. */
  cpuProfDir?: string | null;
  /** `before` only: the other build's dist/cli.js. */
  beforeCli?: string | null;
  /** Run acr-egress from src/ through tsx instead of the build (smoke runs: no build step). */
  fromSource?: boolean;
}

/** Runs a bench child script (TypeScript) through tsx. */
export function spawnTsScript(name: string, script: string, arg: unknown, logFile: string, nofile?: number): Proc {
  const o = nofile === undefined ? { logFile } : { logFile, nofile };
  return spawnProc(name, process.execPath, ['--import', TSX_IMPORT, join(ROOT, 'bench', script), JSON.stringify(arg)], {
    ...o,
    cwd: ROOT,
  });
}

export function gatewayConfig(o: TargetOptions, port: number, adminPort: number): Record<string, unknown> {
  const tagsFile = writeTagsFile(undefined, 1, o.dir);
  return {
    proxy: {
      listen: `127.0.0.1:${port}`,
      ports: [...o.ports],
      maxConnections: 100_000,
      idleTimeoutMs: 900_000,
      clientHelloTimeoutMs: 10_000,
      connectTimeoutMs: 5_000,
      drainTimeoutMs: 200,
    },
    registries: [{ name: 'myregistry', regions: ['eastus'], blobStorage: true }],
    mcr: false,
    network: { allowPrivate: ['127.0.0.0/8'] },
    dns: {
      servers: ['127.0.0.1:1'],
      timeoutMs: 500,
      overrides: Object.fromEntries(Object.entries(o.hosts).map(([n, ip]) => [n, [ip]])),
    },
    serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
    // As deployed: the admin API (and its metrics) up on loopback, the audit log to a file.
    admin: { listen: `127.0.0.1:${adminPort}` },
    log: { level: 'warn', file: join(o.dir, 'audit.log') },
  };
}

async function startAcrEgress(
  o: TargetOptions,
  name: 'acr-egress' | 'before' | 'alt-node',
  cli: string,
  node = process.execPath,
): Promise<Target> {
  const port = await freePort();
  const configFile = join(o.dir, 'acr-egress.json');
  writeFileSync(configFile, JSON.stringify(gatewayConfig(o, port, await freePort()), null, 2));
  const log = join(o.dir, 'acr-egress.out');
  const prof = o.cpuProfDir && name === 'acr-egress' ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  const entry = o.fromSource && name === 'acr-egress' ? ['--import', TSX_IMPORT, join(ROOT, 'src', 'cli.ts')] : [cli];
  const proc = spawnProc(
    displayName(name),
    node,
    [...SHIPPED_NODE_FLAGS, ...prof, ...entry, 'serve', '--config', configFile],
    {
      logFile: log,
      nofile: o.nofile,
      cwd: o.dir,
    },
  );
  await waitForPort('127.0.0.1', port, 20_000, proc, log);
  return { name, proxyPort: port, proc, stop: () => proc.stop(10_000) };
}

async function startNodePipe(o: TargetOptions): Promise<Target> {
  const port = await freePort();
  const log = join(o.dir, 'node-pipe.out');
  const proc = spawnTsScript('node-pipe', 'node-pipe.ts', { port, hosts: o.hosts }, log, o.nofile);
  await waitForPort('127.0.0.1', port, 20_000, proc, log);
  return { name: 'node-pipe', proxyPort: port, proc, stop: () => proc.stop() };
}

async function startSquidTarget(o: TargetOptions): Promise<Target> {
  const port = await freePort();
  const proc = await startSquid({ dir: o.dir, port, hosts: o.hosts, ports: o.ports, nofile: o.nofile });
  return { name: 'squid', proxyPort: port, proc, stop: () => proc.stop(10_000) };
}

export async function startTarget(name: TargetName, o: TargetOptions): Promise<Target> {
  mkdirSync(o.dir, { recursive: true });
  switch (name) {
    case 'acr-egress':
      return startAcrEgress(o, name, GATEWAY_CLI);
    case 'before':
      if (!o.beforeCli) throw new Error('the before contender needs --before PATH/dist/cli.js');
      return startAcrEgress(o, name, o.beforeCli);
    case 'alt-node':
      if (!altNode) throw new Error('the alt-node contender needs --node PATH');
      return startAcrEgress(o, name, GATEWAY_CLI, altNode.path);
    case 'squid':
      return startSquidTarget(o);
    case 'node-pipe':
      return startNodePipe(o);
    case 'direct':
      return { name: 'direct', proxyPort: null, proc: null, stop: async () => undefined };
  }
}
