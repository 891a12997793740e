// The store interface: where records go after the audit log, and what the admin API asks of them.
// Three back ends answer the same queries: memory (the ring), embedded (SQLite) and postgres.
import type { LogFilter, LogPage } from './query.js';
import type { DecisionRecord } from '../audit/record.js';
import type { CacheBucket } from './cache-buckets.js';
import type { Stats } from './memory-stats.js';

export type StoreBackend = 'memory' | 'embedded' | 'postgres';

/** A record as stored: a decision record, or (with `kind: "request"`) an inspected request. */
export type StoredRecord = DecisionRecord;

/** Records that never reached the store: dropped beyond the queue bound between `from` and `to`. */
export interface Gap {
  from: string;
  to: string;
  dropped: number;
  instance?: string;
}

export interface StatsBucket {
  start: string;
  records: number;
  allowed: number;
  blocked: number;
  reasons: Record<string, number>;
  hosts: Record<string, number>;
  clients: Record<string, number>;
  rules: Record<string, number>;
  instances: Record<string, number>;
}

export interface PullSummary {
  repository: string | null;
  reference: string | null;
  digest: string | null;
  client: string | null;
  first: string;
  last: string;
  count: number;
}

export interface LearnedHost {
  host: string;
  registry: string | null;
  expiresAt: string;
}

export interface StoreBounds {
  records: number;
  oldest: string | null;
  newest: string | null;
}

export interface RecordStore {
  readonly backend: StoreBackend;
  /** Adds records; a record whose id is already stored is skipped (import and retries are idempotent). */
  write(records: readonly StoredRecord[]): Promise<void>;
  logs(filter: LogFilter, page: { limit: number; cursor?: string | null }): Promise<LogPage>;
  /** Matching records newer than `afterId`, oldest first (SSE replay). */
  newerThan(filter: LogFilter, afterId: string, limit: number): Promise<StoredRecord[]>;
  stats(filter: LogFilter, top: number, now?: number): Promise<Stats>;
  buckets(filter: LogFilter, bucketMs: number, top: number): Promise<StatsBucket[]>;
  /** Layer-cache results and bytes per bucket, over request records with a `cache` field. */
  cacheBuckets(filter: LogFilter, bucketMs: number): Promise<CacheBucket[]>;
  pulls(filter: LogFilter, limit: number): Promise<PullSummary[]>;
  bounds(): Promise<StoreBounds>;
  /** Deletes records that arrived before `beforeMs`; the number removed. */
  prune(beforeMs: number): Promise<number>;
  addGaps(gaps: readonly Gap[]): Promise<void>;
  gaps(fromMs: number | null, toMs: number | null): Promise<Gap[]>;
  learnedHosts(): Promise<LearnedHost[]>;
  putLearnedHost(host: LearnedHost): Promise<void>;
  /** Refreshes the planner's statistics (a bulk load outruns autovacuum). */
  analyze?(): Promise<void>;
  /** Records other replicas wrote (fleet back ends only). */
  subscribeFleet?(listener: (record: StoredRecord) => void): () => void;
  close(): Promise<void>;
}
