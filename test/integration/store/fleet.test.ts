// A fleet on one real PostgreSQL: two gateways write to the same tables and either one answers for
// both, cursors cross replicas, the live stream shows the other replica, and a database outage
// loses nothing the audit log has (or says exactly what it lost when the queue bound is passed).
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminDepsFromGateway } from '../../../src/admin/from-gateway.js';
import { createAdminApp } from '../../../src/admin/app.js';
import type { AdminApp } from '../../../src/admin/app-types.js';
import { LogFilter } from '../../../src/store/query.js';
import { MIGRATIONS } from '../../../src/store/migrations.js';
import { PostgresStore } from '../../../src/store/postgres.js';
import type { StoredRecord } from '../../../src/store/types.js';
import { startGateway, testConfig, type TestGateway } from '../../helpers/gateway.js';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { connectThrough } from '../../helpers/raw.js';

interface Node {
  gw: TestGateway;
  app: AdminApp;
}

async function node(url: string, instance: string, audit: Record<string, unknown> = {}): Promise<Node> {
  const gw = await startGateway(
    testConfig({ audit: { store: 'postgres', url, instance, flushMs: 50, batchSize: 100, ...audit } }),
  );
  const app = createAdminApp(adminDepsFromGateway(gw.gateway), { anonymousWithoutToken: true });
  await app.ready();
  return { gw, app };
}

/** A blocked CONNECT: a record without any upstream. */
async function blockedTunnel(n: Node, host: string): Promise<void> {
  const answer = await connectThrough(n.gw.port, `${host}:443`);
  answer.socket.destroy();
  expect(answer.status).toBe(403);
}

async function get<T>(n: Node, url: string): Promise<T> {
  const res = await n.app.inject({ method: 'GET', url });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<T>();
}

const WAIT = { timeout: 60_000, interval: 50 };

/** Decision records in a gateway's audit log file. */
function auditIds(gw: TestGateway): string[] {
  return readFileSync(gw.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { id: string }).id);
}

type Page = { items: StoredRecord[]; nextCursor: string | null; gaps?: { dropped: number }[] };

