// Scenario 3, concurrent idle tunnels: open N tunnels (CONNECT + TLS handshake), hold them, and
// read the proxy's resident memory before and after; then prove every one still works (a GET each).
import {
  checkDeadline,
  remainingMs,
  upstreamSet,
  withTargets,
  withTimeout,
  type BenchContext,
} from '../lib/context.js';
import { MAX_LEVEL } from '../lib/args.js';
import { rssKb } from '../lib/proc.js';
import { table, type ScenarioResult } from '../lib/result.js';
import { fmt, fmtRatio, median, ratio, roundOrder, showRatio, verdict, type Verdict } from '../lib/stats.js';
import { displayName, type Target, type TargetName } from '../lib/targets.js';
import { openTunnel, tinyGet, type TunnelEnd } from '../lib/tunnel-client.js';
import type { TLSSocket } from 'node:tls';

export interface IdleOptions {
  /** Requested levels; each is capped by what the fd limit allows. */
  levels: number[];
  rounds: number;
}

/** Tunnels opened at a time while filling up. */
const OPEN_CONCURRENCY = 64;
/** fds a proxy needs besides two per tunnel (listeners, logs, epoll, libuv, squid's own). */
const FD_HEADROOM = 400;

interface Sample {
  level: number;
  opened: number;
  failedOpen: number;
  working: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  perTunnelKb: number;
  firstError: string | null;
}

/** The most tunnels a proxy with `nofile` descriptors can hold: two sockets per tunnel. */
export function maxTunnels(nofile: number): number {
  return Math.max(0, Math.floor((nofile - FD_HEADROOM) / 2 / 500) * 500);
}

