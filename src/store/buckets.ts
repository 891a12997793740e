// Per-bucket counts for charts (/api/v1/stats?bucket=1h): by decision, reason, host, client, rule and
// instance, each dimension cut to its `top` values per bucket so a busy day stays a small answer.
import type { StatsBucket, StoredRecord } from './types.js';

/** A GROUPING SETS row: the bucket start (epoch seconds), one dimension set, its count. */
export interface BucketRow {
  b: number;
  decision?: string | null;
  reason?: string | null;
  host?: string | null;
  client?: string | null;
  rule?: string | null;
  instance?: string | null;
  n: number;
}

/** A row as the SQL back ends select it: the bucket start, which dimension, its value, its count. */
export interface DimRow {
  b: number;
  dim: string;
  value: string;
  n: number;
}

/** DimRows as BucketRows: the value under its dimension's name; the count a number (a driver may send a bigint as text). */
export const toBucketRows = (rows: readonly DimRow[]): BucketRow[] =>
  rows.map((r) => ({ b: r.b, [r.dim]: r.value, n: Number(r.n) }));

type Dim = 'reasons' | 'hosts' | 'clients' | 'rules' | 'instances';
const DIMS: [keyof BucketRow, Dim][] = [
  ['reason', 'reasons'],
  ['host', 'hosts'],
  ['client', 'clients'],
  ['rule', 'rules'],
  ['instance', 'instances'],
];

function emptyBucket(startMs: number): StatsBucket {
  return {
    start: new Date(startMs).toISOString(),
    records: 0,
    allowed: 0,
    blocked: 0,
    reasons: {},
    hosts: {},
    clients: {},
    rules: {},
    instances: {},
  };
}

function keepTop(counts: Record<string, number>, top: number): Record<string, number> {
  const entries = Object.entries(counts);
  if (entries.length <= top) return counts;
  entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return Object.fromEntries(entries.slice(0, top));
}

/** Buckets oldest first from GROUPING SETS rows (a row is the decision set when decision is set). */
export function tallyBuckets(rows: readonly BucketRow[], top: number): StatsBucket[] {
  const byStart = new Map<number, StatsBucket>();
  for (const r of rows) {
    const ms = Number(r.b) * 1000;
    let b = byStart.get(ms);
    if (b === undefined) byStart.set(ms, (b = emptyBucket(ms)));
    // A GROUPING SETS row has exactly one dimension non-null, except rows for NULL values, skipped.
    if (r.decision === 'allowed' || r.decision === 'blocked') {
      b[r.decision] += r.n;
      b.records += r.n;
      continue;
    }
    for (const [col, dim] of DIMS) {
      const v = r[col];
      if (typeof v === 'string') b[dim][v] = (b[dim][v] ?? 0) + r.n;
    }
  }
  return finish(byStart, top);
}

function finish(byStart: Map<number, StatsBucket>, top: number): StatsBucket[] {
  const out = [...byStart.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);
  for (const b of out) for (const [, dim] of DIMS) b[dim] = keepTop(b[dim], top);
  return out;
}

/** The same buckets from records in memory that already passed the filter. */
export function bucketRecords(records: Iterable<StoredRecord>, bucketMs: number, top: number): StatsBucket[] {
  const byStart = new Map<number, StatsBucket>();
  for (const rec of records) {
    const t = Date.parse(rec.time);
    if (Number.isNaN(t)) continue; // an imported line with a bad time: in no bucket
    const ms = Math.floor(t / bucketMs) * bucketMs;
    let b = byStart.get(ms);
    if (b === undefined) byStart.set(ms, (b = emptyBucket(ms)));
    b.records++;
    if (rec.decision === 'allowed' || rec.decision === 'blocked') b[rec.decision]++;
    const values: Record<Dim, string | null | undefined> = {
      reasons: rec.reason,
      hosts: rec.host,
      clients: rec.client,
      rules: rec.rule,
      instances: rec.instance,
    };
    for (const [, dim] of DIMS) {
      const v = values[dim];
      if (typeof v === 'string') b[dim][v] = (b[dim][v] ?? 0) + 1;
    }
  }
  return finish(byStart, top);
}
