// Times the recent-decisions store with 100k records: filtered admin queries through the posting
// lists against a plain newest-first scan with the same predicate (what the store did before it had
// indexes), the cost of indexing on add, stats, and rebuilding from a 100k-line audit log.
// Run: npx tsx bench/decision-store.bench.ts [records]   Prints a markdown table; asserts nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monotonicFactory } from 'ulid';
import { computeStats } from '../src/store/memory-stats.js';
import { LogFilter, queryLogs, type LogFilterParams } from '../src/store/query.js';
import type { DecisionRecord } from '../src/audit/record.js';
import { DecisionStore } from '../src/store/ring.js';
import { rebuildFromLog } from '../src/audit/tail.js';
import type { Reason } from '../src/policy/reasons.js';
import { fmt, fmtRatio, median, percentile } from './lib/stats.js';

const N = Number(process.argv[2] ?? 100_000);
const NOW = Date.now();
const SPAN_MS = 2 * 3_600_000; // the records cover the last two hours

/** A deterministic PRNG so every run measures the same store. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function makeRecords(n: number): DecisionRecord[] {
  const rnd = lcg(42);
  const nextId = monotonicFactory(() => rnd());
  const blobs = Array.from({ length: 400 }, (_, i) => `acct${i}.blob.core.windows.net`);
  const reasons: Reason[] = [
    'host_not_allowed',
    'host_not_allowed',
    'host_not_allowed',
    'sni_mismatch',
    'ip_not_in_service_tag',
    'port_not_allowed',
  ];
  const out: DecisionRecord[] = [];
  for (let i = 0; i < n; i++) {
    const end = NOW - SPAN_MS + Math.floor((i / n) * SPAN_MS);
    const duration = Math.floor(rnd() * 5000);
    const r = rnd();
    const blocked = r < 0.3;
    const host = blocked
      ? r < 0.25
        ? `bad${Math.floor(rnd() * 2000)}.example.org`
        : 'myregistry.azurecr.io'
      : r < 0.6
        ? 'myregistry.azurecr.io'
        : r < 0.7
          ? 'mcr.microsoft.com'
          : (blobs[Math.floor(rnd() * blobs.length)] as string);
    const reason = blocked ? (r < 0.25 ? 'host_not_allowed' : (reasons[1 + Math.floor(rnd() * 5)] as Reason)) : null;
    out.push({
      time: new Date(end - duration).toISOString(),
      id: nextId(end),
      mode: 'connect',
      client: `10.${Math.floor(rnd() * 4)}.${Math.floor(rnd() * 50)}.${1 + Math.floor(rnd() * 200)}`,
      host,
      port: 443,
      sni: host,
      ip: '20.62.128.1',
      decision: blocked ? 'blocked' : 'allowed',
      reason,
      rule:
        host === 'myregistry.azurecr.io'
          ? 'registry:myregistry:login'
          : host === 'mcr.microsoft.com'
            ? 'mcr:login'
            : host.endsWith('.blob.core.windows.net')
              ? 'registry:myregistry:blob'
              : null,
      tag: null,
      bytesUp: blocked ? null : Math.floor(rnd() * 10_000),
      bytesDown: blocked ? null : Math.floor(rnd() * 50_000_000),
      durationMs: duration,
    });
  }
  return out;
}

/** The peer: walk every record newest first through the same predicate, as an unindexed store would. */
function scan(store: DecisionStore, filter: LogFilter, limit: number): DecisionRecord[] {
  const out: DecisionRecord[] = [];
  for (const rec of store.newestFirst()) {
    if (filter.matches(rec, Date.parse(rec.time))) out.push(rec);
    if (out.length >= limit) break;
  }
  return out;
}

