// Scenario 1, bulk throughput: one large "layer" over TLS through one tunnel, curl as the client,
// rounds alternating the contenders; download speed, and the CPU every process spent per GiB (the
// proxy's own, and the whole machine's: on 2 cores a proxy's CPU is taken from server and client).
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { checkDeadline, remainingMs, upstreamSet, withTargets, type BenchContext } from '../lib/context.js';
import { cpuMs } from '../lib/proc.js';
import { table, type ScenarioResult } from '../lib/result.js';
import { fmt, fmtRatio, median, ratio, roundOrder, showRatio, verdict } from '../lib/stats.js';
import { displayName, type Target, type TargetName } from '../lib/targets.js';

export interface ThroughputOptions {
  bytes: number;
  rounds: number;
}

/** CPU milliseconds spent during one transfer. */
interface Cpu {
  user: number;
  sys: number;
}

interface Sample {
  bytesPerSec: number;
  /** The proxy process (null for direct). */
  proxy: Cpu | null;
  upstream: Cpu | null;
  curl: Cpu | null;
}

const CLEAN_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };

function delta(a: Cpu | null, b: Cpu | null): Cpu | null {
  return a === null || b === null ? null : { user: b.user - a.user, sys: b.sys - a.sys };
}

/** bash's `times` after curl: its second line is the children's user and system time. */
function parseTimes(text: string): Cpu | null {
  const lines = text.trim().split('\n');
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
  if (!m) return null;
  return { user: (Number(m[1]) * 60 + Number(m[2])) * 1000, sys: (Number(m[3]) * 60 + Number(m[4])) * 1000 };
}

function curlOnce(
  ctx: BenchContext,
  t: Target,
  bytes: number,
  timeoutMs: number,
): Promise<{ speed: number; cpu: Cpu | null }> {
  const { host, port, ip, certs } = ctx.upstream;
  const args = [
    '-sS',
    '--fail',
    '-o',
    '/dev/null',
    '-w',
    '%{speed_download} %{size_download}\\n',
    '--max-time',
    String(Math.ceil(timeoutMs / 1000)),
    '--cacert',
    certs.caFile,
  ];
  if (t.proxyPort === null) args.push('--noproxy', '*', '--resolve', `${host}:${port}:${ip}`);
  else args.push('--proxy', `http://127.0.0.1:${t.proxyPort}`);
  args.push(`https://${host}:${port}/zeros/${bytes}`);
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['-c', 'curl "$@" && times', 'bash', ...args],
      { env: CLEAN_ENV, timeout: timeoutMs + 5_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`curl via ${t.name}: ${stderr.trim() || err.message}`));
        const [speed, size] = (stdout.split('\n')[0] ?? '').trim().split(' ').map(Number);
        if (size !== bytes) return reject(new Error(`curl via ${t.name}: got ${size} of ${bytes} bytes`));
        resolve({ speed: speed as number, cpu: parseTimes(stdout) });
      },
    );
  });
}

async function measure(ctx: BenchContext, t: Target, bytes: number): Promise<Sample> {
  const pid = t.proc?.pid;
  const upPid = ctx.upstream.proc.pid;
  const proxy0 = pid === undefined ? null : cpuMs(pid);
  const up0 = cpuMs(upPid);
  const timeout = Math.max(30_000, Math.min(300_000, remainingMs(ctx)));
  const { speed, cpu } = await curlOnce(ctx, t, bytes, timeout);
  const proxy1 = pid === undefined ? null : cpuMs(pid);
  return { bytesPerSec: speed, proxy: delta(proxy0, proxy1), upstream: delta(up0, cpuMs(upPid)), curl: cpu };
}

