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
import { auth, fakeDeps } from './fake-deps.js';

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
