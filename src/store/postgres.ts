// The PostgreSQL back end for a fleet: every replica writes its batches to shared tables, answers
// from them, and hears the others' records through LISTEN/NOTIFY for the live stream.
import pg from 'pg';
import { migrate } from './migrations.js';
import type { Query, SqlClient } from './sql-client.js';
import { SqlStore } from './sql-store.js';
import type { StoredRecord } from './types.js';

const NOTIFY_CHANNEL = 'acr_egress_records';

export interface PostgresOptions {
  url: string;
  instance: string;
  /** Connections per replica (queries and batch writes). */
  poolSize?: number;
  onError?: (err: unknown) => void;
}

function client(pool: pg.Pool): SqlClient {
  const run =
    (c: pg.Pool | pg.PoolClient): Query =>
    async <T>(text: string, params?: readonly unknown[]) =>
      (await c.query(text, params ? [...params] : undefined)).rows as T[];
  return {
    query: run(pool),
    async session(fn) {
      const c = await pool.connect();
      try {
        return await fn(run(c));
      } finally {
        c.release();
      }
    },
    close: () => pool.end(),
  };
}

export class PostgresStore extends SqlStore {
  readonly #url: string;
  readonly #instance: string;
  readonly #onError: (err: unknown) => void;
  #listeners = new Set<(record: StoredRecord) => void>();
  /** The one LISTEN connection, set as soon as it starts opening, so streams that arrive meanwhile share it. */
  #listen: pg.Client | null = null;
  #retry: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(pool: pg.Pool, options: PostgresOptions) {
    super(client(pool), { backend: 'postgres', notifyChannel: NOTIFY_CHANNEL });
    this.#url = options.url;
    this.#instance = options.instance;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Connects lazily: a database that is down at start only delays the store, never the gateway. */
  static create(options: PostgresOptions): PostgresStore {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      // A statement that hangs (a failover in progress) must not hold a batch forever.
      statement_timeout: 30_000,
      query_timeout: 35_000,
    });
    // An idle connection dropped by the server is an event, not a crash.
    pool.on('error', (err) => options.onError?.(err));
    return new PostgresStore(pool, options);
  }

  #migrated = false;

  /** Applies pending migrations (under the advisory lock). */
  async migrate(): Promise<number[]> {
    const applied = await migrate(this.db, true);
    this.#migrated = true;
    return applied;
  }

  /** A database that was down at start is migrated before the first batch it takes. */
  override async write(records: readonly StoredRecord[]): Promise<void> {
    if (!this.#migrated) await this.migrate();
    return super.write(records);
  }

  subscribeFleet(listener: (record: StoredRecord) => void): () => void {
    this.#listeners.add(listener);
    // #connectListener never rejects: a failure goes to #onError and schedules a retry.
    if (this.#listen === null && this.#retry === null) void this.#connectListener();
    return () => this.#listeners.delete(listener);
  }

  async #connectListener(): Promise<void> {
    if (this.#closed) return;
    const c = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5000 });
    const retry = (err: unknown): void => {
      if (this.#closed) return;
      this.#onError(err);
      if (this.#listen === c) this.#listen = null;
      c.end().catch(() => undefined);
      if (this.#retry === null) {
        this.#retry = setTimeout(() => {
          this.#retry = null;
          void this.#connectListener();
        }, 2000);
        this.#retry.unref();
      }
    };
    c.on('error', retry);
    c.on('end', () => retry(new Error('LISTEN connection ended')));
    c.on('notification', (msg) => void this.#deliver(msg.payload));
    this.#listen = c;
    try {
      await c.connect();
      await c.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (err) {
      retry(err);
    }
  }

  async #deliver(payload: string | undefined): Promise<void> {
    if (payload === undefined) return;
    let rec: StoredRecord;
    try {
      rec = JSON.parse(payload) as StoredRecord;
      if (rec.time === undefined) {
        // Too large to send inline: fetch it by id.
        const [full] = await this.byIds([rec.id]);
        if (full === undefined) return;
        rec = full;
      }
    } catch (err) {
      this.#onError(err);
      return;
    }
    if (rec.instance === this.#instance) return; // this replica's own records reach its stream directly
    for (const l of this.#listeners) {
      try {
        l(rec);
      } catch {
        // one broken listener must not stop the others
      }
    }
  }

  override async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== null) clearTimeout(this.#retry);
    await this.#listen?.end().catch(() => undefined);
    await super.close();
  }
}
