// The shape every scenario hands back: a headline metric per contender (for the summary table), the
// scenario's own markdown, and its raw samples (kept in the JSON next to the report).
import type { TargetName } from './targets.js';

export interface Headline {
  /** e.g. "download MB/s (median)". */
  readonly metric: string;
  readonly higherIsBetter: boolean;
  readonly values: Partial<Record<TargetName, number>>;
  /** Digits to print. */
  readonly digits: number;
  /** The target, in words, and whether it was met (null: not judged). */
  readonly target: string | null;
  readonly met: boolean | null;
  /** The measured figure against the goal and the margin, e.g. "0.89× against ≥ 1.15×: missed by 23 %". */
  readonly by?: string;
}

export interface ScenarioResult {
  readonly id: number;
  readonly title: string;
  readonly headlines: readonly Headline[];
  readonly body: string;
  readonly raw: unknown;
  /** Set when the scenario could not run (missing tool, deadline, failure). */
  readonly skipped?: string;
}

export function skippedResult(id: number, title: string, why: string): ScenarioResult {
  return { id, title, headlines: [], body: `Not run: ${why}.`, raw: null, skipped: why };
}

/** A markdown table from a header row and body rows. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
