// Scenario 2, tunnel setup rate: CONNECT + TLS handshake + tiny GET + close, a fixed number of
// clients at a time, a few thousand tunnels per contender per round; rate and per-tunnel latency.
import {
  checkDeadline,
  remainingMs,
  upstreamSet,
  withTargets,
  withTimeout,
  type BenchContext,
} from '../lib/context.js';
import { cpuMs } from '../lib/proc.js';
import { table, type Headline, type ScenarioResult } from '../lib/result.js';
import { fmt, fmtRatio, median, percentile, ratio, roundOrder, showRatio, verdict } from '../lib/stats.js';
import { displayName, type Target, type TargetName } from '../lib/targets.js';
import { openTunnel, tinyGet, type TunnelEnd } from '../lib/tunnel-client.js';

export interface SetupOptions {
  tunnels: number;
  /** Concurrency levels (8, 64, 256): each gets its warm-up and its own rotated rounds. */
  levels: number[];
  rounds: number;
}

/** The issue's goals per level: rate against Squid's (8: also CPU per tunnel at most Squid's). */
function rateGoal(level: number, lowest: number): number {
  return level === lowest && level <= 8 ? 1.15 : 1.0;
}

interface RoundSample {
  perSec: number;
  /** Proxy CPU (user + system) per tunnel, µs; NaN for direct. */
  cpuUs: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
  firstError: string | null;
}

function endFor(ctx: BenchContext, t: Target): TunnelEnd {
  const u = ctx.upstream;
  return { proxyPort: t.proxyPort, host: u.host, ip: u.ip, port: u.port, ca: u.certs.ca };
}

