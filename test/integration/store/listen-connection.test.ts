// The live stream on PostgreSQL: however many streams open at once, while the LISTEN connection is
// still being opened or after, a gateway holds exactly one LISTEN connection and its pool stays in bound.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import type { AdminApp } from '../../../src/admin/app-types.js';
import { adminDepsFromGateway } from '../../../src/admin/from-gateway.js';
import { startGateway, testConfig, type TestGateway } from '../../helpers/gateway.js';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../../helpers/postgres.js';

const STREAMS = 200;
/** PostgresStore's default pool size. */
const POOL = 4;

interface Activity {
  listen: number;
  total: number;
}

describe.skipIf(POSTGRES_MISSING)('the live stream on PostgreSQL', () => {
  let server: TestPostgres;
  let gw: TestGateway;
  let app: AdminApp;
  let admin: pg.Client;

  beforeAll(async () => {
    server = await startPostgres();
    const url = await server.createDatabase('streams');
    gw = await startGateway(testConfig({ audit: { store: 'postgres', url, instance: 'gw-s', flushMs: 50 } }));
    app = createAdminApp(adminDepsFromGateway(gw.gateway), { anonymousWithoutToken: true });
    admin = new pg.Client({ connectionString: server.url('postgres') });
    await admin.connect();
  }, 120_000);

  afterAll(async () => {
    await admin?.end();
    await app?.close();
    await gw?.stop();
    await server?.destroy();
  });

  /** The gateway's server connections, counted by the server itself. */
  async function activity(): Promise<Activity> {
    const { rows } = await admin.query<{ listen: number; total: number }>(
      `SELECT count(*) FILTER (WHERE query LIKE 'LISTEN %')::int AS listen, count(*)::int AS total
         FROM pg_stat_activity WHERE datname = 'streams' AND pid <> pg_backend_pid()`,
    );
    return rows[0] as Activity;
  }

  it(`${STREAMS} streams opened at once share one LISTEN connection; the pool stays in bound`, async () => {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const controllers: AbortController[] = [];
    // All requests leave before the first LISTEN connection is up: each arrives while it is opening.
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, async () => {
        const controller = new AbortController();
        controllers.push(controller);
        const res = await fetch(`${address}/api/v1/logs/stream`, { signal: controller.signal });
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        const first = await reader.read();
        return { res, reader, first: new TextDecoder().decode(first.value) };
      }),
    );
    expect(streams.every((s) => s.res.status === 200 && s.first.includes(': connected'))).toBe(true);
    await expect.poll(async () => (await activity()).listen, { timeout: 30_000 }).toBeGreaterThan(0);
    const open = await activity();
    expect(open.listen).toBe(1);
    expect(open.total).toBeLessThanOrEqual(POOL + 1);
    for (const c of controllers) c.abort();
    for (const s of streams) await s.reader.cancel().catch(() => undefined);
    // One more wave after the first connection is up: still the same single LISTEN connection.
    const again = await fetch(`${address}/api/v1/logs/stream`);
    await (again.body as ReadableStream<Uint8Array>).cancel();
    const after = await activity();
    expect(after.listen).toBe(1);
    expect(after.total).toBeLessThanOrEqual(POOL + 1);
  }, 120_000);
});
