// The service-tag lifecycle without the network: start-up load order, swaps and onUpdate, the cache,
// the schedule and back-off (fake timers), staleness, reconfiguration, and the real files.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { ruleTagNeeds } from '../../../src/policy/tag-needs.js';
import { ServiceTagManager } from '../../../src/service-tags/manager.js';
import type { ServiceTagIndex } from '../../../src/service-tags/types.js';
import { testConfig } from '../../helpers/gateway.js';
import { serviceTagPath } from '../../helpers/service-tag-fixtures.js';
import { loopbackTags, serviceTagsJson, type TestTag } from '../../helpers/tags.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2025-11-10T00:00:00Z');

/** 127.0.0.2 moves from ACR EastUS to WestUS; 127.0.0.22 joins EastUS. */
function moved(): TestTag[] {
  return loopbackTags().map((t) =>
    t.name === 'AzureContainerRegistry.EastUS'
      ? { ...t, prefixes: ['127.0.0.22/32'] }
      : t.name === 'AzureContainerRegistry.WestUS'
        ? { ...t, prefixes: ['127.0.0.2/32', '127.0.0.12/32'] }
        : t,
  );
}

interface Setup {
  dir: string;
  source: string;
  cache: string;
  updates: ServiceTagIndex[];
  logs: Array<Record<string, unknown>>;
  make(over?: Record<string, unknown>): ServiceTagManager;
}

function setup(): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-mgr-'));
  const source = join(dir, 'source.json');
  const cache = join(dir, 'cache', 'service-tags.json');
  const updates: ServiceTagIndex[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const make = (over: Record<string, unknown> = {}) =>
    new ServiceTagManager({
      config: buildConfig(
        testConfig({ serviceTags: { enforce: true, source, cacheFile: cache, refreshHours: 24, ...over } }),
        null,
      ),
      needs: ruleTagNeeds,
      log,
      onUpdate: (index) => updates.push(index),
      random: () => 0.5,
    });
  return { dir, source, cache, updates, logs, make };
}

// The clock stands at T0 and moves only when a test advances it; the refresh timer and the
// manager's dates (its default now is Date.now) move together. File I/O stays real.
beforeEach(() => {
  vi.useFakeTimers({ now: T0, toFake: ['Date', 'setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const iso = (t: number) => new Date(t).toISOString();

function writeAt(path: string, text: string, time: number): void {
  writeFileSync(path, text);
  utimesSync(path, new Date(time), new Date(time));
}

describe('ServiceTagManager.loadInitial', () => {
  it('loads a local source file first and dates the data by its mtime', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 7), T0 - 2 * DAY);
    const m = s.make();
    expect((await m.loadInitial())?.changeNumber).toBe(7);
    expect(m.status()).toMatchObject({
      changeNumber: 7,
      cloud: 'Public',
      source: s.source,
      ageSeconds: 2 * 86400,
      stale: false,
      lastError: null,
    });
    expect(s.updates).toEqual([]);
  });

  it('falls back to the cache when the source file is invalid, and reports why', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 3), T0);
    expect(await s.make().refresh()).toMatchObject({ ok: true }); // fills the cache
    writeFileSync(s.source, '{"changeNumber": 9, "cloud": "Public", "values": [');
    const m = s.make();
    expect((await m.loadInitial())?.changeNumber).toBe(3);
    expect(m.status().source).toBe(s.cache);
    expect(m.status().lastError).toMatch(/not valid JSON/);
  });

  it('answers null without throwing when nothing loads, with no error for a cache not written yet', async () => {
    const s = setup();
    const m = s.make({ source: 'https://www.microsoft.com/en-us/download/details.aspx?id=56519' });
    expect(await m.loadInitial()).toBeNull();
    expect(m.status()).toMatchObject({ changeNumber: null, stale: true, ageSeconds: null, lastError: null, tags: {} });
  });

  it('refuses a cache for another cloud', async () => {
    const s = setup();
    await s.make({ source: null }).loadInitial();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 3, 'AzureGovernment'), T0);
    const m = s.make({ source: null, cacheFile: s.source });
    expect(await m.loadInitial()).toBeNull();
    expect(m.status().lastError).toMatch(/cloud "AzureGovernment"/);
  });
});

