// The SQL back end (PostgreSQL; the embedded SQLite store shares its queries): batched idempotent inserts, keyset
// pages ordered by id (ULIDs: time first, so one order across the fleet), aggregates in SQL.
import { parseIp } from '../net/address.js';
import { LogFilter, type LogPage } from './query.js';
import type { Stats } from './memory-stats.js';
import { whereOf, type Dialect } from './sql.js';
import type { SqlClient } from './sql-client.js';
import { tallyBuckets, toBucketRows, type DimRow } from './buckets.js';
import { emptyCacheBucket, type CacheBucket } from './cache-buckets.js';
import type {
  Gap,
  LearnedHost,
  PullSummary,
  RecordStore,
  StatsBucket,
  StoreBackend,
  StoreBounds,
  StoredRecord,
} from './types.js';

const COLUMNS = `id text, time timestamptz, kind text, instance text, mode text, decision text, reason text,
  host text, client text, client_ip inet, rule text, usr text, repository text, reference text, digest text,
  method text, status integer, bytes_up bigint, bytes_down bigint, report boolean, cache text, rec json`;
const NAMES = COLUMNS.split(',').map((c) => c.trim().split(' ')[0] as string);

/** One row for json_to_recordset: the indexed columns plus the record as written. */
function row(rec: StoredRecord, text: string): Record<string, unknown> {
  const ip = rec.client === null ? null : parseIp(rec.client);
  return {
    id: rec.id,
    time: rec.time,
    kind: rec.kind ?? 'decision',
    instance: rec.instance ?? null,
    mode: rec.mode ?? null,
    decision: rec.decision ?? null,
    reason: rec.reason ?? null,
    host: rec.host ?? null,
    client: rec.client ?? null,
    client_ip: ip === null ? null : ip.address,
    rule: rec.rule ?? null,
    usr: rec.user ?? null,
    repository: rec.repository ?? null,
    reference: rec.reference ?? null,
    digest: rec.digest ?? null,
    method: rec.method ?? null,
    status: rec.status ?? null,
    bytes_up: rec.bytesUp ?? null,
    bytes_down: rec.bytesDown ?? null,
    report: rec.report === true,
    cache: rec.cache ?? null,
    rec: JSON.parse(text) as unknown,
  };
}

/** A time as a driver returns it: a Date (pg), text, or epoch milliseconds (SQLite). */
const iso = (v: unknown): string =>
  (v instanceof Date ? v : new Date(typeof v === 'number' ? v : String(v))).toISOString();
const asRecord = (v: unknown): StoredRecord => (typeof v === 'string' ? JSON.parse(v) : v) as StoredRecord;

/** A filter on time only: records with `time` in [fromMs, toMs] (either end open when null). */
export function timeWindow(fromMs: number | null, toMs: number | null): LogFilter {
  const params: Record<string, string> = {};
  if (fromMs !== null) params.since = new Date(fromMs).toISOString();
  if (toMs !== null) params.until = new Date(toMs).toISOString();
  return LogFilter.parse(params) as LogFilter;
}

export interface SqlStoreOptions {
  backend: StoreBackend;
  /** Set: after each insert, NOTIFY this channel with each new record (or its id when large). */
  notifyChannel?: string | null;
  /** How the filters are spelled (sql.ts); PostgreSQL unless given. */
  dialect?: Dialect;
}

/** The origin of hour buckets. */
const EPOCH = '2000-01-01 00:00:00+00';
const HOUR_MS = 3_600_000;

/** Records at or above this many bytes are announced by id; NOTIFY payloads stop at 8000 bytes. */
const NOTIFY_INLINE_LIMIT = 7900;

export class SqlStore implements RecordStore {
  readonly backend: StoreBackend;
  protected readonly db: SqlClient;
  protected readonly dialect: Dialect;
  #notify: string | null;

  constructor(db: SqlClient, options: SqlStoreOptions) {
    this.db = db;
    this.backend = options.backend;
    this.dialect = options.dialect ?? 'postgres';
    this.#notify = options.notifyChannel ?? null;
  }