describe.skipIf(POSTGRES_MISSING)('a fleet on PostgreSQL', () => {
  let server: TestPostgres;
  let a: Node;
  let b: Node;

  beforeAll(async () => {
    server = await startPostgres();
    const url = await server.createDatabase('fleet');
    [a, b] = await Promise.all([node(url, 'gw-a'), node(url, 'gw-b')]);
  }, 120_000);

  afterAll(async () => {
    for (const n of [a, b]) {
      await n?.app.close();
      await n?.gw.stop();
    }
    await server?.destroy();
  });

  it('a query on either gateway returns both gateways records in one order; a cursor crosses over', async () => {
    for (let i = 0; i < 6; i++) await blockedTunnel(i % 2 === 0 ? a : b, `fleet${i}.example.net`);
    await Promise.all([a.gw.gateway.records.writer?.flush(), b.gw.gateway.records.writer?.flush()]);
    const q = '/api/v1/logs?host=*.example.net&limit=100';
    const fromA = await get<Page>(a, q);
    const fromB = await get<Page>(b, q);
    expect(fromA.items.map((r) => r.id)).toEqual(fromB.items.map((r) => r.id));
    expect(new Set(fromA.items.map((r) => r.instance))).toEqual(new Set(['gw-a', 'gw-b']));
    expect(fromA.items).toHaveLength(6);
    // Page 1 on A, page 2 on B, page 3 on A: together exactly the single answer.
    const p1 = await get<Page>(a, '/api/v1/logs?host=*.example.net&limit=2');
    const p2 = await get<Page>(b, `/api/v1/logs?host=*.example.net&limit=2&cursor=${p1.nextCursor}`);
    const p3 = await get<Page>(a, `/api/v1/logs?host=*.example.net&limit=2&cursor=${p2.nextCursor}`);
    expect([...p1.items, ...p2.items, ...p3.items].map((r) => r.id)).toEqual(fromA.items.map((r) => r.id));
    const stats = await get<{ buckets: { instances: Record<string, number> }[] }>(
      b,
      '/api/v1/stats?bucket=1h&host=*.example.net',
    );
    const perInstance = stats.buckets.reduce<Record<string, number>>((acc, bk) => {
      for (const [k, v] of Object.entries(bk.instances)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    expect(perInstance).toEqual({ 'gw-a': 3, 'gw-b': 3 });
  }, 60_000);

  it('the live stream of one gateway shows a tunnel made through the other', async () => {
    const address = await a.app.listen({ host: '127.0.0.1', port: 0 });
    const controller = new AbortController();
    const res = await fetch(`${address}/api/v1/logs/stream?host=streamed.example.net`, { signal: controller.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    await vi.waitFor(async () => {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
      expect(text).toContain(': connected');
    }, WAIT);
    // The LISTEN connection is set up when the first stream subscribes: retry until it hears.
    await vi.waitFor(async () => {
      await blockedTunnel(b, 'streamed.example.net');
      await b.gw.gateway.records.writer?.flush();
      const next = await Promise.race([
        reader.read(),
        new Promise<{ value: undefined }>((r) => setTimeout(() => r({ value: undefined }), 1000)),
      ]);
      if (next.value) text += new TextDecoder().decode(next.value);
      expect(text).toContain('"instance":"gw-b"');
    }, WAIT);
    expect(text).toContain('streamed.example.net');
    controller.abort();
  }, 60_000);

  it('the database stopped mid-run: tunnels keep working, records queue, and all arrive after', async () => {
    const readyBefore = await a.app.inject({ method: 'GET', url: '/readyz' });
    await server.stop();
    for (let i = 0; i < 20; i++) await blockedTunnel(a, `outage${i}.example.net`);
    const during = await get<{ queued: number; healthy: boolean }>(a, '/api/v1/store');
    expect(during.queued).toBeGreaterThanOrEqual(20);
    // Readiness is the proxy's: the same answer as before the outage (these gateways have no tags).
    const ready = await a.app.inject({ method: 'GET', url: '/readyz' });
    expect([ready.statusCode, ready.json()]).toEqual([readyBefore.statusCode, readyBefore.json()]);
    await expect.poll(async () => (await get<{ healthy: boolean }>(a, '/api/v1/store')).healthy, WAIT).toBe(false);
    const query = await a.app.inject({ method: 'GET', url: '/api/v1/logs' });
    expect([query.statusCode, query.json().error]).toEqual([503, 'unavailable']);
    await server.start();
    await expect
      .poll(async () => {
        await a.gw.gateway.records.writer?.flush();
        return a.gw.gateway.records.writer?.state().queued;
      }, WAIT)
      .toBe(0);
    await a.gw.gateway.recorder.flush();
    const logged = auditIds(a.gw).sort();
    const c = new pg.Client({ connectionString: server.url('fleet') });
    await c.connect();
    const stored = (await c.query<{ id: string }>(`SELECT id FROM acr_records WHERE instance = 'gw-a' ORDER BY id`))
      .rows;
    await c.end();
    expect(stored.map((r) => r.id)).toEqual(logged);
  }, 120_000);

  it('past the queue bound: the drop counter and the gap are reported', async () => {
    const url = server.url('fleet');
    const c = await node(url, 'gw-c', { queueMax: 5 });
    try {
      await server.stop();
      for (let i = 0; i < 12; i++) await blockedTunnel(c, `bound${i}.example.net`);
      const state = await get<{ dropped: number; gaps: { dropped: number }[] }>(c, '/api/v1/store');
      expect(state.dropped).toBe(7);
      expect(state.gaps.map((g) => g.dropped)).toEqual([7]);
      await server.start();
      await expect
        .poll(async () => {
          await c.gw.gateway.records.writer?.flush();
          return c.gw.gateway.records.writer?.state().queued;
        }, WAIT)
        .toBe(0);
      const page = await get<Page>(c, '/api/v1/logs?instance=gw-c');
      expect(page.items).toHaveLength(5);
      expect(page.gaps?.map((g) => g.dropped)).toEqual([7]);
      // The other replica knows of the gap too: it is in the shared tables.
      const onA = await get<Page>(a, '/api/v1/logs?instance=gw-c');
      expect(onA.gaps?.map((g) => g.dropped)).toEqual([7]);
      const metrics = await c.app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toMatch(/^acr_egress_store_dropped_total 7$/m);
    } finally {
      await c.app.close();
      await c.gw.stop();
    }
  }, 120_000);

  it('retention removes whole old days', async () => {
    const store = a.gw.gateway.records.store;
    const old = (days: number, n: number): StoredRecord => {
      const t = Date.now() - days * 86_400_000;
      return {
        time: new Date(t).toISOString(),
        id: `00${String(days).padStart(2, '0')}${String(n).padStart(22, '0')}`,
        mode: 'connect',
        client: '10.0.0.1',
        host: 'retained.example.net',
        port: 443,
        sni: null,
        ip: null,
        decision: 'blocked',
        reason: 'host_not_allowed',
        rule: null,
        tag: null,
        bytesUp: null,
        bytesDown: null,
        durationMs: 0,
      };
    };
    await store.write([old(40, 1), old(20, 1), old(3, 1), old(3, 2)]);
    await a.gw.gateway.records.prune();
    const page = await get<Page>(a, '/api/v1/logs?host=retained.example.net');
    expect(page.items).toHaveLength(2); // 14 days kept: the 3-day-old records stay
  }, 60_000);

  it('replicas starting at once apply each migration exactly once', async () => {
    const url = await server.createDatabase('migrations');
    const stores = Array.from({ length: 4 }, (_, i) => PostgresStore.create({ url, instance: `m${i}` }));
    const applied = await Promise.all(stores.map((s) => s.migrate()));
    expect(applied.flat().sort((x, y) => x - y)).toEqual(MIGRATIONS.map((m) => m.version));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    expect((await c.query('SELECT version FROM acr_schema_migrations ORDER BY version')).rows).toEqual(
      MIGRATIONS.map((m) => ({ version: m.version })),
    );
    await c.end();
    await Promise.all(stores.map((s) => s.close()));
  }, 60_000);

  it('the cache column is back-filled from records written before it existed', async () => {
    const url = await server.createDatabase('cache_backfill');
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    // A database as version 3 left it, holding one blob GET that was a hit.
    await c.query(
      'CREATE TABLE acr_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    for (const m of MIGRATIONS.filter((m) => m.version <= 3)) {
      await c.query(m.sql);
      await c.query('INSERT INTO acr_schema_migrations (version) VALUES ($1)', [m.version]);
    }
    const time = '2026-12-07T10:02:00.000Z';
    const rec = { id: '01KBYCACHE0000000000000001', time, kind: 'request', cache: 'hit', bytesDown: 4096 };
    await c.query(
      `INSERT INTO acr_records (id, time, kind, decision, bytes_down, rec) VALUES ($1, $2, 'request', 'allowed', 4096, $3)`,
      [rec.id, time, JSON.stringify(rec)],
    );
    await c.end();
    const store = PostgresStore.create({ url, instance: 'm' });
    expect(await store.migrate()).toEqual(MIGRATIONS.filter((m) => m.version > 3).map((m) => m.version));
    const filter = LogFilter.parse({ since: '2026-12-07T10:00:00Z', until: '2026-12-07T11:00:00Z' }) as LogFilter;
    expect(await store.cacheBuckets(filter, 3_600_000)).toEqual([
      { start: '2026-12-07T10:00:00.000Z', hit: 1, miss: 0, bypass: 0, bytesFromDisk: 4096, bytesFromUpstream: 0 },
    ]);
    await store.close();
  }, 60_000);
});
