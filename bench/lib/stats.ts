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
