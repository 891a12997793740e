// The cache panel's time series: every bucket of the range (aligned as the store aligns them, epoch
// multiples of the step), hit ratio per bucket and the bytes served from disk against fetched upstream.
// Small and local on purpose: ui/src/buckets.ts on main does the general fill for the other charts.

/** One bucket as GET /api/v1/cache?bucket= sends it (only buckets holding a blob GET are sent). */
export interface CacheBucket {
  start: string;
  hit: number;
  miss: number;
  bypass: number;
  bytesFromDisk: number;
  bytesFromUpstream: number;
}

export interface CacheSeries {
  /** Bucket starts in seconds, one per bucket of the range. */
  times: number[];
  /** Percent of hits among hits and misses; null for a bucket with neither (no ratio, not 0 %). */
  hitRatio: (number | null)[];
  hits: number[];
  misses: number[];
  bytesFromDisk: number[];
  bytesFromUpstream: number[];
}

export function cacheSeries(buckets: readonly CacheBucket[], from: number, to: number, step: number): CacheSeries {
  const first = Math.floor(from / step) * step;
  const starts: number[] = [];
  for (let t = first; t <= to; t += step) starts.push(t);
  const at = new Map<number, CacheBucket>();
  for (const b of buckets) {
    const t = Date.parse(b.start);
    if (!Number.isNaN(t)) at.set(t, b);
  }
  const pick = (f: (b: CacheBucket) => number): number[] => starts.map((t) => (at.has(t) ? f(at.get(t)!) : 0));
  const hits = pick((b) => b.hit);
  const misses = pick((b) => b.miss);
  return {
    times: starts.map((t) => Math.round(t / 1000)),
    hitRatio: hits.map((h, i) => {
      const asked = h + (misses[i] ?? 0);
      return asked === 0 ? null : Math.round((h / asked) * 1000) / 10;
    }),
    hits,
    misses,
    bytesFromDisk: pick((b) => b.bytesFromDisk),
    bytesFromUpstream: pick((b) => b.bytesFromUpstream),
  };
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `5m`, `1h`, `1d` in ms, as the server reads a bucket. */
export function stepMs(bucket: string): number {
  return Math.max(60_000, Number(bucket.slice(0, -1)) * (UNITS[bucket.slice(-1)] ?? 60_000));
}
