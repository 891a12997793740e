// GET /api/v1/cache and the acr_egress_cache_* metrics over a real cache folder with one hit served.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import { BlobCache } from '../../../src/cache/blob-cache.js';
import { BlobCacheHandler } from '../../../src/cache/blob-cache-handler.js';
import { cacheStatus } from '../../../src/cache/cache-status.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { auth, fakeDeps, rec } from './fake-deps.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-admin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function handlerWithOneBlob(): Promise<BlobCacheHandler> {
  const cache = await BlobCache.open({ dir: mkdtempSync(join(dir, 'c-')), maxBytes: 1 << 20 });
  const data = randomBytes(5000);
  const w = (await cache.beginFill(createHash('sha256').update(data).digest('hex')))!;
  await w.expectSize(data.length);
  await new Promise((resolve, reject) => w.on('finish', resolve).on('error', reject).end(data));
  const handler = new BlobCacheHandler(cache, { minBlobBytes: 0 });
  Object.assign(handler.totals, { hit: 3, miss: 1, bypass: 2, bytesDisk: 15_000, bytesUpstream: 5000 });
  return handler;
}

describe('GET /api/v1/cache', () => {
  it('answers a disabled cache when no registry caches', async () => {
    const app = createAdminApp(fakeDeps().deps);
    const res = await app.inject({ method: 'GET', url: '/api/v1/cache', headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ enabled: false, entries: 0, hitRatio: null });
    await app.close();
  });

  it('answers size, entries, hit ratio and bytes saved, and needs the token', async () => {
    const handler = await handlerWithOneBlob();
    const fake = fakeDeps();
    const app = createAdminApp({ ...fake.deps, cache: () => cacheStatus(handler) });
    expect((await app.inject({ method: 'GET', url: '/api/v1/cache' })).statusCode).toBe(401);
    const res = await app.inject({ method: 'GET', url: '/api/v1/cache', headers: auth() });
    expect(res.json()).toMatchObject({
      enabled: true,
      sizeBytes: 5000,
      entries: 1,
      hits: 3,
      misses: 1,
      bypasses: 2,
      hitRatio: 0.75,
      bytesSaved: 15_000,
    });
    await app.close();
  });
});

describe('GET /api/v1/cache?bucket=', () => {
  const MIN = 60_000;
  const now = Math.floor(Date.now() / (5 * MIN)) * 5 * MIN; // a bucket start, so the expectations are exact
  const at = (m: number): string => new Date(now - m * MIN).toISOString();
  const blob = { kind: 'request' as const, method: 'GET', path: '/v2/team/app/blobs/sha256:00', status: 200 };

  it('adds blob GETs by result and bytes per bucket from the stored records, oldest first', async () => {
    const fake = fakeDeps();
    for (const r of [
      rec({ ...blob, time: at(12), cache: 'miss', bytesDown: 4000 }),
      rec({ ...blob, time: at(11), cache: 'hit', bytesDown: 4000 }),
      rec({ ...blob, time: at(2), cache: 'hit', bytesDown: 4000 }),
      rec({ ...blob, time: at(1), cache: 'bypass', bytesDown: 20 }),
      rec({ time: at(1) }), // the tunnel: no cache result
    ])
      fake.store.add(r);
    const app = createAdminApp(fake.deps);
    const res = await app.inject({ method: 'GET', url: '/api/v1/cache?since=1h&bucket=5m', headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      enabled: false,
      buckets: [
        { start: at(15), hit: 1, miss: 1, bypass: 0, bytesFromDisk: 4000, bytesFromUpstream: 4000 },
        { start: at(5), hit: 1, miss: 0, bypass: 1, bytesFromDisk: 4000, bytesFromUpstream: 0 },
      ],
    });
    const plain = await app.inject({ method: 'GET', url: '/api/v1/cache', headers: auth() });
    expect(plain.json()).not.toHaveProperty('buckets');
    await app.close();
  });

  const bad: [string, string][] = [
    ['a bucket that is not a duration', 'bucket=often'],
    ['a bad since', 'bucket=5m&since=yesterday'],
    ['an unknown parameter', 'bucket=5m&colour=red'],
  ];
  it.each(bad)('answers 400 to %s', async (_, q) => {
    const app = createAdminApp(fakeDeps().deps);
    const res = await app.inject({ method: 'GET', url: `/api/v1/cache?${q}`, headers: auth() });
    expect(res.statusCode).toBe(400);
    await app.close();
  });
});

describe('cache metrics', () => {
  it('mirrors the totals at scrape time', async () => {
    const handler = await handlerWithOneBlob();
    const metrics = createMetrics({ defaultMetrics: false, cache: () => cacheStatus(handler) });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/acr_egress_cache_requests_total\{result="hit"\} 3/);
    expect(text).toMatch(/acr_egress_cache_bytes_total\{source="disk"\} 15000/);
    expect(text).toMatch(/acr_egress_cache_size_bytes 5000/);
    expect(text).toMatch(/acr_egress_cache_verify_failures_total 0/);
    handler.totals.hit = 5;
    expect(await metrics.registry.metrics()).toMatch(/acr_egress_cache_requests_total\{result="hit"\} 5/);
  });
});
