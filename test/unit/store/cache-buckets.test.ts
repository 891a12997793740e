// The cache panel's buckets from records in memory: counts by result, bytes by source, and the
// records that carry no cache result (tunnels, manifests, bad times) left out.
import { describe, expect, it } from 'vitest';
import { cacheBucketRecords } from '../../../src/store/cache-buckets.js';
import type { StoredRecord } from '../../../src/store/types.js';

const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);
const MIN = 60_000;

function rec(minute: number, cache: StoredRecord['cache'], bytesDown: number | null = 1000): StoredRecord {
  return {
    time: new Date(T0 + minute * MIN).toISOString(),
    id: `r${minute}`,
    mode: 'connect',
    client: '10.0.0.1',
    host: 'myregistry.azurecr.io',
    port: 443,
    sni: null,
    ip: null,
    decision: 'allowed',
    reason: null,
    rule: null,
    tag: null,
    bytesUp: 0,
    bytesDown,
    durationMs: 1,
    kind: 'request',
    ...(cache === undefined ? {} : { cache }),
  };
}

describe('cacheBucketRecords', () => {
  const cases: [string, StoredRecord[], number, object[]][] = [
    ['no records: no buckets', [], 5 * MIN, []],
    ['records without a cache result: no buckets', [rec(0, undefined), rec(1, undefined)], 5 * MIN, []],
    [
      'hits count bytes from disk, misses bytes from upstream, bypasses neither',
      [rec(0, 'hit', 300), rec(1, 'miss', 700), rec(2, 'bypass', 50), rec(3, 'hit', null)],
      5 * MIN,
      [{ start: new Date(T0).toISOString(), hit: 2, miss: 1, bypass: 1, bytesFromDisk: 300, bytesFromUpstream: 700 }],
    ],
    [
      'buckets start at epoch multiples, oldest first, empty ones left out',
      [rec(16, 'hit'), rec(1, 'miss'), rec(4, 'hit')],
      5 * MIN,
      [
        { start: new Date(T0).toISOString(), hit: 1, miss: 1, bypass: 0, bytesFromDisk: 1000, bytesFromUpstream: 1000 },
        {
          start: new Date(T0 + 15 * MIN).toISOString(),
          hit: 1,
          miss: 0,
          bypass: 0,
          bytesFromDisk: 1000,
          bytesFromUpstream: 0,
        },
      ],
    ],
    ['a record with a bad time is in no bucket', [{ ...rec(0, 'hit'), time: 'yesterday' }], 5 * MIN, []],
  ];
  it.each(cases)('%s', (_, records, bucketMs, want) => {
    expect(cacheBucketRecords(records, bucketMs)).toEqual(want);
  });
});
