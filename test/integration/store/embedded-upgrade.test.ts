// An embedded database written before the `cache` column (schema version 1) opens as the current
// version: the column is back-filled from the stored records, so the cache panel counts old blob GETs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { monotonicFactory } from 'ulid';
import { openEmbeddedStore } from '../../../src/store/embedded.js';
import { LogFilter } from '../../../src/store/query.js';
import type { StoredRecord } from '../../../src/store/types.js';

const HOUR = 3_600_000;
const at = Date.UTC(2026, 10, 28, 10, 0, 0);
const nextId = monotonicFactory();
const root = mkdtempSync(join(tmpdir(), 'acr-egress-embedded-upgrade-'));
let dirs = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A blob GET `minute` minutes after `at`; `cache` absent for a request the cache never saw. */
function blobGet(minute: number, cache: 'hit' | 'miss' | 'bypass' | null, bytesDown: number): StoredRecord {
  const t = at + minute * 60_000;
  return {
    time: new Date(t).toISOString(),
    id: nextId(t),
    kind: 'request',
    mode: 'connect',
    client: '10.0.0.1',
    host: 'myregistry.azurecr.io',
    port: 443,
    sni: null,
    ip: null,
    decision: 'allowed',
    reason: null,
    rule: 'registry:myregistry:pull',
    tag: null,
    method: 'GET',
    path: `/v2/team/app/blobs/sha256:${'b'.repeat(64)}`,
    status: 200,
    bytesUp: 0,
    bytesDown,
    durationMs: 3,
    ...(cache === null ? {} : { cache }),
  };
}

const filter = LogFilter.parse(
  { since: new Date(at).toISOString(), until: new Date(at + 2 * HOUR).toISOString() },
  at + 3 * HOUR,
) as LogFilter;

/**
 * A database as a version-1 store left it: records written, no `cache` column, no index on it, and
 * its two client indexes.
 */
async function versionOneDatabase(records: readonly StoredRecord[]): Promise<string> {
  const dir = join(root, String(dirs++));
  const store = await openEmbeddedStore(dir);
  await store.write(records);
  await store.close();
  const db = new DatabaseSync(join(dir, 'acr-egress.sqlite'));
  db.exec(`DROP INDEX acr_records_cache; ALTER TABLE acr_records DROP COLUMN cache;
    DROP INDEX acr_records_client_ip; CREATE INDEX acr_records_client_ip ON acr_records (client_ip);
    CREATE INDEX acr_records_client ON acr_records (client, id); PRAGMA user_version = 1`);
  db.close();
  return dir;
}

function schemaOf(dir: string): { version: number; columns: string[]; indexes: string[]; clientIp: string[] } {
  const db = new DatabaseSync(join(dir, 'acr-egress.sqlite'), { readOnly: true });
  try {
    return {
      version: (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version,
      columns: (db.prepare('PRAGMA table_info(acr_records)').all() as { name: string }[]).map((c) => c.name),
      indexes: (db.prepare('PRAGMA index_list(acr_records)').all() as { name: string }[]).map((i) => i.name),
      clientIp: (db.prepare("PRAGMA index_info('acr_records_client_ip')").all() as { name: string }[]).map(
        (c) => c.name,
      ),
    };
  } finally {
    db.close();
  }
}

describe('the embedded store upgrades an older database', () => {
  it('adds the cache column and back-fills it from the records, then counts new records too', async () => {
    const dir = await versionOneDatabase([
      blobGet(0, 'miss', 4000),
      blobGet(1, 'hit', 4000),
      blobGet(2, 'bypass', 100),
      blobGet(3, null, 900),
    ]);
    expect(schemaOf(dir).columns).not.toContain('cache');

    const store = await openEmbeddedStore(dir);
    try {
      const after = schemaOf(dir);
      expect(after.version).toBe(3);
      expect(after.columns).toContain('cache');
      expect(after.indexes).toContain('acr_records_cache');
      // Step 3: one client index, ordered by id within an address.
      expect(after.indexes).not.toContain('acr_records_client');
      expect(after.clientIp).toEqual(['client_ip', 'id']);
      const byClient = await store.logs(LogFilter.parse({ client: '10.0.0.1' }, at + 3 * HOUR) as LogFilter, {
        limit: 10,
      });
      expect(byClient.items).toHaveLength(4);
      expect(await store.cacheBuckets(filter, HOUR)).toEqual([
        { start: new Date(at).toISOString(), hit: 1, miss: 1, bypass: 1, bytesFromDisk: 4000, bytesFromUpstream: 4000 },
      ]);

      await store.write([blobGet(61, 'hit', 2500)]);
      expect((await store.cacheBuckets(filter, HOUR)).map((b) => [b.start, b.hit, b.bytesFromDisk])).toEqual([
        [new Date(at).toISOString(), 1, 4000],
        [new Date(at + HOUR).toISOString(), 1, 2500],
      ]);
    } finally {
      await store.close();
    }
    // Opening again runs no step twice.
    const again = await openEmbeddedStore(dir);
    await again.close();
    expect(schemaOf(dir).version).toBe(3);
  });

  it('a step that fails leaves the database at its last version and the open says what to do', async () => {
    const dir = await versionOneDatabase([blobGet(0, 'hit', 10)]);
    // A column of that name already there (a hand edit): the step's ALTER TABLE cannot run.
    const db = new DatabaseSync(join(dir, 'acr-egress.sqlite'));
    db.exec('ALTER TABLE acr_records ADD COLUMN cache TEXT');
    db.close();

    await expect(openEmbeddedStore(dir)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(/duplicate column name: cache.*audit\.store: memory/),
    });
    expect(schemaOf(dir)).toMatchObject({ version: 1, indexes: expect.not.arrayContaining(['acr_records_cache']) });
  });
});
