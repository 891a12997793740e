// The fleet's last good service-tag data in PostgreSQL: a replica writes it after each refresh that
// brought new data, and a new replica with no local cache starts from it, so it enforces the ranges
// from its first tunnel instead of waiting for its own download. One row per cloud.
import pg from 'pg';

export interface SharedTagData {
  /** The service-tag file's bytes, as downloaded. */
  body: Buffer;
  /** The publication time the age is measured from (ms). */
  dataTime: number;
  changeNumber: number;
  sha256: string;
}

const TABLE = 'acr_egress_service_tags';

// CREATE TABLE IF NOT EXISTS is not safe against a concurrent one (two replicas starting together):
// the advisory lock makes them take turns. The key is the table name's hash, like the migrations'.
const CREATE = `CREATE TABLE IF NOT EXISTS ${TABLE} (
  cloud text PRIMARY KEY,
  change_number bigint NOT NULL,
  data_time timestamptz NOT NULL,
  sha256 text NOT NULL,
  body bytea NOT NULL,
  instance text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`;

export class PostgresTagShare {
  readonly #pool: pg.Pool;
  readonly #cloud: string;
  readonly #instance: string;
  #created: Promise<void> | null = null;

  /** Connects lazily, one connection at most: it is used at start and once per refresh. */
  constructor(options: { url: string; cloud: string; instance: string; onError?: (err: unknown) => void }) {
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: 1,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 10_000,
      statement_timeout: 30_000,
      query_timeout: 35_000,
    });
    this.#pool.on('error', (err) => options.onError?.(err));
    this.#cloud = options.cloud;
    this.#instance = options.instance;
  }

  #ensureTable(): Promise<void> {
    this.#created ??= (async () => {
      const c = await this.#pool.connect();
      try {
        await c.query('BEGIN');
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [TABLE]);
        await c.query(CREATE);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    })().catch((err: unknown) => {
      this.#created = null; // the next call tries again
      throw err;
    });
    return this.#created;
  }

  /** The fleet's data for this cloud, or null when no replica has stored any. */
  async load(): Promise<SharedTagData | null> {
    await this.#ensureTable();
    const { rows } = await this.#pool.query<{
      body: Buffer;
      data_time: Date;
      change_number: string;
      sha256: string;
    }>(`SELECT body, data_time, change_number, sha256 FROM ${TABLE} WHERE cloud = $1`, [this.#cloud]);
    const row = rows[0];
    if (row === undefined) return null;
    return {
      body: row.body,
      dataTime: row.data_time.getTime(),
      changeNumber: Number(row.change_number),
      sha256: row.sha256,
    };
  }

  /** Stores `data` unless the fleet already holds a newer change number (replicas may race). */
  async save(data: SharedTagData): Promise<void> {
    await this.#ensureTable();
    await this.#pool.query(
      `INSERT INTO ${TABLE} (cloud, change_number, data_time, sha256, body, instance, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (cloud) DO UPDATE SET change_number = EXCLUDED.change_number, data_time = EXCLUDED.data_time,
         sha256 = EXCLUDED.sha256, body = EXCLUDED.body, instance = EXCLUDED.instance, updated_at = now()
       WHERE ${TABLE}.change_number <= EXCLUDED.change_number`,
      [this.#cloud, data.changeNumber, new Date(data.dataTime), data.sha256, data.body, this.#instance],
    );
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}