function time(runs: number, fn: () => unknown): { median: number; p99: number } {
  for (let i = 0; i < Math.min(20, runs); i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { median: median(samples), p99: percentile(samples, 99) };
}

const records = makeRecords(N);
const store = new DecisionStore(N);
const addMs = time(1, () => {
  for (const r of records) store.add(r);
}).median;
// Adding to a store that is full exercises eviction from every posting list.
const churn = makeRecords(N).map((r) => ({ ...r, id: `Z${r.id.slice(1)}` }));
const full = new DecisionStore(N);
for (const r of records) full.add(r);
const evictMs = time(1, () => {
  for (const r of churn) full.add(r);
}).median;

const cases: { name: string; params: LogFilterParams }[] = [
  { name: 'no filter (first page)', params: {} },
  { name: 'decision=blocked', params: { decision: 'blocked' } },
  { name: 'reason=port_not_allowed (~1%)', params: { reason: 'port_not_allowed' } },
  { name: 'host=bad7.example.org (rare)', params: { host: 'bad7.example.org' } },
  { name: 'host=*.blob.core.windows.net', params: { host: '*.blob.core.windows.net' } },
  { name: 'client=10.1.7.0/24', params: { client: '10.1.7.0/24' } },
  { name: 'decision=blocked&since=15m', params: { decision: 'blocked', since: '15m' } },
  { name: 'blocked&client=10.2.3.4&since=1h (few)', params: { decision: 'blocked', client: '10.2.3.4', since: '1h' } },
  {
    name: 'reason=sni_mismatch&host=mcr.microsoft.com (none)',
    params: { reason: 'sni_mismatch', host: 'mcr.microsoft.com' },
  },
  { name: 'until=100m (old records only)', params: { until: '100m' } },
];

const rows: string[] = [];
rows.push(`## Decision store\n`);
rows.push(
  `${N.toLocaleString('en-US')} records (the store full), limit 100, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
);
rows.push('Indexed: the posting-list plan; scan: every record newest first through the same predicate (no indexes).\n');
rows.push('| query | matches | indexed median ms | indexed p99 ms | scan median ms | speed-up |');
rows.push('|---|---:|---:|---:|---:|---:|');
for (const c of cases) {
  const filter = LogFilter.parse(c.params) as LogFilter;
  const indexed = queryLogs(store, filter, { limit: 100 }).items;
  const scanned = scan(store, filter, 100);
  if (indexed.length !== scanned.length || indexed.some((r, i) => r !== scanned[i]))
    throw new Error(`${c.name}: the indexed answer differs from the scan`);
  const matches = queryLogs(store, filter, { limit: N }).items.length;
  const a = time(200, () => queryLogs(store, LogFilter.parse(c.params) as LogFilter, { limit: 100 }));
  const b = time(20, () => scan(store, LogFilter.parse(c.params) as LogFilter, 100));
  rows.push(
    `| ${c.name} | ${matches.toLocaleString('en-US')} | ${fmt(a.median, 3)} | ${fmt(a.p99, 3)} | ${fmt(b.median, 2)} | ${fmtRatio(b.median / a.median)} |`,
  );
}

const pages = time(20, () => {
  const f = LogFilter.parse({ decision: 'allowed' }) as LogFilter;
  let cursor: string | null = null;
  for (let i = 0; i < 50; i++) cursor = queryLogs(store, f, { limit: 1000, cursor }).nextCursor;
});
const stats1h = time(20, () => computeStats(store, LogFilter.parse({ since: '1h' }) as LogFilter, 10));
const statsAll = time(10, () => computeStats(store, LogFilter.all(), 10));

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-bench-'));
const logFile = join(dir, 'audit.log');
writeFileSync(logFile, records.map((r) => `${JSON.stringify({ kind: 'decision', ...r })}\n`).join(''));
const rebuild = time(3, () => rebuildFromLog(new DecisionStore(N), logFile, N));
const rebuildMs = await (async () => {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    await rebuildFromLog(new DecisionStore(N), logFile, N);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(samples);
})();
void rebuild;
rmSync(dir, { recursive: true, force: true });

rows.push('');
rows.push('| operation | median ms |');
rows.push('|---|---:|');
rows.push(
  `| add ${N.toLocaleString('en-US')} records (indexing 5 fields) | ${fmt(addMs, 1)} (${fmt((addMs * 1e6) / N, 0)} ns/record) |`,
);
rows.push(
  `| add ${N.toLocaleString('en-US')} more to the full store (evicting) | ${fmt(evictMs, 1)} (${fmt((evictMs * 1e6) / N, 0)} ns/record) |`,
);
rows.push(`| 50 pages of 1000 (decision=allowed) by cursor | ${fmt(pages.median, 2)} |`);
rows.push(`| stats over the last hour | ${fmt(stats1h.median, 2)} |`);
rows.push(`| stats over the whole store | ${fmt(statsAll.median, 2)} |`);
rows.push(`| rebuild the store from a ${N.toLocaleString('en-US')}-line audit log | ${fmt(rebuildMs, 0)} |`);
console.log(rows.join('\n'));
