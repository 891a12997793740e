// The embedded back end: PGlite (PostgreSQL compiled to WebAssembly) in `audit.dir`, so one gateway
// keeps its history across restarts with no server and the same SQL as the fleet back end.
import { mkdirSync } from 'node:fs';
import { migrate } from './migrations.js';
import type { Query, SqlClient } from './sql-client.js';
import { SqlStore } from './sql-store.js';

interface PGliteLike {
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(text: string): Promise<unknown>;
  close(): Promise<void>;
}

export async function openEmbeddedStore(dir: string): Promise<SqlStore> {
  mkdirSync(dir, { recursive: true });
  // Loaded only when chosen: the WebAssembly module is large and costs nothing when unused.
  const { PGlite } = await import('@electric-sql/pglite');
  const db = (await PGlite.create({ dataDir: dir })) as unknown as PGliteLike;
  // One connection, used by one process: statements are serialised by PGlite itself.
  const query: Query = async <T>(text: string, params?: readonly unknown[]) => {
    if (params === undefined || params.length === 0) {
      // Migrations hold several statements: only the simple protocol (exec) takes them.
      if (/;\s*\S/.test(text)) {
        await db.exec(text);
        return [] as T[];
      }
    }
    return (await db.query<T>(text, params ? [...params] : [])).rows;
  };
  const client: SqlClient = { query, session: (fn) => fn(query), close: () => db.close() };
  try {
    await migrate(client, false);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return new SqlStore(client, { backend: 'embedded' });
}
