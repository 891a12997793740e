// The same records and the same questions against every back end: memory (the ring), embedded
// (node:sqlite in a temp dir) and PostgreSQL (a real server). Answers must agree.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicFactory } from 'ulid';
import { LogFilter, type LogFilterParams } from '../../../src/store/query.js';
import { DecisionStore } from '../../../src/store/ring.js';
import { openEmbeddedStore } from '../../../src/store/embedded.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import { PostgresStore } from '../../../src/store/postgres.js';
import type { RecordStore, StoredRecord } from '../../../src/store/types.js';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../../helpers/postgres.js';

const nextId = monotonicFactory();
const HOUR = 3_600_000;
const base = Date.UTC(2026, 10, 28, 0, 0, 0);

function make(i: number): StoredRecord {
  const t = base + i * 60_000; // one a minute
  const blocked = i % 4 === 0;
  const r: StoredRecord = {
    time: new Date(t).toISOString(),
    id: nextId(t),
    mode: 'connect',
    client: i % 11 === 0 ? `2001:db8::${i % 3}` : `10.0.${i % 3}.${i % 7}`,
    host: blocked ? `evil${i % 2}.example.org` : i % 5 === 0 ? 'acct.blob.core.windows.net' : 'myregistry.azurecr.io',
    port: 443,
    sni: null,
    ip: null,
    decision: blocked ? 'blocked' : 'allowed',
    reason: blocked ? (i % 8 === 0 ? 'host_not_allowed' : 'sni_mismatch') : null,
    rule: blocked ? null : 'registry:myregistry:login',
    tag: null,
    bytesUp: blocked ? null : 10 * i,
    bytesDown: blocked ? null : 100 * i,
    durationMs: 5,
    instance: i % 2 === 0 ? 'gw-a' : 'gw-b',
  };
  if (i % 10 === 3) {
    Object.assign(r, {
      kind: 'request',
      tunnel: r.id,
      method: 'GET',
      path: `/v2/team/app/manifests/v${i % 20}`,
      repository: 'team/app',
      reference: `v${i % 20}`,
      digest: `sha256:${String(i % 20).padStart(64, '0')}`,
      status: 200,
      user: 'alice',
    });
  }
  return r;
}

const records = Array.from({ length: 300 }, (_, i) => make(i));
const f = (p: LogFilterParams): LogFilter => LogFilter.parse(p, base + 400 * 60_000) as LogFilter;

async function allPages(store: RecordStore, filter: LogFilter, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page = await store.logs(filter, { limit, cursor });
    ids.push(...page.items.map((r) => r.id));
    if (page.nextCursor === null) return ids;
    cursor = page.nextCursor;
  }
}

const QUERIES: [string, LogFilterParams][] = [
  ['everything', {}],
  ['blocked', { decision: 'blocked' }],
  ['one reason', { reason: 'sni_mismatch' }],
  ['exact host', { host: 'acct.blob.core.windows.net' }],
  ['host suffix', { host: '*.example.org' }],
  ['client address', { client: '10.0.1.1' }],
  ['client CIDR', { client: '10.0.2.0/24' }],
  ['client CIDR wider than the IPv4 clients', { client: '10.0.0.0/8' }],
  ['IPv6 client CIDR', { client: '2001:db8::/64' }],
  ['IPv6 client address', { client: '2001:db8::1' }],
  ['instance', { instance: 'gw-b' }],
  ['kind request', { kind: 'request' }],
  ['kind decision', { kind: 'decision', decision: 'allowed' }],
  ['repository', { repository: 'team/app' }],
  ['digest', { digest: `sha256:${'3'.padStart(64, '0')}` }],
  ['user', { user: 'alice' }],
  ['time window', { since: new Date(base + HOUR).toISOString(), until: new Date(base + 2 * HOUR).toISOString() }],
  ['rule', { rule: 'registry:myregistry:login' }],
];

