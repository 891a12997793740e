// The chart's time axis: every bucket of the range, the empty ones as zeros, aligned as the store aligns.
import { describe, expect, it } from 'vitest';
import { bucketIndex, bucketStarts, fillBuckets } from '../../../ui/src/buckets.js';

const H = 3_600_000;
const T0 = Date.parse('2026-12-07T00:00:00Z');

describe('bucketStarts', () => {
  it('covers the range with epoch-aligned steps, the partial first and last buckets included', () => {
    expect(bucketStarts(T0 + 30 * 60_000, T0 + 3 * H + 1, H)).toEqual([T0, T0 + H, T0 + 2 * H, T0 + 3 * H]);
  });

  it('gives 7 days of 6 h buckets 28 or 29 starts, never a span wider than the range', () => {
    const now = T0 + 5 * 60_000;
    const starts = bucketStarts(now - 7 * 24 * H, now, 6 * H);
    expect(starts).toHaveLength(29);
    expect(starts[0]).toBeGreaterThan(now - 7 * 24 * H - 6 * H);
    expect(starts.at(-1)).toBeLessThanOrEqual(now);
  });
});

describe('fillBuckets', () => {
  it('puts the sent buckets in place and zeros in every gap', () => {
    const starts = bucketStarts(T0, T0 + 4 * H, H);
    const sent = [
      { start: new Date(T0 + H).toISOString(), reasons: { host_not_allowed: 3 } },
      { start: new Date(T0 + 4 * H).toISOString(), reasons: { dns_failure: 1, host_not_allowed: 1 } },
    ];
    const filled = fillBuckets(sent, starts, ['host_not_allowed', 'dns_failure'], (b, n) => b.reasons[n as never] ?? 0);
    expect(filled.get('host_not_allowed')).toEqual([0, 3, 0, 0, 1]);
    expect(filled.get('dns_failure')).toEqual([0, 0, 0, 0, 1]);
  });

  it('leaves out a bucket outside the range rather than stretching the axis to it', () => {
    const starts = bucketStarts(T0, T0 + H, H);
    const old = [{ start: '2020-01-01T00:00:00.000Z', n: 9 }];
    expect(fillBuckets(old, starts, ['n'], (b) => b.n).get('n')).toEqual([0, 0]);
  });
});

describe('bucketIndex', () => {
  it('finds the bucket of a time, and -1 outside the range', () => {
    const starts = bucketStarts(T0, T0 + 2 * H, H);
    expect(bucketIndex(starts, H, T0 + 90 * 60_000)).toBe(1);
    expect(bucketIndex(starts, H, T0 - 1)).toBe(-1);
    expect(bucketIndex(starts, H, T0 + 3 * H)).toBe(-1);
  });
});