/** Runs count tunnels, `concurrency` at a time; latency is per tunnel, start of connect to close. */
async function burst(end: TunnelEnd, count: number, concurrency: number, pid?: number): Promise<RoundSample> {
  const cpu0 = pid === undefined ? null : cpuMs(pid);
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  let firstError: string | null = null;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const t0 = performance.now();
      try {
        const tls = await openTunnel(end);
        await tinyGet(tls, end.host, false);
        tls.destroy();
        latencies.push(performance.now() - t0);
      } catch (err) {
        failures++;
        firstError ??= (err as Error).message;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = pid === undefined ? null : cpuMs(pid);
  const cpuUs =
    cpu0 === null || cpu1 === null
      ? Number.NaN
      : ((cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) * 1000) / Math.max(1, latencies.length);
  return {
    perSec: latencies.length / seconds,
    cpuUs,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    failures,
    firstError,
  };
}

export async function runSetupRate(ctx: BenchContext, o: SetupOptions): Promise<ScenarioResult> {
  const names = ctx.contenders;
  const levels = [...new Set(o.levels)].sort((a, b) => a - b);
  const samples = new Map<string, RoundSample[]>();
  const key = (n: TargetName, level: number): string => `${n}@${level}`;
  await withTargets(ctx, 'setup', names, upstreamSet(ctx, 'setup'), async (targets) => {
    for (const level of levels) {
      checkDeadline(ctx, `setup at ${level} concurrent`);
      const tunnels = Math.max(o.tunnels, level * 4);
      for (const t of targets.values()) await burst(endFor(ctx, t), Math.min(Math.max(200, level), tunnels), level); // warm-up
      for (let round = 0; round < o.rounds; round++) {
        checkDeadline(ctx, `setup round ${round + 1} at ${level}`);
        for (const name of roundOrder(names, round)) {
          const t = targets.get(name) as Target;
          const s = await withTimeout(
            burst(endFor(ctx, t), tunnels, level, t.proc?.pid),
            Math.min(180_000, remainingMs(ctx) + 30_000),
            `setup burst via ${name}`,
          );
          const list = samples.get(key(name, level)) ?? [];
          list.push(s);
          samples.set(key(name, level), list);
          ctx.log(
            `setup ${level} round ${round + 1} ${name}: ${fmt(s.perSec, 0)}/s cpu ${fmt(s.cpuUs, 0)} µs p50 ${fmt(s.p50Ms)} ms p99 ${fmt(s.p99Ms)} ms${s.failures ? ` (${s.failures} failed: ${s.firstError})` : ''}`,
          );
        }
      }
    }
  });

  const pick = (n: TargetName, level: number, f: (s: RoundSample) => number): number =>
    median((samples.get(key(n, level)) ?? []).map(f));
  const rate = (n: TargetName, l: number): number => pick(n, l, (s) => s.perSec);
  const p50 = (n: TargetName, l: number): number => pick(n, l, (s) => s.p50Ms);
  const p99 = (n: TargetName, l: number): number => pick(n, l, (s) => s.p99Ms);
  const cpu = (n: TargetName, l: number): number => pick(n, l, (s) => s.cpuUs);
  const added = (n: TargetName, l: number, q: 50 | 99): number =>
    q === 50 ? p50(n, l) - p50('direct', l) : p99(n, l) - p99('direct', l);
  const failures = (n: TargetName, l: number): number =>
    (samples.get(key(n, l)) ?? []).reduce((a, s) => a + s.failures, 0);
  const proxies = names.filter((n) => n !== 'direct');
  const of = (f: (n: TargetName) => number, who: readonly TargetName[] = names): Partial<Record<TargetName, number>> =>
    Object.fromEntries(who.map((n) => [n, f(n)]));
  const ms = (n: number): string => `${n >= 0 ? '+' : ''}${fmt(n)} ms`;
  const diffMs = (n: number): string => `${fmt(n)} ms`;

  const headlines: Headline[] = [];
  const sections: string[] = [];
  const lowest = levels[0] as number;
  const highest = levels[levels.length - 1] as number;
  for (const level of levels) {
    const goal = rateGoal(level, lowest);
    const r = verdict(ratio(rate('acr-egress', level), rate('squid', level)), goal, true, showRatio);
    headlines.push({
      metric: `tunnels/s at ${level} concurrent`,
      higherIsBetter: true,
      values: of((n) => rate(n, level)),
      digits: 0,
      target: `≥ ${goal.toFixed(2)} × squid`,
      ...r,
    });
    if (level === lowest) {
      const us = (n: number): string => `${fmt(n, 0)} µs`;
      const c = verdict(cpu('acr-egress', level), cpu('squid', level), false, us, us);
      headlines.push({
        metric: `proxy CPU µs per tunnel at ${level} concurrent`,
        higherIsBetter: false,
        values: of((n) => cpu(n, level), proxies),
        digits: 0,
        target: '≤ squid',
        ...c,
      });
    }
    headlines.push({
      metric: `added p50 ms per tunnel vs direct at ${level}`,
      higherIsBetter: false,
      values: of((n) => added(n, level, 50), proxies),
      digits: 2,
      target: null,
      met: null,
    });
    const p = verdict(added('acr-egress', level, 99), added('squid', level, 99), false, ms, diffMs);
    headlines.push({
      metric: `added p99 ms per tunnel vs direct at ${level}`,
      higherIsBetter: false,
      values: of((n) => added(n, level, 99), proxies),
      digits: 2,
      target: "≤ squid's",
      ...p,
    });
    const rows = names.map((n) => [
      displayName(n),
      fmt(rate(n, level), 0),
      fmtRatio(ratio(rate(n, level), rate('squid', level))),
      fmtRatio(ratio(rate(n, level), rate('direct', level))),
      fmt(p50(n, level)),
      fmt(p99(n, level)),
      n === 'direct' ? '-' : ms(added(n, level, 50)).replace(' ms', ''),
      n === 'direct' ? '-' : ms(added(n, level, 99)).replace(' ms', ''),
      n === 'direct' ? '-' : fmt(cpu(n, level), 0),
      String(failures(n, level)),
    ]);
    sections.push(
      `**${level} concurrent** (${Math.max(o.tunnels, level * 4)} tunnels per contender per round)`,
      '',
      table(
        [
          'contender',
          'tunnels/s',
          '× squid',
          '× direct',
          'p50 ms',
          'p99 ms',
          'added p50 ms vs direct',
          'added p99 ms vs direct',
          'proxy CPU µs per tunnel',
          'failures',
        ],
        rows,
      ),
      '',
    );
  }
  if (levels.length > 1) {
    // Cost that stays flat: per-tunnel CPU must not rise with concurrency, and the latency a tunnel
    // adds may grow only as the queue does (Little's law: at most in proportion to the concurrency).
    const grow = highest / lowest;
    const cpuGrowth = ratio(cpu('acr-egress', highest), cpu('acr-egress', lowest));
    headlines.push({
      metric: `proxy CPU per tunnel, ${highest} vs ${lowest} concurrent (× growth)`,
      higherIsBetter: false,
      values: of((n) => ratio(cpu(n, highest), cpu(n, lowest)), proxies),
      digits: 2,
      target: '≤ 1.25 × (flat)',
      ...verdict(cpuGrowth, 1.25, false, showRatio),
    });
    headlines.push({
      metric: `added p50 latency, ${highest} vs ${lowest} concurrent (× growth)`,
      higherIsBetter: false,
      values: of((n) => ratio(added(n, highest, 50), added(n, lowest, 50)), proxies),
      digits: 2,
      target: `≤ ${grow} × (the growth of the work)`,
      ...verdict(ratio(added('acr-egress', highest, 50), added('acr-egress', lowest, 50)), grow, false, showRatio),
    });
  }
  const body = [
    `${o.rounds} rounds per concurrency level, contenders rotated each round: TCP connect, CONNECT, TLS 1.3 handshake (ECDSA P-256, full handshake every time), \`GET /tiny\` with \`Connection: close\`, close. Latency per tunnel from connect to the response; medians of the per-round figures. Every contender is the same process across levels.`,
    '',
    ...sections,
  ].join('\n');
  return {
    id: 2,
    title: 'Tunnel setup rate',
    headlines,
    body,
    raw: { ...o, samples: Object.fromEntries(samples) },
  };
}
