// A throwaway containerd daemon for the e2e tests (its root, state, socket and config under a temp
// dir; no CRI, `native` snapshots so no overlay mount) and `ctr` run the way a locked-down host
// runs it: a clean environment, HTTPS_PROXY only when asked, trust and credentials given per call.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { vi } from 'vitest';

/** Why the containerd tests cannot run here, or null when they can. */
export function containerdUnavailable(): string | null {
  for (const bin of ['containerd', 'ctr'])
    if (spawnSync(bin, ['--version'], { stdio: 'ignore' }).error !== undefined) return `${bin} not installed`;
  if (process.getuid?.() !== 0) return 'containerd needs root';
  return null;
}

export interface CtrResult {
  ok: boolean;
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface Containerd {
  readonly address: string;
  /** Runs `ctr --address <socket> --namespace acr-egress-test ...args`; `proxy` becomes HTTPS_PROXY. */
  ctr(args: string[], proxy?: string): Promise<CtrResult>;
  /** The daemon's stderr so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts containerd with everything under a fresh directory in `work`; resolves once it answers. */
export async function startContainerd(work: string): Promise<Containerd> {
  const dir = mkdtempSync(join(work, 'containerd-'));
  const address = join(dir, 'c.sock');
  const config = join(dir, 'config.toml');
  mkdirSync(join(dir, 'opt'));
  // The opt plugin would otherwise create /opt/containerd on the host.
  writeFileSync(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'root'))}`,
      `state = ${JSON.stringify(join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(address)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(dir, 'opt'))}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('containerd', ['--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const ctr = (args: string[], proxy?: string): Promise<CtrResult> => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NO_PROXY: '', no_proxy: '' };
    if (proxy !== undefined) Object.assign(env, { HTTPS_PROXY: proxy, https_proxy: proxy });
    return new Promise((resolve) => {
      execFile(
        'ctr',
        ['--address', address, '--namespace', 'acr-egress-test', ...args],
        { env, timeout: 30_000, maxBuffer: 16 * 1024 * 1024, encoding: 'buffer' },
        (err, stdout, stderrOut) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
          resolve({ ok: err === null, code, stdout, stderr: stderrOut.toString() });
        },
      );
    });
  };

  await vi.waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`containerd exited (${child.exitCode}):\n${stderr}`);
      const v = await ctr(['version']);
      if (!v.ok) throw new Error(`containerd not answering yet:\n${v.stderr}\n${stderr}`);
    },
    { timeout: 15_000, interval: 100 },
  );
  return {
    address,
    ctr,
    log: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
