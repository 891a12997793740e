// The memory back end: the recent-decisions ring (log.recent records, per process) behind the store
// interface. The default when nothing else is configured, the fallback, and what unit tests use.
import { matching, newerThan, queryLogs, type LogFilter, type LogPage } from './query.js';
import type { DecisionStore } from './ring.js';
import { computeStats, type Stats } from './memory-stats.js';
import { bucketRecords } from './buckets.js';
import { cacheBucketRecords, type CacheBucket } from './cache-buckets.js';
import type { Gap, LearnedHost, PullSummary, RecordStore, StatsBucket, StoreBounds, StoredRecord } from './types.js';

export class MemoryStore implements RecordStore {
  readonly backend = 'memory' as const;
  readonly ring: DecisionStore;
  #learned = new Map<string, LearnedHost>();

  constructor(ring: DecisionStore) {
    this.ring = ring;
  }

  /** Records reach the ring from the recorder directly; write adds only ids it does not hold (import). */
  async write(records: readonly StoredRecord[]): Promise<void> {
    const newest = this.ring.at(this.ring.nextSeq - 1)?.id ?? '';
    for (const r of records) if (r.id > newest) this.ring.add(r);
  }

  async logs(filter: LogFilter, page: { limit: number; cursor?: string | null }): Promise<LogPage> {
    return queryLogs(this.ring, filter, page);
  }

  async newerThan(filter: LogFilter, afterId: string, limit: number): Promise<StoredRecord[]> {
    return newerThan(this.ring, filter, afterId, limit);
  }

  async stats(filter: LogFilter, top: number, now?: number): Promise<Stats> {
    return computeStats(this.ring, filter, top, now);
  }

  async buckets(filter: LogFilter, bucketMs: number, top: number): Promise<StatsBucket[]> {
    return bucketRecords(matching(this.ring, filter), bucketMs, top);
  }

  async cacheBuckets(filter: LogFilter, bucketMs: number): Promise<CacheBucket[]> {
    return cacheBucketRecords(matching(this.ring, filter), bucketMs);
  }

  async pulls(filter: LogFilter, limit: number): Promise<PullSummary[]> {
    return summarisePulls(matching(this.ring, filter), limit);
  }

  async bounds(): Promise<StoreBounds> {
    const oldest = this.ring.at(this.ring.firstSeq);
    const newest = this.ring.at(this.ring.nextSeq - 1);
    return { records: this.ring.size, oldest: oldest?.time ?? null, newest: newest?.time ?? null };
  }

  /** The ring forgets by size, not by age. */
  async prune(): Promise<number> {
    return 0;
  }

  async addGaps(_gaps: readonly Gap[]): Promise<void> {}

  async gaps(): Promise<Gap[]> {
    return [];
  }

  async learnedHosts(): Promise<LearnedHost[]> {
    const now = new Date().toISOString();
    return [...this.#learned.values()].filter((h) => h.expiresAt > now);
  }

  async putLearnedHost(host: LearnedHost): Promise<void> {
    this.#learned.set(host.host, host);
  }

  async close(): Promise<void> {}
}

/** Manifest GETs of inspected tunnels grouped by repository, reference, digest and client. */
function summarisePulls(records: Iterable<StoredRecord>, limit: number): PullSummary[] {
  const groups = new Map<string, PullSummary>();
  for (const r of records) {
    if (r.kind !== 'request' || r.method !== 'GET' || !r.path?.includes('/manifests/')) continue;
    const key = JSON.stringify([r.repository, r.reference, r.digest, r.client]);
    const g = groups.get(key);
    if (g === undefined) {
      groups.set(key, {
        repository: r.repository ?? null,
        reference: r.reference ?? null,
        digest: r.digest ?? null,
        client: r.client,
        first: r.time,
        last: r.time,
        count: 1,
      });
    } else {
      g.count++;
      if (r.time < g.first) g.first = r.time;
      if (r.time > g.last) g.last = r.time;
    }
  }
  return [...groups.values()].sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0)).slice(0, limit);
}