export async function runThroughput(ctx: BenchContext, o: ThroughputOptions): Promise<ScenarioResult> {
  const names = ctx.contenders;
  const samples = new Map<TargetName, Sample[]>(names.map((n) => [n, []]));
  await withTargets(ctx, 'throughput', names, upstreamSet(ctx, 'throughput'), async (targets) => {
    // One small warm-up transfer each: JIT, page cache, TCP autotuning.
    for (const t of targets.values()) await measure(ctx, t, Math.min(o.bytes, 64 * 2 ** 20));
    for (let round = 0; round < o.rounds; round++) {
      checkDeadline(ctx, `throughput round ${round + 1}`);
      for (const name of roundOrder(names, round)) {
        const s = await measure(ctx, targets.get(name) as Target, o.bytes);
        samples.get(name)?.push(s);
        ctx.log(`throughput round ${round + 1} ${name}: ${fmt(s.bytesPerSec / 2 ** 20, 0)} MiB/s`);
      }
    }
  });

  const gib = o.bytes / 2 ** 30;
  const perGiB = (n: TargetName, pick: (s: Sample) => number | null): number =>
    median(
      (samples.get(n) ?? []).flatMap((s) => {
        const v = pick(s);
        return v === null || !Number.isFinite(v) ? [] : [v / gib];
      }),
    );
  const total = (c: Cpu | null): number | null => (c === null ? null : c.user + c.sys);
  const proxyMs = (n: TargetName): number => perGiB(n, (s) => total(s.proxy));
  const machineMs = (n: TargetName): number =>
    perGiB(n, (s) =>
      s.upstream === null || s.curl === null
        ? null
        : (total(s.upstream) ?? 0) + (total(s.curl) ?? 0) + (total(s.proxy) ?? 0),
    );
  const values = Object.fromEntries(
    names.map((n) => [n, median((samples.get(n) ?? []).map((s) => s.bytesPerSec)) / 2 ** 20]),
  ) as Partial<Record<TargetName, number>>;
  const vsSquid = ratio(values['acr-egress'], values.squid);
  const vsDirect = ratio(values['acr-egress'], values.direct);
  const rows = names.map((n) => [
    displayName(n),
    fmt(values[n], 0),
    fmtRatio(ratio(values[n], values.squid)),
    fmtRatio(ratio(values[n], values.direct)),
    n === 'direct'
      ? '-'
      : `${fmt(proxyMs(n), 0)} (${fmt(
          perGiB(n, (s) => s.proxy?.user ?? null),
          0,
        )} + ${fmt(
          perGiB(n, (s) => s.proxy?.sys ?? null),
          0,
        )})`,
    fmt(machineMs(n), 0),
    (samples.get(n) ?? []).map((s) => fmt(s.bytesPerSec / 2 ** 20, 0)).join(', '),
  ]);
  // Server and client alone may already keep most of the cores busy; a proxy's CPU then competes with theirs.
  const cores = cpus().length;
  const direct = machineMs('direct');
  const directBusy = direct / (cores * ((1024 * 1000) / (values.direct ?? Number.NaN)));
  const proxies = names.filter((n) => n !== 'direct');
  const body = [
    `One ${fmt(o.bytes / 2 ** 20, 0)} MiB body of zeros over TLS (ECDSA P-256, curl's default cipher) through one tunnel, ${o.rounds} rounds, contenders rotated each round. CPU columns are milliseconds per GiB: the proxy process (user + system), and every process of the transfer together (upstream server + curl + proxy), medians.`,
    '',
    table(
      [
        'contender',
        'median MiB/s',
        '× squid',
        '× direct',
        'proxy CPU ms/GiB (user + sys)',
        'all processes CPU ms/GiB',
        'every round (MiB/s)',
      ],
      rows,
    ),
    '',
    `Direct, server and curl alone use ${fmt(direct, 0)} ms of CPU per GiB, about ${fmt(directBusy * 100, 0)} % of the ${cores} cores at direct's speed (as /proc accounts it on this machine). A proxy's CPU comes on top of theirs (acr-egress ${fmt(proxyMs('acr-egress'), 0)} ms per GiB, Squid ${fmt(proxyMs('squid'), 0)}), so when the cores are the limit the proxy that spends less CPU per GiB leaves more for the transfer.`,
  ].join('\n');
  return {
    id: 1,
    title: 'Bulk throughput',
    headlines: [
      {
        metric: 'MiB/s through one tunnel (median)',
        higherIsBetter: true,
        values,
        digits: 0,
        target: '≥ 1.1 × squid',
        ...verdict(vsSquid, 1.1, true, showRatio),
      },
      {
        metric: 'MiB/s through one tunnel (median)',
        higherIsBetter: true,
        values,
        digits: 0,
        target: '≥ 0.92 × direct',
        ...verdict(vsDirect, 0.92, true, showRatio),
      },
      {
        metric: 'proxy CPU ms per GiB (median)',
        higherIsBetter: false,
        values: Object.fromEntries(proxies.map((n) => [n, proxyMs(n)])),
        digits: 0,
        target: 'the least of the proxies',
        ...verdict(
          proxyMs('acr-egress'),
          Math.min(...proxies.filter((n) => n === 'squid' || n === 'node-pipe').map(proxyMs)),
          false,
          (n) => `${fmt(n, 0)} ms`,
        ),
      },
    ],
    body,
    raw: { bytes: o.bytes, rounds: o.rounds, samples: Object.fromEntries(samples) },
  };
}