  async write(records: readonly StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    const rows = records.map((r) => row(r, JSON.stringify(r)));
    // One statement: the records, the hourly counts of exactly the rows inserted (a batch sent twice
    // counts once), and the notifications. Counts are upserted in key order so that two replicas
    // updating the same hours lock rows in the same order and never deadlock.
    const notify =
      this.#notify === null
        ? ''
        : `, (SELECT count(pg_notify($2, CASE WHEN octet_length(text) < ${NOTIFY_INLINE_LIMIT} THEN text
             ELSE json_build_object('id', id)::text END)) FROM ins)::int AS notified`;
    await this.db.query(
      `WITH ins AS (
         INSERT INTO acr_records (${NAMES.join(', ')})
         SELECT ${NAMES.join(', ')} FROM json_to_recordset($1::json) AS x(${COLUMNS})
         ON CONFLICT (id) DO NOTHING
         RETURNING id, time, decision, reason, host, client, rule, instance, rec::text AS text),
       roll AS (
         INSERT INTO acr_stats_hourly (hour, dim, value, n)
         SELECT date_bin('1 hour', ins.time, '${EPOCH}'), d.dim, d.value, count(*)
         FROM ins, LATERAL (VALUES ('decision', ins.decision), ('reason', ins.reason), ('host', ins.host),
           ('client', ins.client), ('rule', ins.rule), ('instance', ins.instance)) AS d(dim, value)
         WHERE d.value IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
         ON CONFLICT (hour, dim, value) DO UPDATE SET n = acr_stats_hourly.n + excluded.n
         RETURNING 1)
       SELECT (SELECT count(*) FROM roll)::int AS counted${notify}`,
      this.#notify === null ? [JSON.stringify(rows)] : [JSON.stringify(rows), this.#notify],
    );
  }

  async logs(filter: LogFilter, page: { limit: number; cursor?: string | null }): Promise<LogPage> {
    const w = whereOf(filter, [], this.dialect);
    if (page.limit <= 0) return { items: [], nextCursor: null };
    const cursor = page.cursor ? ` AND id < $${w.params.push(page.cursor)}` : '';
    const rows = await this.db.query<{ id: string; rec: unknown }>(
      `SELECT id, rec FROM acr_records WHERE ${w.sql}${cursor} ORDER BY id DESC LIMIT $${w.params.push(page.limit)}`,
      w.params,
    );
    const items = rows.map((r) => asRecord(r.rec));
    const last = rows[rows.length - 1];
    return { items, nextCursor: rows.length >= page.limit && last !== undefined ? last.id : null };
  }

  async newerThan(filter: LogFilter, afterId: string, limit: number): Promise<StoredRecord[]> {
    const w = whereOf(filter, [], this.dialect);
    const rows = await this.db.query<{ rec: unknown }>(
      `SELECT rec FROM acr_records WHERE ${w.sql} AND id > $${w.params.push(afterId)}
       ORDER BY id ASC LIMIT $${w.params.push(limit)}`,
      w.params,
    );
    return rows.map((r) => asRecord(r.rec));
  }

  async byIds(ids: readonly string[]): Promise<StoredRecord[]> {
    const rows = await this.db.query<{ rec: unknown }>(
      'SELECT rec FROM acr_records WHERE id = ANY($1::text[]) ORDER BY id',
      [ids],
    );
    return rows.map((r) => asRecord(r.rec));
  }