async function settle(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function pool<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

async function holdTunnels(ctx: BenchContext, t: Target, level: number): Promise<Sample> {
  const u = ctx.upstream;
  const end: TunnelEnd = { proxyPort: t.proxyPort, host: u.host, ip: u.ip, port: u.port, ca: u.certs.ca };
  const pid = t.proc?.pid as number;
  // Warm-up: JIT, lazy module loads, the first buffers; then a quiet second before the baseline.
  await pool(Math.min(200, level), 8, async () => {
    const s = await openTunnel(end);
    await tinyGet(s, end.host, false);
    s.destroy();
  });
  // Tiny levels (smoke runs) need no long settle; real ones give the allocator and GC a moment.
  const quiet = level >= 1000 ? 1000 : 100;
  await settle(quiet);
  const rssBeforeKb = rssKb(pid) ?? Number.NaN;
  const open: TLSSocket[] = [];
  let failedOpen = 0;
  let firstError: string | null = null;
  try {
    await pool(level, OPEN_CONCURRENCY, async () => {
      try {
        open.push(await openTunnel(end));
      } catch (err) {
        failedOpen++;
        firstError ??= (err as Error).message;
      }
    });
    await settle(2 * quiet);
    const rssAfterKb = rssKb(pid) ?? Number.NaN;
    // Every held tunnel must still carry a request and its answer.
    let working = 0;
    await pool(open.length, 256, async (i) => {
      try {
        await withTimeout(tinyGet(open[i] as TLSSocket, end.host, true), 20_000, 'GET on a held tunnel');
        working++;
      } catch (err) {
        firstError ??= (err as Error).message;
      }
    });
    return {
      level,
      opened: open.length,
      failedOpen,
      working,
      rssBeforeKb,
      rssAfterKb,
      perTunnelKb: (rssAfterKb - rssBeforeKb) / Math.max(1, open.length),
      firstError,
    };
  } finally {
    for (const s of open) s.destroy();
  }
}

export async function runIdleTunnels(ctx: BenchContext, o: IdleOptions): Promise<ScenarioResult> {
  const contenders = ctx.contenders.filter((n) => n !== 'direct');
  const cap = maxTunnels(ctx.nofile);
  const levels = [...new Set(o.levels.map((l) => Math.min(l, cap)))].filter((l) => l > 0);
  const capped = o.levels.filter((l) => l > cap && l !== MAX_LEVEL);
  const samples = new Map<string, Sample[]>();
  for (const level of levels) {
    for (let round = 0; round < o.rounds; round++) {
      for (const name of roundOrder(contenders, round)) {
        checkDeadline(ctx, `idle ${level} via ${name}`);
        // A fresh process per measurement: the baseline is a proxy that has only been warmed up.
        const s = await withTargets(ctx, `idle-${level}-${round}`, [name], upstreamSet(ctx), (targets) =>
          withTimeout(
            holdTunnels(ctx, targets.get(name) as Target, level),
            Math.min(300_000, remainingMs(ctx) + 30_000),
            `holding ${level} tunnels via ${name}`,
          ),
        );
        const key = `${name}@${level}`;
        samples.set(key, [...(samples.get(key) ?? []), s]);
        ctx.log(
          `idle ${level} ${name}: ${s.opened} open, ${s.working} working, ${fmt(s.perTunnelKb, 1)} KiB/tunnel (RSS ${fmt(s.rssBeforeKb / 1024, 0)} -> ${fmt(s.rssAfterKb / 1024, 0)} MiB)`,
        );
      }
    }
  }

  const perTunnel = (name: TargetName, level: number): number =>
    median((samples.get(`${name}@${level}`) ?? []).map((s) => s.perTunnelKb));
  const rows: string[][] = [];
  for (const level of levels) {
    for (const name of contenders) {
      const all = samples.get(`${name}@${level}`) ?? [];
      const last = all[all.length - 1];
      rows.push([
        String(level),
        displayName(name),
        fmt(perTunnel(name, level), 1),
        fmtRatio(ratio(perTunnel(name, level), perTunnel('squid', level))),
        last ? `${fmt(last.rssBeforeKb / 1024, 0)} → ${fmt(last.rssAfterKb / 1024, 0)}` : 'n/a',
        all.map((s) => `${s.opened}/${s.level}`).join(', '),
        all.map((s) => `${s.working}/${s.opened}`).join(', '),
      ]);
    }
  }
  const top = levels[levels.length - 1];
  const bottom = levels[0];
  const kib = (a: number, b: number): Verdict => verdict(a, b, false, (n) => `${fmt(n, 1)} KiB`);
  const acr = top === undefined ? Number.NaN : perTunnel('acr-egress', top);
  const squid = top === undefined ? Number.NaN : perTunnel('squid', top);
  const failures = [...samples.values()].flat().some((s) => s.opened < s.level || s.working < s.opened);
  const capNote =
    capped.length > 0
      ? `\n\n${capped.join(', ')} tunnels could not be tried here: a proxy holds two sockets per tunnel and this machine's hard RLIMIT_NOFILE is ${ctx.nofile}, so ${cap} is the most any proxy can hold (raising the hard limit needs CAP_SYS_RESOURCE, which the bench does not have).`
      : '';
  const body =
    [
      `Each contender in a fresh process, warmed up with 200 short tunnels (fewer for tiny levels); then N tunnels opened (${OPEN_CONCURRENCY} at a time, CONNECT + TLS handshake) and held idle. Memory is the proxy process's VmRSS after a 2 s settle minus before, divided by N. Afterwards every held tunnel carries one GET (the "working" column).`,
      '',
      table(
        ['tunnels', 'contender', 'KiB per tunnel (median)', '× squid', 'RSS MiB before → after', 'opened', 'working'],
        rows,
      ),
    ].join('\n') + capNote;
  return {
    id: 3,
    title: 'Concurrent idle tunnels',
    headlines: [
      {
        metric: `KiB RSS per idle tunnel at ${top ?? 'n/a'} (median)`,
        higherIsBetter: false,
        values: Object.fromEntries(contenders.map((n) => [n, top === undefined ? Number.NaN : perTunnel(n, top)])),
        digits: 1,
        target: `≤ squid per tunnel; every tunnel works${capped.length > 0 ? ` (capped at ${cap} by RLIMIT_NOFILE)` : ''}`,
        ...(failures ? { met: false, by: 'some tunnels failed to open or to carry a GET' } : kib(acr, squid)),
      },
      ...(bottom !== undefined && top !== undefined && bottom !== top
        ? [
            {
              metric: `KiB RSS per idle tunnel, ${top} vs ${bottom} (× growth)`,
              higherIsBetter: false,
              values: Object.fromEntries(contenders.map((n) => [n, ratio(perTunnel(n, top), perTunnel(n, bottom))])),
              digits: 2,
              target: '≤ 1.1 × (memory grows no faster than the tunnels)',
              ...verdict(ratio(acr, perTunnel('acr-egress', bottom)), 1.1, false, showRatio),
            },
          ]
        : []),
    ],
    body,
    raw: { levels, cap, rounds: o.rounds, samples: Object.fromEntries(samples) },
  };
}