describe('store back ends answer alike', () => {
  const stores: { name: string; store: RecordStore }[] = [];
  let pgServer: TestPostgres | null = null;
  let dir = '';

  beforeAll(async () => {
    const memory = new MemoryStore(new DecisionStore(10_000));
    dir = mkdtempSync(join(tmpdir(), 'acr-egress-embedded-'));
    const embedded = await openEmbeddedStore(join(dir, 'store'));
    stores.push({ name: 'memory', store: memory }, { name: 'embedded', store: embedded });
    if (!POSTGRES_MISSING) {
      pgServer = await startPostgres();
      const pgStore = PostgresStore.create({ url: await pgServer.createDatabase('backends'), instance: 'test' });
      await pgStore.migrate();
      stores.push({ name: 'postgres', store: pgStore });
    }
    for (const { store } of stores) {
      await store.write(records.slice(0, 150));
      await store.write(records.slice(150));
    }
  }, 180_000);

  afterAll(async () => {
    for (const { store } of stores) await store.close();
    await pgServer?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(QUERIES)('%s: the same records in the same order on every back end, over pages', async (_, params) => {
    const expected = records
      .filter((r) => f(params).matches(r, Date.parse(r.time)))
      .map((r) => r.id)
      .reverse();
    expect(expected.length).toBeGreaterThan(0);
    for (const { name, store } of stores) {
      expect({ name, ids: await allPages(store, f(params), 7) }).toEqual({ name, ids: expected });
    }
  });

  it('writing the same records again adds nothing (idempotent on id)', async () => {
    for (const { name, store } of stores) {
      await store.write(records.slice(100, 120));
      expect({ name, n: (await allPages(store, f({}), 1000)).length }).toEqual({ name, n: records.length });
    }
  });

  it('keeps the record as written, fields and all', async () => {
    for (const { store } of stores) {
      const page = await store.logs(f({ kind: 'request' }), { limit: 1 });
      const want = records.filter((r) => r.kind === 'request').at(-1);
      expect(page.items[0]).toEqual(want);
    }
  });

  it('stats agree with the memory back end', async () => {
    const filter = f({});
    const want = await (stores[0] as { store: RecordStore }).store.stats(filter, 5, base);
    for (const { name, store } of stores.slice(1)) {
      expect({ name, stats: await store.stats(filter, 5, base) }).toEqual({ name, stats: want });
    }
  });

  it('per-bucket counts agree, by reason, host, client, rule and instance', async () => {
    const filter = f({});
    const want = await (stores[0] as { store: RecordStore }).store.buckets(filter, HOUR, 100);
    expect(want).toHaveLength(5);
    expect(want[0]?.records).toBe(60);
    expect(want[0]?.instances).toEqual({ 'gw-a': 30, 'gw-b': 30 });
    for (const { name, store } of stores.slice(1)) {
      expect({ name, b: await store.buckets(filter, HOUR, 100) }).toEqual({ name, b: want });
    }
  });

  it('per-bucket counts over a window cut mid-hour agree (hourly counts plus the edges)', async () => {
    const filter = f({
      since: new Date(base + 30 * 60_000).toISOString(),
      until: new Date(base + 3 * HOUR + 20 * 60_000).toISOString(),
    });
    const want = await (stores[0] as { store: RecordStore }).store.buckets(filter, HOUR, 100);
    expect(want.reduce((n, b) => n + b.records, 0)).toBe(171); // minutes 30..200
    for (const { name, store } of stores.slice(1)) {
      expect({ name, b: await store.buckets(filter, HOUR, 100) }).toEqual({ name, b: want });
    }
  });

  it('summarises pulls from manifest GETs', async () => {
    const want = await (stores[0] as { store: RecordStore }).store.pulls(f({}), 100);
    expect(want.length).toBeGreaterThan(0);
    expect(want.reduce((n, p) => n + p.count, 0)).toBe(records.filter((r) => r.kind === 'request').length);
    const sort = (a: { digest: string | null; client: string | null }[]) =>
      [...a].sort((x, y) => `${x.digest}${x.client}`.localeCompare(`${y.digest}${y.client}`));
    for (const { name, store } of stores.slice(1)) {
      expect({ name, p: sort(await store.pulls(f({}), 100)) }).toEqual({ name, p: sort(want) });
    }
  });

  it('learned hosts are kept and expire', async () => {
    for (const { name, store } of stores) {
      const future = new Date(Date.now() + HOUR).toISOString();
      await store.putLearnedHost({ host: 'acct.blob.core.windows.net', registry: 'myregistry', expiresAt: future });
      await store.putLearnedHost({
        host: 'old.blob.core.windows.net',
        registry: null,
        expiresAt: '2020-01-01T00:00:00.000Z',
      });
      expect({ name, hosts: (await store.learnedHosts()).map((h) => h.host) }).toEqual({
        name,
        hosts: ['acct.blob.core.windows.net'],
      });
    }
  });

  it('cache buckets agree: blob GETs by result, bytes from disk and upstream, zero buckets left out', async () => {
    // Two days after the other records, so the questions above never see them.
    const at = base + 48 * HOUR;
    const cached = (i: number, cache: 'hit' | 'miss' | 'bypass', bytesDown: number): StoredRecord => ({
      ...make(i),
      time: new Date(at + i * 60_000).toISOString(),
      id: nextId(at + i * 60_000),
      decision: 'allowed',
      reason: null,
      kind: 'request',
      method: 'GET',
      path: `/v2/team/app/blobs/sha256:${'a'.repeat(64)}`,
      status: 200,
      cache,
      bytesDown,
    });
    // Minute 0..9: 3 hits, 1 miss, 1 bypass; minute 130: one hit; a manifest GET without `cache` between.
    const extra = [
      cached(0, 'miss', 5000),
      cached(1, 'hit', 5000),
      cached(2, 'hit', 5000),
      cached(3, 'bypass', 300),
      cached(4, 'hit', 2500),
      { ...make(5), time: new Date(at + 5 * 60_000).toISOString(), id: nextId(at + 5 * 60_000) },
      cached(130, 'hit', 7000),
    ];
    const span = { since: new Date(at).toISOString(), until: new Date(at + 3 * HOUR).toISOString() };
    const want = [
      { start: new Date(at).toISOString(), hit: 3, miss: 1, bypass: 1, bytesFromDisk: 12_500, bytesFromUpstream: 5000 },
      {
        start: new Date(at + 2 * HOUR).toISOString(),
        hit: 1,
        miss: 0,
        bypass: 0,
        bytesFromDisk: 7000,
        bytesFromUpstream: 0,
      },
    ];
    for (const { name, store } of stores) {
      await store.write(extra);
      expect({ name, b: await store.cacheBuckets(f(span), HOUR) }).toEqual({ name, b: want });
      const byInstance = await store.cacheBuckets(f({ ...span, instance: 'gw-a' }), HOUR);
      expect({ name, hits: byInstance.map((b) => b.hit) }).toEqual({ name, hits: [2, 1] }); // even minutes
      // A client CIDR is the dialect's own SQL (inet on PostgreSQL, a byte range on SQLite).
      const byCidr = await store.cacheBuckets(f({ ...span, client: '10.0.1.0/24' }), HOUR);
      expect({ name, disk: byCidr.map((b) => b.bytesFromDisk) }).toEqual({ name, disk: [7500, 7000] }); // minutes 1, 4, 130
      const before = f({ since: new Date(base).toISOString(), until: new Date(base + HOUR).toISOString() });
      expect({ name, none: await store.cacheBuckets(before, HOUR) }).toEqual({ name, none: [] });
    }
  });

  it('prune removes the records older than the cut-off (SQL back ends)', async () => {
    for (const { name, store } of stores.slice(1)) {
      const removed = await store.prune(base + HOUR);
      expect({ name, removed }).toEqual({ name, removed: 60 });
      const b = await store.bounds();
      expect(b.oldest).toBe(new Date(base + HOUR).toISOString());
    }
  });
});