  async stats(filter: LogFilter, top: number, now = Date.now()): Promise<Stats> {
    const w = whereOf(filter, [], this.dialect);
    const q = <T>(sql: string): Promise<T[]> => this.db.query<T>(sql, w.params);
    const n = `LIMIT ${Math.max(1, Math.floor(top))}`;
    const [totals, reasons, blocked, allowed, clients] = await Promise.all([
      q<Record<string, number>>(`SELECT count(*)::int AS records,
          count(*) FILTER (WHERE decision = 'allowed')::int AS allowed,
          count(*) FILTER (WHERE decision = 'blocked')::int AS blocked,
          count(*) FILTER (WHERE report)::int AS report,
          coalesce(sum(bytes_up), 0)::float8 AS up, coalesce(sum(bytes_down), 0)::float8 AS down
        FROM acr_records WHERE ${w.sql}`),
      q<{ reason: string; n: number }>(
        `SELECT reason, count(*)::int AS n FROM acr_records WHERE ${w.sql} AND reason IS NOT NULL GROUP BY reason`,
      ),
      q<{ host: string; reason: string; n: number }>(`WITH t AS MATERIALIZED (
          SELECT coalesce(host, '(none)') AS host, count(*) AS n FROM acr_records
          WHERE ${w.sql} AND decision = 'blocked' GROUP BY 1 ORDER BY n DESC, host ${n})
        SELECT t.host, coalesce(r.reason, 'unknown') AS reason, count(*)::int AS n FROM acr_records r
          JOIN t ON coalesce(r.host, '(none)') = t.host WHERE ${w.sql.replace(/\bhost\b/g, 'r.host')}
          AND r.decision = 'blocked' GROUP BY 1, 2`),
      q<{ host: string; n: number; up: number; down: number }>(`SELECT coalesce(host, '(none)') AS host,
          count(*)::int AS n, coalesce(sum(bytes_up), 0)::float8 AS up, coalesce(sum(bytes_down), 0)::float8 AS down
        FROM acr_records WHERE ${w.sql} AND decision = 'allowed' GROUP BY 1
        ORDER BY coalesce(sum(bytes_up), 0) + coalesce(sum(bytes_down), 0) DESC, host ${n}`),
      q<{ client: string; n: number; blocked: number; bytes: number }>(`SELECT coalesce(client, '(unknown)') AS client,
          count(*)::int AS n, count(*) FILTER (WHERE decision = 'blocked')::int AS blocked,
          coalesce(sum(coalesce(bytes_up, 0) + coalesce(bytes_down, 0)), 0)::float8 AS bytes
        FROM acr_records WHERE ${w.sql} GROUP BY 1 ORDER BY n DESC, client ${n}`),
    ]);
    const t = totals[0] ?? {};
    const blockedHosts = new Map<string, { count: number; reasons: Record<string, number> }>();
    for (const r of blocked) {
      let h = blockedHosts.get(r.host);
      if (h === undefined) blockedHosts.set(r.host, (h = { count: 0, reasons: {} }));
      h.count += r.n;
      h.reasons[r.reason] = r.n;
    }
    return {
      since: filter.since === null ? null : new Date(filter.since).toISOString(),
      until: new Date(filter.until ?? now).toISOString(),
      records: t.records ?? 0,
      decisions: { allowed: t.allowed ?? 0, blocked: t.blocked ?? 0 },
      reportOnly: t.report ?? 0,
      reasons: Object.fromEntries(reasons.map((r) => [r.reason, r.n])),
      bytes: { up: t.up ?? 0, down: t.down ?? 0 },
      topBlockedHosts: [...blockedHosts]
        .map(([host, h]) => ({ host, ...h }))
        .sort((a, b) => b.count - a.count || (a.host < b.host ? -1 : 1)),
      topAllowedHosts: allowed.map((r) => ({
        host: r.host,
        count: r.n,
        bytes: r.up + r.down,
        bytesUp: r.up,
        bytesDown: r.down,
      })),
      topClients: clients.map((r) => ({ client: r.client, count: r.n, blocked: r.blocked, bytes: r.bytes })),
    };
  }