describe('ServiceTagManager.refresh', () => {
  it('swaps in a newer file, calls onUpdate, writes the cache and logs the used tags that changed', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 1), T0 - DAY);
    const m = s.make();
    const first = await m.loadInitial();
    writeAt(s.source, serviceTagsJson(moved(), 2), T0);
    const result = await m.refresh();
    expect(result).toMatchObject({
      ok: true,
      changed: true,
      changes: [{ tag: 'AzureContainerRegistry.EastUS', added: 1, removed: 1, status: 'changed' }],
    });
    expect(s.updates).toHaveLength(1);
    expect(m.index).toBe(s.updates[0]);
    expect(m.index).not.toBe(first);
    expect(m.lookup('127.0.0.2')).toEqual(['AzureContainerRegistry', 'AzureContainerRegistry.WestUS']);
    expect(readFileSync(s.cache, 'utf8')).toBe(serviceTagsJson(moved(), 2));
    expect(statSync(s.cache).mtimeMs).toBe(T0);
    const line = s.logs.find((l) => l.msg === 'service tags updated: used tags changed');
    expect(line).toMatchObject({
      from: 1,
      to: 2,
      usedTagChanges: { 'AzureContainerRegistry.EastUS': { added: 1, removed: 1 } },
    });
    expect(m.status()).toMatchObject({ lastSuccessAt: new Date(T0).toISOString(), lastError: null, failures: 0 });
  });

  it('keeps the index and does not call onUpdate when the same file comes again', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 4), T0);
    const m = s.make();
    await m.refresh();
    const index = m.index;
    const again = await m.refresh();
    expect(again).toMatchObject({ ok: true, changed: false, changes: [] });
    expect(m.index).toBe(index);
    expect(s.updates).toHaveLength(1);
  });

  it('refuses a lower change number unless forced', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 5), T0);
    const m = s.make();
    await m.refresh();
    writeAt(s.source, serviceTagsJson(moved(), 4), T0);
    const refused = await m.refresh();
    expect(refused).toMatchObject({ ok: false, error: expect.stringMatching(/4 is lower than 5/) });
    expect(m.index?.changeNumber).toBe(5);
    expect(readFileSync(s.cache, 'utf8')).toBe(serviceTagsJson(loopbackTags(), 5));
    expect(await m.refresh({ force: true })).toMatchObject({ ok: true, changed: true });
    expect(m.index?.changeNumber).toBe(4);
  });

  it('fails with SERVICE_TAGS_NO_SOURCE when source is null', async () => {
    const s = setup();
    const r = await s.make({ source: null }).refresh();
    expect(r).toMatchObject({ ok: false, error: 'serviceTags.source is null: nothing to refresh from' });
  });

  it('does not write a cache when cacheFile is the source itself', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 5), T0 - DAY);
    const m = s.make({ cacheFile: s.source });
    expect(await m.refresh()).toMatchObject({ ok: true });
    expect(statSync(s.source).mtimeMs).toBe(T0 - DAY);
    expect(existsSync(s.cache)).toBe(false);
  });
});

describe('ServiceTagManager schedule', () => {
  it('waits out the rest of the interval for fresh data, then backs off 1, 2, 4 min on failures', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 1), T0 - 6 * HOUR);
    const m = s.make();
    await m.loadInitial();
    m.start();
    try {
      expect(m.status().nextRefreshAt).toBe(iso(T0 + 18 * HOUR));
      rmSync(s.source);
      await vi.advanceTimersByTimeAsync(18 * HOUR - 1);
      expect(m.status()).toMatchObject({ failures: 0, nextRefreshAt: iso(T0 + 18 * HOUR) });
      // Each attempt is the timer's own; it fails on the missing file and re-arms with back-off.
      // expect.poll moves the fake clock by its interval while the real file system answers, so an
      // attempt is dated at its due time or a few polls after; the next is due exactly `backoff` on.
      let at = T0 + 18 * HOUR;
      for (const [i, backoff] of [60_000, 120_000, 240_000].entries()) {
        await vi.advanceTimersByTimeAsync(at - Date.now());
        await expect.poll(() => m.status().consecutiveFailures, { timeout: 10_000 }).toBe(i + 1);
        const failedAt = Date.parse(m.status().lastErrorAt ?? '');
        expect(failedAt - at).toBeGreaterThanOrEqual(0);
        expect(failedAt - at).toBeLessThan(10_000);
        expect(m.status().nextRefreshAt).toBe(iso(failedAt + backoff));
        at = failedAt + backoff;
      }
      expect(m.status()).toMatchObject({ failures: 3, consecutiveFailures: 3, changeNumber: 1 });
      writeAt(s.source, serviceTagsJson(loopbackTags(), 2), Date.now());
      await vi.advanceTimersByTimeAsync(at - Date.now());
      await expect.poll(() => m.status().changeNumber, { timeout: 10_000 }).toBe(2);
      const succeededAt = Date.parse(m.status().lastSuccessAt ?? '');
      expect(succeededAt - at).toBeGreaterThanOrEqual(0);
      expect(succeededAt - at).toBeLessThan(10_000);
      expect(m.status()).toMatchObject({
        consecutiveFailures: 0,
        failures: 3,
        nextRefreshAt: iso(succeededAt + 24 * HOUR),
      });
    } finally {
      m.stop();
    }
    expect(m.status().nextRefreshAt).toBeNull();
  });

  it('refreshes at once when started without data, on its own timer', async () => {
    const s = setup();
    const m = s.make();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 8), T0);
    m.start();
    try {
      expect(m.status().nextRefreshAt).toBe(iso(T0));
      await vi.advanceTimersByTimeAsync(0);
      await expect.poll(() => m.index?.changeNumber, { timeout: 10_000 }).toBe(8);
      expect(s.updates).toHaveLength(1);
    } finally {
      m.stop();
    }
  });

  it('does not schedule anything when source is null', () => {
    const s = setup();
    const m = s.make({ source: null });
    m.start();
    expect(m.status().nextRefreshAt).toBeNull();
    m.stop();
  });
});

