// A new replica starts enforcing: with the PostgreSQL store, a replica that refreshed its service
// tags leaves them in the store, and a replica that starts with no cache starts from them (and
// writes its cache). On a real PostgreSQL started by the test.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { ruleTagNeeds } from '../../../src/policy/tag-needs.js';
import { ServiceTagManager } from '../../../src/service-tags/manager.js';
import { PostgresTagShare } from '../../../src/store/tag-share.js';
import { startGateway, testConfig, type TestGateway } from '../../helpers/gateway.js';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { loopbackTags, serviceTagsJson } from '../../helpers/tags.js';

describe.skipIf(POSTGRES_MISSING)('service tags shared through the PostgreSQL store', () => {
  let server: TestPostgres;
  let url: string;
  const gateways: TestGateway[] = [];

  beforeAll(async () => {
    server = await startPostgres();
    url = await server.createDatabase('tagshare');
  }, 120_000);

  afterAll(async () => {
    for (const g of gateways) await g.stop();
    await server?.destroy();
  });

  async function replica(instance: string, serviceTags: Record<string, unknown>): Promise<TestGateway> {
    const gw = await startGateway(
      testConfig({
        audit: { store: 'postgres', url, instance, flushMs: 50 },
        serviceTags: { enforce: true, ...serviceTags },
      }),
    );
    gateways.push(gw);
    return gw;
  }

  it('a new replica without a cache starts from the data another replica refreshed', async () => {
    const dirA = mkdtempSync(join(tmpdir(), 'acr-egress-share-a-'));
    const source = join(dirA, 'ServiceTags_Public_20261201.json');
    // A starts before its source exists: no data, then a refresh brings change 7.
    const a = await replica('gw-a', { source, cacheFile: join(dirA, 'cache.json') });
    expect(a.gateway.tags).toBeNull();
    writeFileSync(source, serviceTagsJson(loopbackTags(), 7));
    const refreshed = await a.gateway.serviceTags.refresh();
    expect(refreshed.ok).toBe(true);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await expect
        .poll(async () => (await db.query('SELECT change_number, instance FROM acr_egress_service_tags')).rows)
        .toEqual([{ change_number: '7', instance: 'gw-a' }]);
    } finally {
      await db.end();
    }

    // B has no source it can reach and no cache: before this change it tunnelled unenforced.
    const dirB = mkdtempSync(join(tmpdir(), 'acr-egress-share-b-'));
    const cacheB = join(dirB, 'service-tags.json');
    const b = await replica('gw-b', { source: null, cacheFile: cacheB });
    expect(b.gateway.tags?.changeNumber).toBe(7);
    expect(b.gateway.policy.tags).not.toBeNull();
    expect(b.gateway.serviceTags.status().changeNumber).toBe(7);
    expect(existsSync(cacheB)).toBe(true);
  }, 60_000);

  it('never replaces the fleet data with an older change number', async () => {
    const share = new PostgresTagShare({ url, cloud: 'AzureUSGovernment', instance: 't' });
    try {
      const body = (n: number) => Buffer.from(serviceTagsJson(loopbackTags(), n));
      await share.save({ body: body(9), dataTime: 2_000, changeNumber: 9, sha256: 'nine' });
      await share.save({ body: body(8), dataTime: 1_000, changeNumber: 8, sha256: 'eight' });
      expect(await share.load()).toMatchObject({ changeNumber: 9, sha256: 'nine', dataTime: 2_000 });
      await share.save({ body: body(10), dataTime: 3_000, changeNumber: 10, sha256: 'ten' });
      expect((await share.load())?.changeNumber).toBe(10);
      const other = new PostgresTagShare({ url, cloud: 'AzureChinaCloud', instance: 't' });
      expect(await other.load()).toBeNull();
      await other.close();
    } finally {
      await share.close();
    }
  });
});

describe('a fleet store that cannot be read', () => {
  it('leaves the replica without data and says why, without failing its start', async () => {
    const lines: { msg: string; err?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as { msg: string }) });
    const config = buildConfig(
      { registries: [{ name: 'myregistry' }], serviceTags: { source: null, cacheFile: null }, admin: { listen: null } },
      null,
    );
    const manager = new ServiceTagManager({ config, needs: ruleTagNeeds, log });
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const share = new PostgresTagShare({ url: 'postgres://u@127.0.0.1:1/db', cloud: 'AzureCloud', instance: 't' });
    manager.setShare(share);
    try {
      expect(await manager.loadShared()).toBeNull();
      expect(lines.find((l) => l.msg === 'fleet store service tags not used')?.err).toMatch(/ECONNREFUSED/);
    } finally {
      await share.close();
    }
  });

  it('refuses fleet data that fails validation, like a bad download', async () => {
    const lines: { msg: string; err?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as { msg: string }) });
    const config = buildConfig(
      { registries: [{ name: 'myregistry' }], serviceTags: { source: null, cacheFile: null }, admin: { listen: null } },
      null,
    );
    const manager = new ServiceTagManager({ config, needs: ruleTagNeeds, log });
    manager.setShare({ load: async () => ({ body: Buffer.from('{"values": 3}'), dataTime: 0 }), save: async () => {} });
    expect(await manager.loadShared()).toBeNull();
    expect(manager.index).toBeNull();
    expect(lines.some((l) => l.msg === 'fleet store service tags not used')).toBe(true);
  });
});
