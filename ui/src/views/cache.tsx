// Cache: the layer cache's size, entries, hit ratio and WAN bytes saved (this replica, since start), and
// hit ratio and bytes from disk against upstream over the selected range, from GET /api/v1/cache?bucket=.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, query } from '../api';
import { bucketMs } from '../../../src/admin/bucket-ms.js';
import { cacheSeries, type CacheBucket } from '../cache-series';
import { TimeChart, type Series } from '../chart';
import { RANGE_BUCKET, RANGES, RangeActions, type Range } from '../range';
import { ErrorBox, Section } from '../components';
import { bytes } from '../format';

const MIB = 1024 * 1024;

interface CacheAnswer {
  enabled: boolean;
  sizeBytes: number;
  maxBytes: number;
  entries: number;
  hits: number;
  misses: number;
  hitRatio: number | null;
  bytesSaved: number;
  buckets?: CacheBucket[];
}

/** The figures and buckets; null when the gateway has no cache route at all (older than the cache). */
async function loadCache(range: Range): Promise<CacheAnswer | null> {
  try {
    return await api<CacheAnswer>(`/api/v1/cache${query({ since: range, bucket: RANGE_BUCKET[range] })}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    // A gateway whose cache route takes no bucket: the figures alone.
    if (err instanceof ApiError && err.status === 400) return api<CacheAnswer>('/api/v1/cache');
    throw err;
  }
}

const percent = (ratio: number | null): string => (ratio === null ? '–' : `${(ratio * 100).toFixed(1)} %`);

export function CacheView() {
  const [range, setRange] = useState<Range>('1h');
  const [cache, setCache] = useState<CacheAnswer | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const [loadedAt, setLoadedAt] = useState(Date.now());

  useEffect(() => {
    setError(null);
    loadCache(range).then((c) => {
      setCache(c);
      setLoadedAt(Date.now());
    }, setError);
  }, [range, tick]);

  const data = useMemo(() => {
    const step = bucketMs(RANGE_BUCKET[range]);
    const s = cacheSeries(cache?.buckets ?? [], loadedAt - RANGES[range], loadedAt, step);
    return {
      times: s.times,
      ratio: [{ label: 'hit ratio %', values: s.hitRatio }] as Series[],
      // Upstream first: the chart's first colour is its warning red, the second a calm blue.
      bytes: [
        { label: 'MiB fetched upstream', values: s.bytesFromUpstream.map((b) => b / MIB) },
        { label: 'MiB saved (from disk)', values: s.bytesFromDisk.map((b) => b / MIB) },
      ] as Series[],
      raw: s,
    };
  }, [cache, range, loadedAt]);

  const off = cache === null || (cache !== undefined && !cache.enabled);
  const buckets = cache?.buckets ?? [];
  const nothingYet = cache?.enabled === true && cache.hits + cache.misses === 0 && buckets.length === 0;
  return (
    <>
      <Section
        title="Layer cache"
        actions={<RangeActions range={range} onRange={setRange} onRefresh={() => setTick(tick + 1)} />}
      >
        <ErrorBox error={error} />
        {off && (
          <p class="empty" data-state="off">
            The layer cache is off: set <code>cache: true</code> on an inspected registry.
          </p>
        )}
        {cache?.enabled === true && (
          <div class="totals" data-state="on">
            <div>
              <b>{bytes(cache.sizeBytes)}</b> of {bytes(cache.maxBytes)}
            </div>
            <div>
              <b>{cache.entries}</b> layers
            </div>
            <div>
              <b>{percent(cache.hitRatio)}</b> hit ratio
            </div>
            <div>
              <b>{bytes(cache.bytesSaved)}</b> WAN bytes saved
            </div>
          </div>
        )}
        {cache?.enabled === true && (
          <p class="muted">Totals of this gateway since it started; charts from the stored records.</p>
        )}
        {nothingYet && (
          <p class="empty" data-state="empty">
            No cached pulls yet: the first pull of a layer fills the cache, the next ones are served from disk.
          </p>
        )}
      </Section>
      {cache !== undefined && (!off || buckets.length > 0) && !nothingYet && (
        <>
          <Section title="Hit ratio over time">
            <div data-chart="hit-ratio" data-points={data.times.length} data-values={JSON.stringify(data.raw.hitRatio)}>
              <TimeChart times={data.times} series={data.ratio} leftLabel="hit ratio %" />
            </div>
          </Section>
          <Section title="WAN bytes saved over time">
            <div
              data-chart="bytes"
              data-points={data.times.length}
              data-values={JSON.stringify({ disk: data.raw.bytesFromDisk, upstream: data.raw.bytesFromUpstream })}
            >
              <TimeChart times={data.times} series={data.bytes} leftLabel="MiB" />
            </div>
          </Section>
        </>
      )}
    </>
  );
}
