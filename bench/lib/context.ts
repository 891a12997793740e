// What every scenario gets: a scratch directory, the shared upstream, the fd limit for children, the
// global deadline, and a way to start a set of contenders that are always stopped afterwards.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startTarget, type Target, type TargetName } from './targets.js';
import type { BenchUpstream } from './upstream.js';

export interface BenchContext {
  readonly dir: string;
  readonly upstream: BenchUpstream;
  /** RLIMIT_NOFILE given to the proxies and the upstream. */
  readonly nofile: number;
  /** Epoch ms after which no scenario starts new work. */
  readonly deadline: number;
  /** When set, acr-egress runs with --cpu-prof and writes its profiles under this directory. */
  readonly profileDir: string | null;
  /** Who runs, in this order (always acr-egress, squid, node-pipe, direct; `before` with --before). */
  readonly contenders: readonly TargetName[];
  /** dist/cli.js of the `before` build. */
  readonly beforeCli: string | null;
  /** acr-egress runs from src/ through tsx (smoke runs), not from dist/. */
  readonly fromSource?: boolean;
  log(message: string): void;
}

export function remainingMs(ctx: BenchContext): number {
  return ctx.deadline - Date.now();
}

class DeadlineError extends Error {}

export function checkDeadline(ctx: BenchContext, what: string): void {
  if (remainingMs(ctx) <= 0) throw new DeadlineError(`global deadline reached before ${what}`);
}

/** Rejects after ms (and the work is abandoned; its processes are stopped by the caller). */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

export interface TargetSet {
  hosts: Readonly<Record<string, string>>;
  ports: readonly number[];
  /** Profile acr-egress in this scenario (only when the context has a profileDir). */
  profileAs?: string;
}

/** Starts the named contenders, runs fn, and stops every one of them whatever happens. */
export async function withTargets<T>(
  ctx: BenchContext,
  scenario: string,
  names: readonly TargetName[],
  set: TargetSet,
  fn: (targets: Map<TargetName, Target>) => Promise<T>,
): Promise<T> {
  const started = new Map<TargetName, Target>();
  try {
    for (const name of names) {
      const dir = join(ctx.dir, scenario, name);
      mkdirSync(dir, { recursive: true });
      const cpuProfDir =
        ctx.profileDir !== null && set.profileAs !== undefined ? join(ctx.profileDir, set.profileAs) : null;
      started.set(
        name,
        await startTarget(name, {
          dir,
          hosts: set.hosts,
          ports: set.ports,
          nofile: ctx.nofile,
          cpuProfDir,
          beforeCli: ctx.beforeCli,
          fromSource: ctx.fromSource === true,
        }),
      );
    }
    return await fn(started);
  } finally {
    for (const t of started.values()) await t.stop();
  }
}

/** The usual allowlist: the one upstream name on its one port. */
export function upstreamSet(ctx: BenchContext, profileAs?: string): TargetSet {
  const set: TargetSet = { hosts: { [ctx.upstream.host]: ctx.upstream.ip }, ports: [ctx.upstream.port] };
  return profileAs === undefined ? set : { ...set, profileAs };
}
