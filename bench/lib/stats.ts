// Small statistics for noisy machines: medians, percentiles, ratios, and the round order that
// alternates who goes first so drift (thermal, neighbours) spreads over every contender.

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** a / b, NaN when either side is missing. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}

/**
 * The order of round r: even rounds forwards, odd rounds backwards, each pair shifted by one more,
 * so over as many rounds as there are contenders each goes first once (A B / B A when there are two).
 */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  const n = items.length;
  const base = round % 2 === 1 ? [...items].reverse() : [...items];
  const shift = Math.floor(round / 2) % Math.max(1, n);
  return base.map((_, i) => base[(i + shift) % n] as T);
}

export function fmt(n: number | undefined, digits = 2): string {
  if (n === undefined || !Number.isFinite(n)) return 'n/a';
  return n.toFixed(digits);
}

export function fmtRatio(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a';
}

export interface Verdict {
  met: boolean | null;
  by: string;
}

/**
 * `value` against the goal `limit` (at least, or at most): met or missed, and by how much, as the
 * report prints it. Both sides in the same unit; `show` formats them.
 */
export function verdict(
  value: number,
  limit: number,
  atLeast: boolean,
  show: (n: number) => string,
  /** Give the margin as this formatted difference instead of a percentage (for figures that can be near 0). */
  showDiff?: (n: number) => string,
): Verdict {
  if (!Number.isFinite(value) || !Number.isFinite(limit)) return { met: null, by: 'not measured' };
  const met = atLeast ? value >= limit : value <= limit;
  if (showDiff !== undefined) {
    const diff = showDiff(Math.abs(value - limit));
    return {
      met,
      by: `${show(value)} against ${atLeast ? '≥' : '≤'} ${show(limit)}: ${met ? `met with ${diff} to spare` : `missed by ${diff}`}`,
    };
  }
  const pct = limit === 0 ? Number.NaN : Math.abs(value / limit - 1) * 100;
  const margin = Number.isFinite(pct)
    ? `${met ? 'met with' : 'missed by'} ${pct.toFixed(pct < 10 ? 1 : 0)} % ${met ? 'to spare' : ''}`.trim()
    : met
      ? 'met'
      : 'missed';
  return { met, by: `${show(value)} against ${atLeast ? '≥' : '≤'} ${show(limit)}: ${margin}` };
}

export const showRatio = (n: number): string => `${n.toFixed(2)}×`;
