// The cache panel's time series: every bucket of the range (the shared fill in buckets.ts), hit ratio
// per bucket and the bytes served from disk against fetched upstream.
import { bucketStarts, fillBuckets } from './buckets.js';
import type { CacheBucket } from '../../src/store/cache-buckets.js';

export type { CacheBucket };

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

const FIELDS = ['hit', 'miss', 'bytesFromDisk', 'bytesFromUpstream'] as const;
type Field = (typeof FIELDS)[number];

export function cacheSeries(buckets: readonly CacheBucket[], from: number, to: number, step: number): CacheSeries {
  const starts = bucketStarts(from, to, step);
  const filled = fillBuckets(buckets, starts, FIELDS, (b, name) => b[name as Field]);
  const pick = (name: Field): number[] => filled.get(name) ?? [];
  const hits = pick('hit');
  const misses = pick('miss');
  return {
    times: starts.map((t) => Math.round(t / 1000)),
    hitRatio: hits.map((h, i) => {
      const asked = h + (misses[i] ?? 0);
      return asked === 0 ? null : Math.round((h / asked) * 1000) / 10;
    }),
    hits,
    misses,
    bytesFromDisk: pick('bytesFromDisk'),
    bytesFromUpstream: pick('bytesFromUpstream'),
  };
}
