// The embedded back end: SQLite (node:sqlite, built into Node) in `audit.dir`, so one gateway keeps
// its history across restarts with no server. Its database runs on a worker thread (sqlite-worker.ts).
import { AcrEgressError } from '../errors.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LogFilter, LogPage } from './query.js';
import { tallyBuckets, toBucketRows, type DimRow } from './buckets.js';
import { ipBytes } from './ip-range.js';
import type { Query, SqlClient } from './sql-client.js';
import { SqlStore, timeWindow } from './sql-store.js';
import { whereOf } from './sql.js';
import { SqliteThread, type Params } from './sqlite-thread.js';
import type { Gap, LearnedHost, StatsBucket, StoreBounds, StoredRecord } from './types.js';

/** The database file inside audit.dir (with its -wal and -shm beside it). */
const EMBEDDED_FILE = 'acr-egress.sqlite';

/**
 * The shared SQL (sql-store.ts) is written for PostgreSQL; SQLite takes it once numbered parameters
 * are spelled ?N, casts SQLite's dynamic typing does not need are dropped, and times are epoch ms.
 * The stats' own `AND decision = 'x'` gets SQLite's unary + so that its planner keeps the time index
 * (a decision matches half the table; a window of a day, a seventh of a week).
 */
const translate = (sql: string): string =>
  sql
    .replace(/\$(\d+)/g, '?$1')
    .replace(/::(int|float8|text|json)\b/g, '')
    .replace(/\bAND (r\.)?decision = '/g, "AND +$1decision = '");
const bindable = (v: unknown): Params[number] =>
  v instanceof Date ? v.getTime() : typeof v === 'boolean' ? Number(v) : v === undefined ? null : (v as Params[number]);

/** A record as the worker's row: ROW_COLUMNS order in sqlite-worker.ts. */
function row(rec: StoredRecord): Params {
  return [
    rec.id,
    Date.parse(rec.time),
    rec.kind ?? 'decision',
    rec.instance ?? null,
    rec.mode ?? null,
    rec.decision ?? null,
    rec.reason ?? null,
    rec.host ?? null,
    rec.client ?? null,
    rec.client === null || rec.client === undefined ? null : ipBytes(rec.client),
    rec.rule ?? null,
    rec.user ?? null,
    rec.repository ?? null,
    rec.reference ?? null,
    rec.digest ?? null,
    rec.method ?? null,
    rec.status ?? null,
    rec.bytesUp ?? null,
    rec.bytesDown ?? null,
    rec.report === true ? 1 : 0,
    rec.cache ?? null,
    JSON.stringify(rec),
  ];
}

const HOUR_MS = 3_600_000;
const iso = (ms: unknown): string => new Date(Number(ms)).toISOString();

/**
 * Logs, stats and pulls are the shared SQL; writes, buckets and the small tables are SQLite's own,
 * where PostgreSQL's spelling (data-modifying CTEs, GROUPING SETS, LATERAL) has no SQLite form.
 */
export class EmbeddedStore extends SqlStore {
  readonly #thread: SqliteThread;

  constructor(thread: SqliteThread) {
    const query: Query = <T>(text: string, params?: readonly unknown[]) =>
      thread.call<T[]>({ op: 'all', sql: translate(text), params: (params ?? []).map(bindable) });
    const client: SqlClient = { query, session: (fn) => fn(query), close: () => thread.close() };
    super(client, { backend: 'embedded', dialect: 'sqlite' });
    this.#thread = thread;
  }

  override async write(records: readonly StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#thread.call({ op: 'write', rows: records.map(row) });
  }

  override async logs(filter: LogFilter, page: { limit: number; cursor?: string | null }): Promise<LogPage> {
    if (page.limit <= 0) return { items: [], nextCursor: null };
    const w = whereOf(filter, [], 'sqlite');
    const cursor = page.cursor ? ` AND id < $${w.params.push(page.cursor)}` : '';
    // The page's row ids first, records after: SQLite would otherwise sort every match with its
    // record text (thousands for a busy /24) to keep 100.
    const rows = await this.db.query<{ id: string; rec: string }>(
      `SELECT id, rec FROM acr_records WHERE rowid IN (SELECT rowid FROM acr_records WHERE ${w.sql}${cursor}
         ORDER BY id DESC LIMIT $${w.params.push(page.limit)}) ORDER BY id DESC`,
      w.params,
    );
    const last = rows[rows.length - 1];
    return {
      items: rows.map((r) => JSON.parse(r.rec) as StoredRecord),
      nextCursor: rows.length >= page.limit && last !== undefined ? last.id : null,
    };
  }

  override async byIds(ids: readonly string[]): Promise<StoredRecord[]> {
    const rows = await this.db.query<{ rec: string }>(
      'SELECT rec FROM acr_records WHERE id IN (SELECT value FROM json_each($1)) ORDER BY id',
      [JSON.stringify(ids)],
    );
    return rows.map((r) => JSON.parse(r.rec) as StoredRecord);
  }

  override async buckets(filter: LogFilter, bucketMs: number, top: number): Promise<StatsBucket[]> {
    const seconds = Math.max(1, Math.floor(bucketMs / 1000));
    const limit = Math.max(1, Math.floor(top));
    const topOf = (inner: string): string => `SELECT b, dim, value, n FROM (
        SELECT b, dim, value, n, row_number() OVER (PARTITION BY b, dim ORDER BY n DESC, value) AS rank
        FROM (${inner}) WHERE value IS NOT NULL)
      WHERE dim = 'decision' OR rank <= ${limit}`;
    const raw = (f: LogFilter, pruned: boolean): Promise<DimRow[]> => {
      const w = whereOf(f, [], 'sqlite');
      const inner = ['decision', 'reason', 'host', 'client', 'rule', 'instance']
        .map(
          (dim) => `SELECT (time / ${seconds * 1000}) * ${seconds} AS b, '${dim}' AS dim, ${dim} AS value, count(*) AS n
            FROM acr_records WHERE ${w.sql} AND ${dim} IS NOT NULL GROUP BY 1, 3`,
        )
        .join(' UNION ALL ');
      return this.db.query<DimRow>(pruned ? topOf(inner) : inner, w.params);
    };
    if (!filter.timeOnly || seconds % 3600 !== 0) return tallyBuckets(toBucketRows(await raw(filter, true)), top);
    // As the PostgreSQL store: whole hours from the hourly counts, the partial hours at the edges from
    // the records.
    const since = filter.since ?? 0;
    const until = filter.until ?? Date.now() + HOUR_MS;
    const firstWhole = Math.ceil(since / HOUR_MS) * HOUR_MS;
    const endWhole = Math.floor((until + 1) / HOUR_MS) * HOUR_MS;
    if (endWhole <= firstWhole) return tallyBuckets(toBucketRows(await raw(filter, true)), top);
    const rows = await this.db.query<DimRow>(
      seconds === 3600 && filter.since !== null && endWhole - firstWhole <= 31 * 24 * HOUR_MS
        ? // One bucket per hour: each hour's top values straight off the (hour, dim, n DESC) index (at
          // least 2: a decision is allowed or blocked, and both are kept).
          `WITH RECURSIVE h(hour) AS (SELECT $1 UNION ALL SELECT hour + ${HOUR_MS} FROM h WHERE hour + ${HOUR_MS} < $2),
            d(dim) AS (VALUES ('decision'), ('reason'), ('host'), ('client'), ('rule'), ('instance'))
          SELECT h.hour / 1000 AS b, s.dim, s.value, s.n FROM h, d, acr_stats_hourly s
          WHERE s.rowid IN (SELECT rowid FROM acr_stats_hourly WHERE hour = h.hour AND dim = d.dim
            ORDER BY n DESC, value LIMIT ${Math.max(limit, 2)})`
        : topOf(`SELECT (hour / ${seconds * 1000}) * ${seconds} AS b, dim, value, sum(n) AS n FROM acr_stats_hourly
            WHERE hour >= $1 AND hour < $2 GROUP BY 1, 2, 3`),
      [firstWhole, endWhole],
    );
    if (filter.since !== null && since < firstWhole)
      rows.push(...(await raw(timeWindow(filter.since, firstWhole - 1), false)));
    if (filter.until !== null && until >= endWhole)
      rows.push(...(await raw(timeWindow(endWhole, filter.until), false)));
    return tallyBuckets(toBucketRows(rows), top);
  }

  override async bounds(): Promise<StoreBounds> {
    const [r] = await this.db.query<{ oldest: number | null; newest: number | null; n: number }>(
      `SELECT (SELECT time FROM acr_records ORDER BY id ASC LIMIT 1) AS oldest,
              (SELECT time FROM acr_records ORDER BY id DESC LIMIT 1) AS newest,
              (SELECT count(*) FROM acr_records) AS n`,
    );
    return {
      records: Number(r?.n ?? 0),
      oldest: r?.oldest == null ? null : iso(r.oldest),
      newest: r?.newest == null ? null : iso(r.newest),
    };
  }

  override async prune(beforeMs: number): Promise<number> {
    const removed = await this.#thread.call<number>({
      op: 'run',
      sql: 'DELETE FROM acr_records WHERE time < ?',
      params: [beforeMs],
    });
    await this.db.query('DELETE FROM acr_store_gaps WHERE to_time < $1', [beforeMs]);
    await this.db.query('DELETE FROM acr_stats_hourly WHERE hour < $1', [beforeMs]);
    await this.db.query('DELETE FROM acr_learned_hosts WHERE expires_at < $1', [Date.now()]);
    return removed;
  }

  override async analyze(): Promise<void> {
    // SQLite's own: statistics for tables that have none or changed much, on a sample (fast at 1M rows).
    await this.db.query('PRAGMA analysis_limit = 1000');
    await this.db.query('PRAGMA optimize = 0x10002');
  }

  override async addGaps(gaps: readonly Gap[]): Promise<void> {
    for (const g of gaps) {
      await this.db.query(
        `INSERT INTO acr_store_gaps (instance, from_time, to_time, dropped) VALUES ($1, $2, $3, $4)
         ON CONFLICT (instance, from_time) DO UPDATE SET to_time = excluded.to_time, dropped = excluded.dropped`,
        [g.instance ?? '', Date.parse(g.from), Date.parse(g.to), g.dropped],
      );
    }
  }

  override async gaps(fromMs: number | null, toMs: number | null): Promise<Gap[]> {
    const rows = await this.db.query<{ instance: string; from_time: number; to_time: number; dropped: number }>(
      `SELECT instance, from_time, to_time, dropped FROM acr_store_gaps
       WHERE ($1 IS NULL OR to_time >= $1) AND ($2 IS NULL OR from_time <= $2) ORDER BY from_time`,
      [fromMs, toMs],
    );
    return rows.map((r) => ({ from: iso(r.from_time), to: iso(r.to_time), dropped: r.dropped, instance: r.instance }));
  }

  override async learnedHosts(): Promise<LearnedHost[]> {
    const rows = await this.db.query<{ host: string; registry: string | null; expires_at: number }>(
      'SELECT host, registry, expires_at FROM acr_learned_hosts WHERE expires_at > $1 ORDER BY host',
      [Date.now()],
    );
    return rows.map((r) => ({ host: r.host, registry: r.registry, expiresAt: iso(r.expires_at) }));
  }

  override async putLearnedHost(h: LearnedHost): Promise<void> {
    await this.db.query(
      `INSERT INTO acr_learned_hosts (host, registry, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (host) DO UPDATE SET registry = excluded.registry,
         expires_at = max(acr_learned_hosts.expires_at, excluded.expires_at)`,
      [h.host, h.registry, Date.parse(h.expiresAt)],
    );
  }
}

/** Opens (creating) the store in `dir`; an unusable dir is an error that says what to do instead. */
export async function openEmbeddedStore(dir: string): Promise<EmbeddedStore> {
  try {
    mkdirSync(dir, { recursive: true });
    return new EmbeddedStore(await SqliteThread.start(join(dir, EMBEDDED_FILE)));
  } catch (err) {
    throw new AcrEgressError(
      'STORE_UNAVAILABLE',
      `audit.dir ${dir} cannot hold the embedded store (${(err as Error).message}): ` +
        'make it writable (a volume in a container), or set audit.store: memory',
      { cause: err },
    );
  }
}