  async buckets(filter: LogFilter, bucketMs: number, top: number): Promise<StatsBucket[]> {
    const seconds = Math.max(1, Math.floor(bucketMs / 1000));
    const bucketOf = (col: string): string => `(floor(extract(epoch FROM ${col}) / ${seconds}) * ${seconds})::float8`;
    const limit = Math.max(1, Math.floor(top));
    // Only each bucket's top values per dimension leave the database (clients can be thousands an
    // hour); decision rows carry the totals and are all kept.
    const topOf = (inner: string): string => `SELECT b, dim, value, n FROM (
        SELECT b, dim, value, n, row_number() OVER (PARTITION BY b, dim ORDER BY n DESC, value COLLATE "C") AS rank
        FROM (${inner}) g WHERE value IS NOT NULL) t
      WHERE dim = 'decision' OR rank <= ${limit}`;
    const raw = async (f: LogFilter, pruned: boolean): Promise<DimRow[]> => {
      const w = whereOf(f);
      const inner = `SELECT ${bucketOf('time')} AS b,
          CASE WHEN GROUPING(decision) = 0 THEN 'decision' WHEN GROUPING(reason) = 0 THEN 'reason'
            WHEN GROUPING(host) = 0 THEN 'host' WHEN GROUPING(client) = 0 THEN 'client'
            WHEN GROUPING(rule) = 0 THEN 'rule' ELSE 'instance' END AS dim,
          coalesce(decision, reason, host, client, rule, instance) AS value, count(*)::float8 AS n
        FROM acr_records WHERE ${w.sql}
        GROUP BY GROUPING SETS ((1, decision), (1, reason), (1, host), (1, client), (1, rule), (1, instance))`;
      return this.db.query<DimRow>(pruned ? topOf(inner) : inner, w.params);
    };
    if (!filter.timeOnly || seconds % 3600 !== 0) return tallyBuckets(toBucketRows(await raw(filter, true)), top);
    // Whole hours inside the window come from the hourly counts; the partial hours at its edges
    // (at most two) from the records themselves.
    const since = filter.since ?? 0;
    // Open-ended: through the hour after now, so every record so far is in a whole hour.
    const until = filter.until ?? Date.now() + HOUR_MS;
    const firstWhole = Math.ceil(since / HOUR_MS) * HOUR_MS;
    const endWhole = Math.floor((until + 1) / HOUR_MS) * HOUR_MS; // hours ending at or before until
    if (endWhole <= firstWhole) return tallyBuckets(toBucketRows(await raw(filter, true)), top);
    const range = [new Date(firstWhole), new Date(endWhole)];
    const rows = await this.db.query<DimRow>(
      seconds === 3600 && filter.since !== null && endWhole - firstWhole <= 31 * 24 * HOUR_MS
        ? // One bucket per hour: each hour's top values come straight off the index.
          `SELECT extract(epoch FROM h.hour)::float8 AS b, d.dim, t.value, t.n::float8 AS n
            FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 hour', interval '1 hour') AS h(hour)
            CROSS JOIN (VALUES ('decision'), ('reason'), ('host'), ('client'), ('rule'), ('instance')) AS d(dim)
            CROSS JOIN LATERAL (SELECT value, n FROM acr_stats_hourly s
              WHERE s.hour = h.hour AND s.dim = d.dim ORDER BY n DESC, value
              LIMIT CASE d.dim WHEN 'decision' THEN 100 ELSE ${limit} END) t`
        : topOf(`SELECT ${bucketOf('hour')} AS b, dim, value, sum(n)::float8 AS n FROM acr_stats_hourly
            WHERE hour >= $1 AND hour < $2 GROUP BY 1, 2, 3`),
      range,
    );
    if (filter.since !== null && since < firstWhole)
      rows.push(...(await raw(timeWindow(filter.since, firstWhole - 1), false)));
    if (filter.until !== null && until >= endWhole)
      rows.push(...(await raw(timeWindow(endWhole, filter.until), false)));
    return tallyBuckets(toBucketRows(rows), top);
  }

  async cacheBuckets(filter: LogFilter, bucketMs: number): Promise<CacheBucket[]> {
    const seconds = Math.max(1, Math.floor(bucketMs / 1000));
    const w = whereOf(filter, [], this.dialect);
    // SQLite's times are epoch milliseconds (integer division floors them); the rest is the same SQL.
    const b =
      this.dialect === 'sqlite'
        ? `(time / ${seconds * 1000}) * ${seconds}`
        : `(floor(extract(epoch FROM time) / ${seconds}) * ${seconds})::float8`;
    const rows = await this.db.query<Record<string, number>>(
      `SELECT ${b} AS b,
          count(*) FILTER (WHERE cache = 'hit')::int AS hit, count(*) FILTER (WHERE cache = 'miss')::int AS miss,
          count(*) FILTER (WHERE cache = 'bypass')::int AS bypass,
          coalesce(sum(bytes_down) FILTER (WHERE cache = 'hit'), 0)::float8 AS disk,
          coalesce(sum(bytes_down) FILTER (WHERE cache = 'miss'), 0)::float8 AS upstream
        FROM acr_records WHERE ${w.sql} AND cache IS NOT NULL GROUP BY 1 ORDER BY 1`,
      w.params,
    );
    return rows.map((r) => ({
      ...emptyCacheBucket(Number(r.b) * 1000),
      hit: r.hit ?? 0,
      miss: r.miss ?? 0,
      bypass: r.bypass ?? 0,
      bytesFromDisk: Number(r.disk ?? 0),
      bytesFromUpstream: Number(r.upstream ?? 0),
    }));
  }

