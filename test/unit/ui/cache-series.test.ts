// The cache panel's series: every bucket of the range, zeros where the API sent none, and a hit ratio
// only where there were hits or misses.
import { describe, expect, it } from 'vitest';
import { bucketMs } from '../../../src/admin/bucket-ms.js';
import { cacheSeries, type CacheBucket } from '../../../ui/src/cache-series.js';

const M5 = 5 * 60_000;
const T0 = Date.parse('2026-12-07T10:00:00Z');
const bucket = (t: number, over: Partial<CacheBucket>): CacheBucket => ({
  start: new Date(t).toISOString(),
  hit: 0,
  miss: 0,
  bypass: 0,
  bytesFromDisk: 0,
  bytesFromUpstream: 0,
  ...over,
});

describe('cacheSeries', () => {
  it('covers the range with aligned buckets, the empty ones as zeros', () => {
    const s = cacheSeries([bucket(T0 + M5, { hit: 1, bytesFromDisk: 500 })], T0 + 60_000, T0 + 3 * M5 + 1, M5);
    expect(s.times).toEqual([T0, T0 + M5, T0 + 2 * M5, T0 + 3 * M5].map((t) => t / 1000));
    expect(s.bytesFromDisk).toEqual([0, 500, 0, 0]);
    expect(s.bytesFromUpstream).toEqual([0, 0, 0, 0]);
  });

  it('gives a hit ratio in percent only where blobs were asked for; bypasses do not count', () => {
    const s = cacheSeries(
      [bucket(T0, { hit: 3, miss: 1 }), bucket(T0 + M5, { bypass: 4 }), bucket(T0 + 2 * M5, { miss: 2 })],
      T0,
      T0 + 2 * M5,
      M5,
    );
    expect(s.hitRatio).toEqual([75, null, 0]);
    expect(s.hits).toEqual([3, 0, 0]);
    expect(s.misses).toEqual([1, 0, 2]);
  });

  it('leaves out buckets outside the range and ones with a bad start', () => {
    const s = cacheSeries([bucket(T0 - M5, { hit: 9 }), { ...bucket(T0, { hit: 9 }), start: 'soon' }], T0, T0, M5);
    expect(s.hits).toEqual([0]);
  });
});

describe("bucketMs, the panel's bucket lengths", () => {
  it.each([
    ['5m', M5],
    ['1h', 3_600_000],
    ['6h', 6 * 3_600_000],
    ['1d', 86_400_000],
  ])('%s is %d ms', (b, ms) => expect(bucketMs(b)).toBe(ms));
});
