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
import { table, type ScenarioResult } from '../lib/result.js';
import { fmt, fmtRatio, median, percentile, ratio, roundOrder } from '../lib/stats.js';
import { displayName, type Target, type TargetName } from '../lib/targets.js';
import { openTunnel, tinyGet, type TunnelEnd } from '../lib/tunnel-client.js';

export interface SetupOptions {
  tunnels: number;
  concurrency: number;
  rounds: number;
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
  const samples = new Map<TargetName, RoundSample[]>(names.map((n) => [n, []]));
  await withTargets(ctx, 'setup', names, upstreamSet(ctx, 'setup'), async (targets) => {
    for (const t of targets.values()) await burst(endFor(ctx, t), Math.min(200, o.tunnels), o.concurrency); // warm-up
    for (let round = 0; round < o.rounds; round++) {
      checkDeadline(ctx, `setup round ${round + 1}`);
      for (const name of roundOrder(names, round)) {
        const t = targets.get(name) as Target;
        const s = await withTimeout(
          burst(endFor(ctx, t), o.tunnels, o.concurrency, t.proc?.pid),
          Math.min(180_000, remainingMs(ctx) + 30_000),
          `setup burst via ${name}`,
        );
        samples.get(name)?.push(s);
        ctx.log(
          `setup round ${round + 1} ${name}: ${fmt(s.perSec, 0)}/s cpu ${fmt(s.cpuUs, 0)} µs p50 ${fmt(s.p50Ms)} ms p99 ${fmt(s.p99Ms)} ms${s.failures ? ` (${s.failures} failed: ${s.firstError})` : ''}`,
        );
      }
    }
  });

  const pick = (n: TargetName, f: (s: RoundSample) => number): number => median((samples.get(n) ?? []).map(f));
  const rate = Object.fromEntries(names.map((n) => [n, pick(n, (s) => s.perSec)])) as Partial<
    Record<TargetName, number>
  >;
  const p50 = (n: TargetName): number => pick(n, (s) => s.p50Ms);
  const p99 = (n: TargetName): number => pick(n, (s) => s.p99Ms);
  const failures = (n: TargetName): number => (samples.get(n) ?? []).reduce((a, s) => a + s.failures, 0);
  const rows = names.map((n) => [
    displayName(n),
    fmt(rate[n], 0),
    fmtRatio(ratio(rate[n], rate.squid)),
    fmtRatio(ratio(rate[n], rate.direct)),
    fmt(p50(n)),
    fmt(p99(n)),
    n === 'direct' ? '-' : `+${fmt(p50(n) - p50('direct'))}`,
    n === 'direct' ? '-' : `+${fmt(p99(n) - p99('direct'))}`,
    n === 'direct'
      ? '-'
      : fmt(
          pick(n, (s) => s.cpuUs),
          0,
        ),
    String(failures(n)),
  ]);
  const vsSquid = ratio(rate['acr-egress'], rate.squid);
  const body = [
    `${o.tunnels} tunnels per contender per round, ${o.concurrency} at a time, ${o.rounds} rounds: TCP connect, CONNECT, TLS 1.3 handshake (ECDSA P-256, full handshake every time), \`GET /tiny\` with \`Connection: close\`, close. Latency per tunnel from connect to the response; medians of the per-round figures.`,
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
  ].join('\n');
  return {
    id: 2,
    title: 'Tunnel setup rate',
    headlines: [
      {
        metric: 'tunnels/s (median)',
        higherIsBetter: true,
        values: rate,
        digits: 0,
        target: '≥ 1.0 × squid',
        met: Number.isFinite(vsSquid) ? vsSquid >= 1.0 : null,
      },
      ...(['p50', 'p99'] as const).map((q) => ({
        metric: `added ${q} ms per tunnel vs direct`,
        higherIsBetter: false,
        values: Object.fromEntries(
          names
            .filter((n) => n !== 'direct')
            .map((n) => [n, q === 'p50' ? p50(n) - p50('direct') : p99(n) - p99('direct')]),
        ),
        digits: 2,
        target: null,
        met: null,
      })),
    ],
    body,
    raw: { ...o, samples: Object.fromEntries(samples) },
  };
}
