// The cache's figures in one shape, for GET /api/v1/cache and the metrics (read when asked, never per byte).
import type { BlobCacheHandler } from './blob-cache-handler.js';

export interface CacheStatus {
  readonly enabled: boolean;
  readonly dir: string | null;
  readonly sizeBytes: number;
  readonly maxBytes: number;
  readonly entries: number;
  readonly fillsInFlight: number;
  readonly hits: number;
  readonly misses: number;
  readonly bypasses: number;
  /** hits / (hits + misses); null before the first cacheable request. */
  readonly hitRatio: number | null;
  readonly bytesFromDisk: number;
  readonly bytesFromUpstream: number;
  /** Bytes that did not cross the WAN: every byte served from disk would otherwise have been fetched. */
  readonly bytesSaved: number;
  readonly evictions: number;
  readonly verifyFailures: number;
}

export function cacheStatus(handler: BlobCacheHandler | null): CacheStatus {
  if (handler === null) {
    return {
      enabled: false,
      dir: null,
      sizeBytes: 0,
      maxBytes: 0,
      entries: 0,
      fillsInFlight: 0,
      hits: 0,
      misses: 0,
      bypasses: 0,
      hitRatio: null,
      bytesFromDisk: 0,
      bytesFromUpstream: 0,
      bytesSaved: 0,
      evictions: 0,
      verifyFailures: 0,
    };
  }
  const { cache, totals } = handler;
  const asked = totals.hit + totals.miss;
  return {
    enabled: true,
    dir: cache.dir,
    sizeBytes: cache.sizeBytes,
    maxBytes: cache.maxBytes,
    entries: cache.entries,
    fillsInFlight: cache.fillsInFlight,
    hits: totals.hit,
    misses: totals.miss,
    bypasses: totals.bypass,
    hitRatio: asked === 0 ? null : totals.hit / asked,
    bytesFromDisk: totals.bytesDisk,
    bytesFromUpstream: totals.bytesUpstream,
    bytesSaved: totals.bytesDisk,
    evictions: cache.counters.evictions,
    verifyFailures: cache.counters.verifyFailures,
  };
}