  async pulls(filter: LogFilter, limit: number): Promise<PullSummary[]> {
    const w = whereOf(filter, [], this.dialect);
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT repository, reference, digest, client, min(time) AS first, max(time) AS last, count(*)::int AS n
        FROM acr_records WHERE ${w.sql} AND kind = 'request' AND method = 'GET' AND (rec->>'path') LIKE '%/manifests/%'
        GROUP BY 1, 2, 3, 4 ORDER BY max(time) DESC LIMIT $${w.params.push(limit)}`,
      w.params,
    );
    return rows.map((r) => ({
      repository: (r.repository as string | null) ?? null,
      reference: (r.reference as string | null) ?? null,
      digest: (r.digest as string | null) ?? null,
      client: (r.client as string | null) ?? null,
      first: iso(r.first),
      last: iso(r.last),
      count: r.n as number,
    }));
  }

  async bounds(): Promise<StoreBounds> {
    // Both ends through the id index (ULIDs ascend with time); an exact count(*) would scan the table.
    const [ends] = await this.db.query<{ oldest: unknown; newest: unknown; n: number }>(
      `SELECT (SELECT time FROM acr_records ORDER BY id ASC LIMIT 1) AS oldest,
              (SELECT time FROM acr_records ORDER BY id DESC LIMIT 1) AS newest,
              (SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE relname = 'acr_records') AS n`,
    );
    return {
      records: Math.round(Number(ends?.n ?? 0)),
      oldest: ends?.oldest == null ? null : iso(ends.oldest),
      newest: ends?.newest == null ? null : iso(ends.newest),
    };
  }

  async prune(beforeMs: number): Promise<number> {
    const before = new Date(beforeMs);
    const [r] = await this.db.query<{ n: number }>(
      `WITH d AS (DELETE FROM acr_records WHERE time < $1 RETURNING 1) SELECT count(*)::int AS n FROM d`,
      [before],
    );
    await this.db.query('DELETE FROM acr_store_gaps WHERE to_time < $1', [before]);
    await this.db.query('DELETE FROM acr_stats_hourly WHERE hour < $1', [before]);
    await this.db.query('DELETE FROM acr_learned_hosts WHERE expires_at < now()');
    return r?.n ?? 0;
  }

  async analyze(): Promise<void> {
    await this.db.query('ANALYZE acr_records');
  }

  async addGaps(gaps: readonly Gap[]): Promise<void> {
    for (const g of gaps) {
      await this.db.query(
        `INSERT INTO acr_store_gaps (instance, from_time, to_time, dropped) VALUES ($1, $2, $3, $4)
         ON CONFLICT (instance, from_time) DO UPDATE SET to_time = excluded.to_time, dropped = excluded.dropped`,
        [g.instance ?? '', g.from, g.to, g.dropped],
      );
    }
  }

  async gaps(fromMs: number | null, toMs: number | null): Promise<Gap[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT instance, from_time, to_time, dropped FROM acr_store_gaps
       WHERE ($1::timestamptz IS NULL OR to_time >= $1) AND ($2::timestamptz IS NULL OR from_time <= $2)
       ORDER BY from_time`,
      [fromMs === null ? null : new Date(fromMs), toMs === null ? null : new Date(toMs)],
    );
    return rows.map((r) => ({
      from: iso(r.from_time),
      to: iso(r.to_time),
      dropped: r.dropped as number,
      instance: r.instance as string,
    }));
  }

  async learnedHosts(): Promise<LearnedHost[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      'SELECT host, registry, expires_at FROM acr_learned_hosts WHERE expires_at > now() ORDER BY host',
    );
    return rows.map((r) => ({
      host: r.host as string,
      registry: (r.registry as string | null) ?? null,
      expiresAt: iso(r.expires_at),
    }));
  }

  async putLearnedHost(h: LearnedHost): Promise<void> {
    await this.db.query(
      `INSERT INTO acr_learned_hosts (host, registry, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (host) DO UPDATE SET registry = excluded.registry,
         expires_at = greatest(acr_learned_hosts.expires_at, excluded.expires_at)`,
      [h.host, h.registry, h.expiresAt],
    );
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
