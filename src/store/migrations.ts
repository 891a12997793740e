// Versioned schema migrations, run at start under a PostgreSQL advisory lock so that replicas
// starting together apply each version exactly once (the others wait, then find nothing to do).
import type { SqlClient } from './sql-client.js';

/** Arbitrary, fixed: the advisory lock key every replica takes while migrating. */
const MIGRATION_LOCK_KEY = 7_114_301_402;

export const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE acr_records (
  id text PRIMARY KEY,
  time timestamptz NOT NULL,
  kind text NOT NULL DEFAULT 'decision',
  instance text,
  mode text,
  decision text,
  reason text,
  host text,
  client text,
  client_ip inet,
  rule text,
  usr text,
  repository text,
  reference text,
  digest text,
  method text,
  status integer,
  bytes_up bigint,
  bytes_down bigint,
  report boolean NOT NULL DEFAULT false,
  rec json NOT NULL
);
CREATE INDEX acr_records_time ON acr_records (time);
CREATE INDEX acr_records_decision ON acr_records (decision, id);
CREATE INDEX acr_records_reason ON acr_records (reason, id) WHERE reason IS NOT NULL;
CREATE INDEX acr_records_host ON acr_records (host, id);
CREATE INDEX acr_records_client ON acr_records (client, id);
CREATE INDEX acr_records_rule ON acr_records (rule, id);
CREATE INDEX acr_records_instance ON acr_records (instance, id);
CREATE INDEX acr_records_kind ON acr_records (kind, id);
CREATE INDEX acr_records_user ON acr_records (usr, id) WHERE usr IS NOT NULL;
CREATE INDEX acr_records_repository ON acr_records (repository, id) WHERE repository IS NOT NULL;
CREATE INDEX acr_records_digest ON acr_records (digest, id) WHERE digest IS NOT NULL;
CREATE TABLE acr_store_gaps (
  instance text NOT NULL,
  from_time timestamptz NOT NULL,
  to_time timestamptz NOT NULL,
  dropped integer NOT NULL,
  PRIMARY KEY (instance, from_time)
);
CREATE TABLE acr_learned_hosts (
  host text PRIMARY KEY,
  registry text,
  expires_at timestamptz NOT NULL
);`,
  },
  {
    // Counts per hour and value, kept by each insert, so that day-long per-bucket stats read a few
    // thousand rows instead of grouping every record of the day.
    version: 2,
    sql: `
CREATE TABLE acr_stats_hourly (
  hour timestamptz NOT NULL,
  dim text NOT NULL,
  value text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (hour, dim, value)
);
INSERT INTO acr_stats_hourly (hour, dim, value, n)
  SELECT date_bin('1 hour', r.time, '2000-01-01 00:00:00+00'), d.dim, d.value, count(*)
  FROM acr_records r, LATERAL (VALUES ('decision', r.decision), ('reason', r.reason), ('host', r.host),
    ('client', r.client), ('rule', r.rule), ('instance', r.instance)) AS d(dim, value)
  WHERE d.value IS NOT NULL GROUP BY 1, 2, 3;`,
  },
  {
    // An hour's top values of one dimension in index order: hourly buckets read ten rows, not all.
    version: 3,
    sql: 'CREATE INDEX acr_stats_hourly_top ON acr_stats_hourly (hour, dim, n DESC, value)',
  },
  {
    // The layer cache's result on blob GETs, for the cache panel's buckets: few rows carry it, so a
    // partial index by time reads those alone.
    version: 4,
    sql: `
ALTER TABLE acr_records ADD COLUMN cache text;
UPDATE acr_records SET cache = rec->>'cache' WHERE kind = 'request' AND rec->>'cache' IS NOT NULL;
CREATE INDEX acr_records_cache ON acr_records (time) WHERE cache IS NOT NULL;`,
  },
];

/** Applies the versions not yet applied; `lock` false when one process owns the database. */
export async function migrate(db: SqlClient, lock: boolean): Promise<number[]> {
  return db.session(async (q) => {
    if (lock) await q('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await q(`CREATE TABLE IF NOT EXISTS acr_schema_migrations (
        version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set(
        (await q<{ version: number }>('SELECT version FROM acr_schema_migrations')).map((r) => r.version),
      );
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await q('BEGIN');
        try {
          await q(m.sql);
          await q('INSERT INTO acr_schema_migrations (version) VALUES ($1)', [m.version]);
          await q('COMMIT');
        } catch (err) {
          await q('ROLLBACK');
          throw err;
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      if (lock) await q('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}
