// The embedded store's database thread: owns the node:sqlite connection, so that inserts and admin
// queries (synchronous in node:sqlite) never hold the gateway's event loop, and tunnels never wait.
// Imports nothing of the project: it runs as its own module (type-stripped when run from source).
import { ok } from 'node:assert/strict';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

type SqliteRequest =
  | { id: number; op: 'all' | 'run'; sql: string; params: SQLInputValue[] }
  | { id: number; op: 'write'; rows: SQLInputValue[][] }
  | { id: number; op: 'close' };

export type SqliteReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** Column order of a row in a write request (the record's text last); embedded.ts builds rows so. */
const ROW_COLUMNS = [
  'id',
  'time',
  'kind',
  'instance',
  'mode',
  'decision',
  'reason',
  'host',
  'client',
  'client_ip',
  'rule',
  'usr',
  'repository',
  'reference',
  'digest',
  'method',
  'status',
  'bytes_up',
  'bytes_down',
  'report',
  'cache',
  'rec',
] as const;

/** Indexes of the dimensions counted per hour, in ROW_COLUMNS. */
const DIMENSIONS: readonly [name: string, index: number][] = [
  ['decision', 5],
  ['reason', 6],
  ['host', 7],
  ['client', 8],
  ['rule', 10],
  ['instance', 3],
];
const HOUR_MS = 3_600_000;

// The same tables and indexes as the PostgreSQL schema (src/store/migrations.ts; UPGRADES step 3
// merges the two client indexes into one), in SQLite's types:
// times are epoch milliseconds, client_ip the 16-byte IPv6 form (IPv4 mapped), so a CIDR is a range.
const SCHEMA = [
  `CREATE TABLE acr_records (
    id TEXT PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL DEFAULT 'decision', instance TEXT,
    mode TEXT, decision TEXT, reason TEXT, host TEXT, client TEXT, client_ip BLOB, rule TEXT, usr TEXT,
    repository TEXT, reference TEXT, digest TEXT, method TEXT, status INTEGER, bytes_up INTEGER,
    bytes_down INTEGER, report INTEGER NOT NULL DEFAULT 0, rec TEXT NOT NULL)`,
  'CREATE INDEX acr_records_time ON acr_records (time)',
  'CREATE INDEX acr_records_decision ON acr_records (decision, id)',
  'CREATE INDEX acr_records_reason ON acr_records (reason, id) WHERE reason IS NOT NULL',
  'CREATE INDEX acr_records_host ON acr_records (host, id)',
  'CREATE INDEX acr_records_client ON acr_records (client, id)',
  'CREATE INDEX acr_records_client_ip ON acr_records (client_ip)',
  'CREATE INDEX acr_records_rule ON acr_records (rule, id)',
  'CREATE INDEX acr_records_instance ON acr_records (instance, id)',
  'CREATE INDEX acr_records_kind ON acr_records (kind, id)',
  'CREATE INDEX acr_records_user ON acr_records (usr, id) WHERE usr IS NOT NULL',
  'CREATE INDEX acr_records_repository ON acr_records (repository, id) WHERE repository IS NOT NULL',
  'CREATE INDEX acr_records_digest ON acr_records (digest, id) WHERE digest IS NOT NULL',
  `CREATE TABLE acr_store_gaps (instance TEXT NOT NULL, from_time INTEGER NOT NULL, to_time INTEGER NOT NULL,
    dropped INTEGER NOT NULL, PRIMARY KEY (instance, from_time))`,
  'CREATE TABLE acr_learned_hosts (host TEXT PRIMARY KEY, registry TEXT, expires_at INTEGER NOT NULL)',
  `CREATE TABLE acr_stats_hourly (hour INTEGER NOT NULL, dim TEXT NOT NULL, value TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY (hour, dim, value))`,
  'CREATE INDEX acr_stats_hourly_top ON acr_stats_hourly (hour, dim, n DESC, value)',
];
/**
 * The steps after SCHEMA (version 1), by the PRAGMA user_version each leaves; a new database runs
 * them too, so there is one schema path. As PostgreSQL's migrations (src/store/migrations.ts).
 */
const UPGRADES: readonly [version: number, sql: string][] = [
  [
    // The layer cache's result on blob GETs (PostgreSQL migration 4), back-filled from the records
    // written before it; few rows carry it, so the cache panel's buckets read a partial time index.
    2,
    `ALTER TABLE acr_records ADD COLUMN cache TEXT;
    UPDATE acr_records SET cache = rec ->> '$.cache' WHERE kind = 'request' AND rec ->> '$.cache' IS NOT NULL;
    CREATE INDEX acr_records_cache ON acr_records (time) WHERE cache IS NOT NULL;`,
  ],
  [
    // One client index instead of two. Every other index takes a batch's rows at the end of a few
    // values' ranges (ids only grow); the client ones take them at random places in tens of thousands
    // of values, so each dirtied a page per row per batch (half the database thread's CPU per record).
    // An address filter is now an equality on client_ip (the same bytes for the same address), so
    // (client_ip, id) still pages it newest first off the index; a CIDR stays a range of it.
    3,
    `DROP INDEX acr_records_client;
    DROP INDEX acr_records_client_ip;
    CREATE INDEX acr_records_client_ip ON acr_records (client_ip, id);`,
  ],
];

const { file } = workerData as { file: string };
const db = new DatabaseSync(file);
// WAL: readers never block the writer, and a commit is one append. synchronous NORMAL in WAL mode
// loses nothing on a process crash (SIGKILL); only a power cut can cost the last commits.
db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000');
// An 8 MiB page cache (SQLite's default is 2) keeps the indexes' upper levels and the pages a batch
// is filling, and a checkpoint every 10,000 WAL pages (default 1,000, about 4 MiB) copies a page
// that many batches dirtied to the database once instead of once per few batches: each halved the
// thread's system CPU per record in bench/store.bench.ts. The WAL grows to about 40 MiB between
// checkpoints; a commit is still one append, so the durability window is unchanged.
db.exec('PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 10000');
const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
// Each version in its own transaction with its user_version, so a failed step leaves the last good one.
if (version < 1) {
  db.exec('BEGIN');
  for (const s of SCHEMA) db.exec(s);
  db.exec('PRAGMA user_version = 1');
  db.exec('COMMIT');
}
for (const [v, sql] of UPGRADES) {
  if (v <= version) continue;
  db.exec('BEGIN');
  try {
    db.exec(sql);
    db.exec(`PRAGMA user_version = ${v}`);
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

const insert = db.prepare(
  `INSERT INTO acr_records (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map(() => '?').join(', ')})
   ON CONFLICT (id) DO NOTHING`,
);
const count = db.prepare(
  `INSERT INTO acr_stats_hourly (hour, dim, value, n) VALUES (?, ?, ?, ?)
   ON CONFLICT (hour, dim, value) DO UPDATE SET n = n + excluded.n`,
);

// Admin queries come in a few dozen shapes (one per combination of filters): parse each once.
const statements = new Map<string, StatementSync>();
function statement(sql: string): StatementSync {
  let s = statements.get(sql);
  if (s === undefined) {
    if (statements.size >= 256) statements.clear();
    statements.set(sql, (s = db.prepare(sql)));
  }
  return s;
}

/** Inserts a batch in one transaction, counting per hour only the rows that were new. */
function write(rows: SQLInputValue[][]): number {
  const counts = new Map<string, number>();
  db.exec('BEGIN');
  try {
    let added = 0;
    for (const r of rows) {
      if (Number(insert.run(...r).changes) === 0) continue;
      added++;
      const hour = Math.floor((r[1] as number) / HOUR_MS) * HOUR_MS;
      for (const [dim, i] of DIMENSIONS) {
        const v = r[i];
        if (typeof v !== 'string') continue; // every dimension is a text column; null is not counted
        const key = `${hour}\u0000${dim}\u0000${v}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    for (const [key, n] of counts) {
      const [hour, dim, value] = key.split('\u0000') as [string, string, string];
      count.run(Number(hour), dim, value, n);
    }
    db.exec('COMMIT');
    return added;
  } catch (err) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // BEGIN itself failed: nothing to roll back, and the first error is the one to report.
    }
    throw err;
  }
}

const port = parentPort;
// A bug guard, not an error a user can meet (and the error registry is a project module).
ok(port !== null, 'sqlite-worker runs as a worker thread');
port.on('message', (req: SqliteRequest) => {
  let reply: SqliteReply;
  try {
    if (req.op === 'all') reply = { id: req.id, ok: true, result: statement(req.sql).all(...req.params) };
    else if (req.op === 'run')
      reply = { id: req.id, ok: true, result: Number(statement(req.sql).run(...req.params).changes) };
    else if (req.op === 'write') reply = { id: req.id, ok: true, result: write(req.rows) };
    else {
      db.close();
      reply = { id: req.id, ok: true, result: null };
    }
  } catch (err) {
    reply = { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
  if (req.op === 'close') port.close();
});
port.postMessage({ id: 0, ok: true, result: 'ready' } satisfies SqliteReply);
