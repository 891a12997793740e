// The length of a stats bucket (`5m`, `1h`, `1d`): one reading for the server, which counts into
// buckets, and the dashboard, which draws every bucket of a range. No imports, so the page can bundle it.

const BUCKET_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `5m`, `1h`, `1d` (the schema has checked the shape) in ms; at least one minute. */
export function bucketMs(bucket: string): number {
  const unit = BUCKET_UNITS[bucket.slice(-1)] as number;
  return Math.max(60_000, Number(bucket.slice(0, -1)) * unit);
}
