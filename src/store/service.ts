// The store as the gateway runs it: the configured back end, the writer that feeds it, the daily
// retention sweep, and the state shown by GET /api/v1/store and the metrics.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { DecisionStore } from './ring.js';
import type { Config } from '../config/schema.js';
import { AcrEgressError } from '../errors.js';
import type { Prepared } from '../reload.js';
import { openEmbeddedStore } from './embedded.js';
import { MemoryStore } from './memory-store.js';
import { PostgresStore } from './postgres.js';
import type { Gap, RecordStore, StoreBackend, StoreBounds, StoredRecord } from './types.js';
import { idleWriterState, StoreWriter, type WriterState } from './writer.js';

export type AuditConfig = Config['audit'];

/** How often old days are deleted (also once at start). */
const RETENTION_SWEEP_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface StoreState extends WriterState {
  backend: StoreBackend;
  instance: string;
  retentionDays: number;
  flushMs: number;
  queueMax: number;
  oldest: string | null;
  newest: string | null;
  records: number | null;
}

/** This replica's name in records: POD_NAME (Kubernetes downward API), else the host name. */
export function instanceName(env: NodeJS.ProcessEnv = process.env): string {
  return env.POD_NAME || env.HOSTNAME || hostname();
}

/** The database URL: audit.url, else the first line of audit.urlFile (a mounted Secret). */
export function databaseUrl(audit: AuditConfig): string {
  if (audit.url !== null) return audit.url;
  if (audit.urlFile !== null) return readFileSync(audit.urlFile, 'utf8').trim();
  throw new AcrEgressError('CONFIG_INVALID', 'audit.store is postgres but neither audit.url nor audit.urlFile is set');
}

export class StoreService {
  readonly store: RecordStore;
  readonly writer: StoreWriter | null;
  readonly instance: string;
  readonly #audit: AuditConfig;
  readonly #log: Logger;
  #sweep: NodeJS.Timeout | null = null;

  private constructor(store: RecordStore, audit: AuditConfig, instance: string, log: Logger) {
    this.store = store;
    this.#audit = audit;
    this.instance = instance;
    this.#log = log;
    this.writer =
      store.backend === 'memory'
        ? null
        : new StoreWriter(store, {
            queueMax: audit.queueMax,
            batchSize: audit.batchSize,
            flushMs: audit.flushMs,
            instance,
            onError: (err) => log.warn({ err: String(err) }, 'store write failed; records stay queued'),
            onRecovered: () => log.info('store writes recovered'),
          });
  }

  /**
   * Opens the configured back end. PostgreSQL connects lazily (a database down at start delays the
   * store, never the gateway); an embedded directory that cannot be opened is an error at start.
   */
  static async open(audit: AuditConfig, ring: DecisionStore, instance: string, log: Logger): Promise<StoreService> {
    let store: RecordStore;
    if (audit.store === 'embedded') {
      store = await openEmbeddedStore(audit.dir);
    } else if (audit.store === 'postgres') {
      const pgStore = PostgresStore.create({
        url: databaseUrl(audit),
        instance,
        onError: (err) => log.warn({ err: String(err) }, 'postgres connection error'),
      });
      await pgStore.migrate().then(
        (applied) => log.info({ applied }, 'store schema migrated'),
        (err: unknown) => log.warn({ err: String(err) }, 'postgres not reachable at start; retrying on write'),
      );
      store = pgStore;
    } else {
      store = new MemoryStore(ring);
    }
    const service = new StoreService(store, audit, instance, log);
    service.#startSweep();
    return service;
  }

  /** Reload: the back end is opened once per process, so a new one is refused (it needs a restart). */
  prepare(next: AuditConfig, instance: string): Prepared {
    const changed = (['store', 'url', 'urlFile', 'dir'] as const).find((key) => next[key] !== this.#audit[key]);
    if (changed !== undefined)
      throw new AcrEgressError('CONFIG_INVALID', `audit.${changed}: changing the store needs a restart`);
    if (instance !== this.instance)
      throw new AcrEgressError('CONFIG_INVALID', 'audit.instance: changing the instance name needs a restart');
    return { commit: () => undefined };
  }

  /** Called for every record after the audit log has it; never waits. */
  add(record: StoredRecord): void {
    this.writer?.enqueue(record);
  }

  #startSweep(): void {
    if (this.store.backend === 'memory') return;
    const sweep = (): void => {
      void this.prune().catch((err: unknown) => this.#log.warn({ err: String(err) }, 'retention sweep failed'));
    };
    sweep();
    this.#sweep = setInterval(sweep, RETENTION_SWEEP_MS);
    this.#sweep.unref();
  }

  /** Hourly: deletes whole days older than audit.retentionDays (UTC midnight boundaries); the number removed. */
  async prune(now = Date.now()): Promise<number> {
    const cutoff = Math.floor(now / DAY_MS) * DAY_MS - (this.#audit.retentionDays - 1) * DAY_MS;
    const removed = await this.store.prune(cutoff);
    // Keeps the planner choosing the id index for pages: without statistics it sorts every match.
    await this.store.analyze?.();
    if (removed > 0) this.#log.info({ removed, before: new Date(cutoff).toISOString() }, 'retention sweep');
    return removed;
  }

  /** Gaps overlapping [fromMs, toMs]: this replica's (also while the store is down) and the fleet's. */
  async gaps(fromMs: number | null, toMs: number | null): Promise<Gap[]> {
    const local = this.writer?.gapsBetween(fromMs, toMs) ?? [];
    const shared = await this.store.gaps(fromMs, toMs).catch(() => []);
    const seen = new Set(local.map((g) => `${g.instance}|${Date.parse(g.from)}`));
    return [...local, ...shared.filter((g) => !seen.has(`${g.instance}|${Date.parse(g.from)}`))].sort((a, b) =>
      a.from < b.from ? -1 : 1,
    );
  }

  async state(): Promise<StoreState> {
    const w = this.writer?.state() ?? idleWriterState();
    let bounds: StoreBounds | null = null;
    try {
      bounds = await this.store.bounds();
    } catch (err) {
      w.healthy = false;
      w.lastError ??= String(err);
    }
    return {
      backend: this.store.backend,
      instance: this.instance,
      retentionDays: this.#audit.retentionDays,
      flushMs: this.#audit.flushMs,
      queueMax: this.#audit.queueMax,
      ...w,
      oldest: bounds?.oldest ?? null,
      newest: bounds?.newest ?? null,
      records: bounds?.records ?? null,
    };
  }

  async close(): Promise<void> {
    if (this.#sweep !== null) clearInterval(this.#sweep);
    await this.writer?.close();
    await this.store.close();
  }
}