describe('ServiceTagManager staleness', () => {
  it('reports data older than maxAgeDays as stale and warns on each refresh attempt while enforcing', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 1), T0 - 31 * DAY);
    const m = s.make({ maxAgeDays: 30 });
    await m.loadInitial();
    expect(m.status()).toMatchObject({ stale: true, ageSeconds: 31 * 86400 });
    await m.refresh();
    await m.refresh();
    expect(s.logs.filter((l) => String(l.msg).startsWith('SERVICE TAGS STALE')).length).toBe(2);
    expect(m.index?.changeNumber).toBe(1);
  });

  it('does not warn about stale data when enforce is false', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 1), T0 - 31 * DAY);
    const m = s.make({ maxAgeDays: 30, enforce: false });
    await m.loadInitial();
    await m.refresh();
    expect(m.status().stale).toBe(true);
    expect(s.logs.some((l) => String(l.msg).startsWith('SERVICE TAGS STALE'))).toBe(false);
  });
});

describe('ServiceTagManager.reconfigure', () => {
  const configWith = (s: Setup, over: Record<string, unknown>) =>
    buildConfig(testConfig({ serviceTags: { enforce: true, source: s.source, cacheFile: s.cache, ...over } }), null);

  it('keeps the data when neither source nor cloud changed', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 5), T0);
    const m = s.make();
    const index = await m.loadInitial();
    await m.reconfigure(configWith(s, { maxAgeDays: 10 }));
    expect(m.index).toBe(index);
  });

  it('loads a new source file even with a lower change number (a new source numbers its own way)', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 5), T0);
    const m = s.make({ cacheFile: null });
    await m.loadInitial();
    const other = join(s.dir, 'other.json');
    writeAt(other, serviceTagsJson(moved(), 2), T0);
    await m.reconfigure(configWith(s, { source: other, cacheFile: null }));
    expect(m.index?.changeNumber).toBe(2);
    expect(m.status().source).toBe(other);
  });

  it('prepare reads a new source but changes nothing until commit (a refused reload leaves it)', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 5), T0);
    const m = s.make({ cacheFile: null });
    const index = await m.loadInitial();
    const before = { config: m.config, status: m.status() };
    const other = join(s.dir, 'other.json');
    writeAt(other, serviceTagsJson(moved(), 2), T0);
    const next = configWith(s, { source: other, cacheFile: null });
    const prepared = await m.prepare(next);
    expect(prepared.index()?.changeNumber).toBe(2);
    expect(m.index).toBe(index);
    expect(m.config).toBe(before.config);
    expect(m.status()).toEqual(before.status);
    prepared.commit();
    expect(m.index).toBe(prepared.index());
    expect(m.config).toBe(next);
    expect(m.status().source).toBe(other);
  });

  it('drops the old data when the cloud changes and nothing for the new cloud loads', async () => {
    const s = setup();
    writeAt(s.source, serviceTagsJson(loopbackTags(), 5), T0);
    const m = s.make({ cacheFile: null });
    await m.loadInitial();
    await m.reconfigure(
      buildConfig(
        testConfig({
          cloud: 'AzureChinaCloud',
          registries: [{ name: 'myregistry', regions: ['chinanorth'] }],
          serviceTags: { enforce: true, source: s.source, cacheFile: null },
        }),
        null,
      ),
    );
    expect(m.index).toBeNull();
    expect(m.status().lastError).toMatch(/needs "China"/);
  });
});

describe('ServiceTagManager with the real public file', () => {
  const REAL = serviceTagPath('ServiceTags_Public_20251106.json');

  it('loads, indexes and answers lookups for the used tags through a file source', async () => {
    const s = setup();
    const m = s.make({ source: REAL, cacheFile: null });
    const index = await m.loadInitial();
    expect(index).toMatchObject({ changeNumber: 375, cloud: 'Public', tagCount: 3039, prefixCount: 93362 });
    const status = m.status();
    expect(Object.keys(status.tags)).toEqual([
      'AzureContainerRegistry.EastUS',
      'AzureFrontDoor.FirstParty',
      'MicrosoftContainerRegistry',
      'Storage.EastUS',
    ]);
    expect(status.tags['MicrosoftContainerRegistry']).toBe(359);
    expect(status.tags['AzureFrontDoor.FirstParty']).toBe(68);
    const first = index!
      .value('AzureContainerRegistry.EastUS')!
      .properties.addressPrefixes.find((p) => p.includes('.'))!;
    const ip = first.split('/')[0]!;
    expect(m.lookup(ip)).toEqual(expect.arrayContaining(['AzureContainerRegistry', 'AzureContainerRegistry.EastUS']));
    expect(m.lookup('192.0.2.1')).toEqual([]);
  });
});
