// The time axis of a chart: every bucket of the selected range, empty ones included. The stats API
// answers only the buckets that hold records, and a chart drawn from those alone stretches its axis
// over whatever span they happen to cover.

/** Bucket starts (ms) from the one holding `from` to the one holding `to`, aligned as the store aligns them (epoch multiples of step). */
export function bucketStarts(from: number, to: number, step: number): number[] {
  const first = Math.floor(from / step) * step;
  const out: number[] = [];
  for (let t = first; t <= to; t += step) out.push(t);
  return out;
}

/**
 * One value per bucket of the range for each name: `count(bucket, name)` where the API sent the bucket,
 * 0 where it did not. Buckets outside the range are left out.
 */
export function fillBuckets<B extends { start: string }>(
  buckets: readonly B[],
  starts: readonly number[],
  names: readonly string[],
  count: (bucket: B, name: string) => number,
): Map<string, number[]> {
  const at = new Map<number, B>();
  for (const b of buckets) {
    const t = Date.parse(b.start);
    if (!Number.isNaN(t)) at.set(t, b);
  }
  const out = new Map<string, number[]>();
  for (const name of names)
    out.set(
      name,
      starts.map((t) => {
        const b = at.get(t);
        return b === undefined ? 0 : count(b, name);
      }),
    );
  return out;
}

/** The index of the bucket holding time t, or -1 outside the range. */
export function bucketIndex(starts: readonly number[], step: number, t: number): number {
  const first = starts[0];
  if (first === undefined || Number.isNaN(t) || t < first) return -1;
  const i = Math.floor((t - first) / step);
  return i < starts.length ? i : -1;
}
