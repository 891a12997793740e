// Per-bucket layer-cache figures for the dashboard's cache panel (GET /api/v1/cache?bucket=): blob
// GETs by cache result, and the body bytes served from disk (hits) against fetched upstream (misses).
import type { StoredRecord } from './types.js';

export interface CacheBucket {
  start: string;
  hit: number;
  miss: number;
  bypass: number;
  /** bytesDown of hits: layer bytes that did not cross the WAN. */
  bytesFromDisk: number;
  /** bytesDown of misses: layer bytes fetched upstream (and teed into the cache). */
  bytesFromUpstream: number;
}

export function emptyCacheBucket(startMs: number): CacheBucket {
  return { start: new Date(startMs).toISOString(), hit: 0, miss: 0, bypass: 0, bytesFromDisk: 0, bytesFromUpstream: 0 };
}

/** Buckets oldest first from records in memory that already passed the filter; only buckets with a cache record. */
export function cacheBucketRecords(records: Iterable<StoredRecord>, bucketMs: number): CacheBucket[] {
  const byStart = new Map<number, CacheBucket>();
  for (const rec of records) {
    const result = rec.cache;
    if (result !== 'hit' && result !== 'miss' && result !== 'bypass') continue;
    const t = Date.parse(rec.time);
    if (Number.isNaN(t)) continue; // an imported line with a bad time: in no bucket
    const ms = Math.floor(t / bucketMs) * bucketMs;
    let b = byStart.get(ms);
    if (b === undefined) byStart.set(ms, (b = emptyCacheBucket(ms)));
    b[result]++;
    const bytes = rec.bytesDown ?? 0;
    if (result === 'hit') b.bytesFromDisk += bytes;
    else if (result === 'miss') b.bytesFromUpstream += bytes;
  }
  return [...byStart.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);
}
