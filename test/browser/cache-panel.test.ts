// The dashboard's Cache view in real headless Chromium against a real gateway on loopback: the off
// state, the "no cached pulls yet" state over a real (empty) cache folder, then blob GET records with
// hit and miss seeded through the gateway's recorder, charted per bucket with the empty buckets as 0.
import { newContext, recordOf } from '../../src/proxy/context.js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { startAdmin, type RunningAdmin } from '../../src/admin/start.js';
import type { CacheOutcome } from '../../src/audit/record.js';
import { BlobCache } from '../../src/cache/blob-cache.js';
import { BlobCacheHandler } from '../../src/cache/blob-cache-handler.js';
import { cacheStatus } from '../../src/cache/cache-status.js';
import { allow } from '../../src/policy/decide.js';
import { ADMIN_TOKEN, CHROMIUM, startDashboardRig, type DashboardRig } from '../helpers/dashboard.js';

const haveChromium = existsSync(CHROMIUM);
const MIN = 60_000;
const MIB = 1024 * 1024;

let rig: DashboardRig;
let browser: Browser;
let dir: string;
let handler: BlobCacheHandler;
/** A second admin API on the same gateway whose cache figures come from a real cache folder. */
let cachedAdmin: RunningAdmin;
const pageErrors: string[] = [];

async function signedIn(base: string, view: string, width = 1200): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  await context.route('**/*', (route) =>
    route.request().url().startsWith(`${base}/`) ? route.continue() : route.abort(),
  );
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${base}/ui#/${view}`);
  await page.getByLabel('admin token').fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('nav').waitFor();
  return page;
}

/** A blob GET's request record as the inspector writes it, `minutesAgo` back. */
function blobGet(minutesAgo: number, cache: CacheOutcome, bytesDown: number): void {
  const ctx = { ...newContext('connect', '10.0.0.7'), host: 'myregistry.azurecr.io', port: 443 };
  const fields = {
    tunnel: 'T',
    method: 'GET',
    path: `/v2/team/app/blobs/sha256:${'b'.repeat(64)}`,
    repository: 'team/app',
    reference: `sha256:${'b'.repeat(64)}`,
    digest: `sha256:${'b'.repeat(64)}`,
    status: 200,
    cache,
  };
  const request = { startedAt: Date.now() - minutesAgo * MIN, fields };
  rig.gw.gateway.recorder.record(
    recordOf(ctx, { decision: allow('registry:myregistry:data'), bytesUp: 0, bytesDown, request }),
  );
}

describe.skipIf(!haveChromium)(
  `cache panel in headless Chromium${haveChromium ? '' : ' (skipped: no /usr/bin/chromium)'}`,
  { timeout: 120_000 },
  () => {
    beforeAll(async () => {
      rig = await startDashboardRig();
      dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-panel-'));
      handler = new BlobCacheHandler(await BlobCache.open({ dir, maxBytes: 64 * MIB }), { minBlobBytes: 0 });
      const admin = await startAdmin(
        { ...adminDepsFromGateway(rig.gw.gateway), cache: () => cacheStatus(handler) },
        '127.0.0.1:0',
      );
      if (admin === null) throw new Error('admin API did not start');
      cachedAdmin = admin;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await cachedAdmin?.app.close();
      await rig?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('says the cache is off, and how to turn it on, on a gateway without it', async () => {
      const page = await signedIn(rig.base, 'cache');
      const off = page.locator('[data-state="off"]');
      await off.waitFor();
      expect(await off.textContent()).toContain('The layer cache is off: set cache: true on an inspected registry');
      expect(await page.locator('[data-chart]').count()).toBe(0);
      await page.context().close();
    });

    it('says no cached pulls yet over an empty cache', async () => {
      const page = await signedIn(`http://127.0.0.1:${cachedAdmin.address.port}`, 'cache');
      await page.locator('[data-state="empty"]').waitFor();
      expect(await page.locator('[data-state="on"]').textContent()).toContain('0 layers');
      expect(await page.locator('[data-chart]').count()).toBe(0);
      await page.context().close();
    });

    it('shows size, entries, hit ratio and bytes saved, and charts each bucket of the range', async () => {
      const layer = randomBytes(3 * MIB);
      const w = (await handler.cache.beginFill(createHash('sha256').update(layer).digest('hex')))!;
      await w.expectSize(layer.length);
      await new Promise((resolve, reject) => w.on('finish', resolve).on('error', reject).end(layer));
      Object.assign(handler.totals, { hit: 3, miss: 1, bypass: 1, bytesDisk: 9 * MIB, bytesUpstream: 3 * MIB });
      // 40 minutes ago one miss fills the layer and one hit follows; 5 minutes ago two hits.
      blobGet(40, 'miss', 3 * MIB);
      blobGet(40, 'hit', 3 * MIB);
      blobGet(5, 'hit', 3 * MIB);
      blobGet(5, 'hit', 3 * MIB);
      blobGet(5, 'bypass', 100);

      const page = await signedIn(`http://127.0.0.1:${cachedAdmin.address.port}`, 'cache');
      const totals = page.locator('[data-state="on"]');
      await totals.waitFor();
      const text = await totals.textContent();
      expect(text).toContain('3.0 MiB of 64.0 MiB');
      expect(text).toContain('1 layers');
      expect(text).toContain('75.0 % hit ratio');
      expect(text).toContain('9.0 MiB WAN bytes saved');

      const ratio = page.locator('[data-chart="hit-ratio"]');
      await ratio.locator('canvas').waitFor();
      // The last hour in 5-minute buckets, every one drawn: 12 or 13 of them by where "now" falls.
      const points = Number(await ratio.getAttribute('data-points'));
      expect(points).toBeGreaterThanOrEqual(12);
      expect(points).toBeLessThanOrEqual(13);
      const ratios = JSON.parse((await ratio.getAttribute('data-values')) ?? '[]') as (number | null)[];
      expect(ratios.filter((r) => r !== null).sort()).toEqual([100, 50]);
      expect(ratios.filter((r) => r === null)).toHaveLength(points - 2);

      const moved = page.locator('[data-chart="bytes"]');
      await moved.locator('canvas').waitFor();
      const values = JSON.parse((await moved.getAttribute('data-values')) ?? '{}') as Record<string, number[]>;
      expect(values.disk).toHaveLength(points);
      expect([...(values.disk ?? [])].filter((b) => b > 0).sort()).toEqual([3 * MIB, 6 * MIB]);
      expect(values.upstream?.reduce((a, b) => a + b, 0)).toBe(3 * MIB);
      expect(values.upstream?.filter((b) => b === 0)).toHaveLength(points - 1);
      expect(pageErrors).toEqual([]);
      await page.context().close();
    });

    it('is usable at 420 px: the view does not scroll the page sideways', async () => {
      const page = await signedIn(`http://127.0.0.1:${cachedAdmin.address.port}`, 'cache', 420);
      await page.locator('[data-chart="bytes"] canvas').waitFor();
      const { scroll, client } = await page.evaluate<{ scroll: number; client: number }>(
        '({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })',
      );
      expect(client).toBeGreaterThan(0);
      expect(scroll).toBeLessThanOrEqual(client);
      await page.context().close();
    });
  },
);
