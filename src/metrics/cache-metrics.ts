// Layer-cache metrics read at scrape time from the cache's own totals: requests by result, bytes by
// source (disk against upstream: the WAN bytes saved), size, evictions, fills, verification failures.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CacheStatus } from '../cache/cache-status.js';

type Source = () => CacheStatus;

/** A labelled counter mirroring monotonic totals kept elsewhere. */
function mirror<L extends string>(
  name: string,
  help: string,
  registers: Registry[],
  label: L | null,
  read: () => Record<string, number>,
): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    registers,
    labelNames: label === null ? [] : [label],
    collect() {
      for (const [value, now] of Object.entries(read())) {
        const before = seen.get(value) ?? 0;
        if (now > before) {
          if (label === null) this.inc(now - before);
          else this.inc({ [label]: value } as Record<L, string>, now - before);
        }
        seen.set(value, Math.max(before, now));
      }
    },
  });
}

export function registerCacheMetrics(registers: Registry[], source: Source): void {
  mirror('acr_egress_cache_requests_total', 'Blob GETs of cached registries by result', registers, 'result', () => {
    const s = source();
    return { hit: s.hits, miss: s.misses, bypass: s.bypasses };
  });
  mirror(
    'acr_egress_cache_bytes_total',
    'Layer bytes sent from disk, and fetched upstream',
    registers,
    'source',
    () => {
      const s = source();
      return { disk: s.bytesFromDisk, upstream: s.bytesFromUpstream };
    },
  );
  mirror('acr_egress_cache_evictions_total', 'Cached blobs evicted (least recently used)', registers, null, () => ({
    '': source().evictions,
  }));
  mirror(
    'acr_egress_cache_verify_failures_total',
    'Fills and cached files whose bytes did not match their digest (discarded)',
    registers,
    null,
    () => ({ '': source().verifyFailures }),
  );
  new Gauge({
    name: 'acr_egress_cache_size_bytes',
    help: 'Bytes of verified blobs in cache.dir',
    registers,
    collect() {
      this.set(source().sizeBytes);
    },
  });
  new Gauge({
    name: 'acr_egress_cache_fills_in_flight',
    help: 'Blobs this gateway is fetching into the cache now',
    registers,
    collect() {
      this.set(source().fillsInFlight);
    },
  });
}
