// Staleness from the publication date: the date in ServiceTags_<Cloud>_<yyyymmdd>.json (a local
// file's name, the link on the download page), not the file's mtime or the download time. A file
// Microsoft published weeks ago is stale however recently it was fetched.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { ruleTagNeeds } from '../../../src/policy/tag-needs.js';
import { ServiceTagManager } from '../../../src/service-tags/manager.js';
import { publishedFromName } from '../../../src/service-tags/source.js';
import { startFakeMicrosoft, type FakeMicrosoft } from '../../helpers/fake-microsoft.js';
import { testConfig } from '../../helpers/gateway.js';
import { loopbackTags, serviceTagsJson } from '../../helpers/tags.js';

const DAY = 86_400;
const PUBLISHED = Date.UTC(2025, 10, 6); // 2025-11-06
const silent = pino({ level: 'silent' });
const make = (source: string, now: number) =>
  new ServiceTagManager({
    config: buildConfig(testConfig({ serviceTags: { enforce: true, source, cacheFile: null, maxAgeDays: 30 } }), null),
    needs: ruleTagNeeds,
    log: silent,
    now: () => now,
  });

describe('publishedFromName', () => {
  it.each([
    ['ServiceTags_Public_20251106.json', PUBLISHED],
    ['/var/lib/x/ServiceTags_AzureGovernment_20240102.json', Date.UTC(2024, 0, 2)],
    ['https://download.microsoft.com/download/7/1/D/ServiceTags_China_20251201.json', Date.UTC(2025, 11, 1)],
    ['service-tags.json', null],
    ['ServiceTags_Public_20251332.json', null],
  ])('%s -> %s', (name, expected) => {
    expect(publishedFromName(name)).toBe(expected);
  });
});

describe('a local file named with its date', () => {
  it('is as old as its name says, though its mtime is now (it used to show "age 9m, stale=false")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-published-'));
    const file = join(dir, 'ServiceTags_Public_20251106.json');
    writeFileSync(file, serviceTagsJson(loopbackTags(), 5)); // mtime: now
    const m = make(file, PUBLISHED + 44 * DAY * 1000);
    await m.loadInitial();
    expect(m.status()).toMatchObject({
      publishedAt: '2025-11-06T00:00:00.000Z',
      ageFrom: 'file name',
      ageSeconds: 44 * DAY,
      stale: true,
    });
  });
});

describe('a download', () => {
  let fake: FakeMicrosoft;
  beforeAll(async () => {
    fake = await startFakeMicrosoft();
    fake.publish(serviceTagsJson(loopbackTags(), 5), '20251106');
  });
  afterAll(() => fake.close());

  it('takes the date of the linked file, not the download time; the stale metric follows', async () => {
    const m = make(fake.detailsUrl(), PUBLISHED + 44 * DAY * 1000);
    expect((await m.refresh()).ok).toBe(true);
    expect(m.status()).toMatchObject({ publishedAt: '2025-11-06T00:00:00.000Z', ageSeconds: 44 * DAY, stale: true });
    const metrics = createMetrics({ tags: () => m.status(), defaultMetrics: false });
    expect(await metrics.text()).toMatch(/^acr_egress_service_tags_stale 1$/m);
  });

  it('is fresh within maxAgeDays of the publication date', async () => {
    const m = make(fake.detailsUrl(), PUBLISHED + 4 * DAY * 1000);
    await m.refresh();
    expect(m.status()).toMatchObject({ ageSeconds: 4 * DAY, stale: false });
  });
});
