// Times the durable store's back ends on the same records, each in a fresh process of its own so
// that one's heap does not hide another's: ingest rate in the writer's batches, CPU per record (the
// gateway's main thread, and the whole process including the embedded store's database thread),
// the usual admin queries over N records, per-bucket stats over a day, and the RSS the back end adds;
// the in-memory ring answers the same queries as the baseline.
// Run: npx tsx bench/store.bench.ts [records=1000000] [backends=memory,embedded,postgres]
// Prints a markdown table; asserts nothing. Not part of the smoke run (minutes for 1M records).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monotonicFactory } from 'ulid';
import { LogFilter, type LogFilterParams } from '../src/store/query.js';
import { DecisionStore } from '../src/store/ring.js';
import type { Reason } from '../src/policy/reasons.js';
import { openEmbeddedStore } from '../src/store/embedded.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { PostgresStore } from '../src/store/postgres.js';
import type { RecordStore, StoredRecord } from '../src/store/types.js';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import { fmt, median } from './lib/stats.js';

const N = Number(process.argv[2] ?? 1_000_000);
const BACKENDS = (process.argv[3] ?? 'memory,embedded,postgres').split(',');
const BATCH = 500; // audit.batchSize's default
const NOW = Date.now();
const SPAN_MS = 7 * 86_400_000; // a week of records
const MiB = 2 ** 20;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function makeRecords(n: number): StoredRecord[] {
  const rnd = lcg(42);
  const nextId = monotonicFactory(() => rnd());
  const blobs = Array.from({ length: 400 }, (_, i) => `acct${i}.blob.core.windows.net`);
  const reasons: Reason[] = ['host_not_allowed', 'sni_mismatch', 'ip_not_in_service_tag', 'port_not_allowed'];
  const out: StoredRecord[] = [];
  for (let i = 0; i < n; i++) {
    const end = NOW - SPAN_MS + Math.floor((i / n) * SPAN_MS);
    const r = rnd();
    const blocked = r < 0.3;
    const host = blocked
      ? `bad${Math.floor(rnd() * 2000)}.example.org`
      : r < 0.6
        ? 'myregistry.azurecr.io'
        : r < 0.7
          ? 'mcr.microsoft.com'
          : (blobs[Math.floor(rnd() * blobs.length)] as string);
    out.push({
      time: new Date(end - 50).toISOString(),
      id: nextId(end),
      mode: 'connect',
      client: `10.${Math.floor(rnd() * 4)}.${Math.floor(rnd() * 50)}.${1 + Math.floor(rnd() * 200)}`,
      host,
      port: 443,
      sni: host,
      ip: '20.62.128.1',
      decision: blocked ? 'blocked' : 'allowed',
      reason: blocked ? (reasons[Math.floor(rnd() * (r < 0.25 ? 1 : 4))] as Reason) : null,
      rule: blocked ? null : host.endsWith('.blob.core.windows.net') ? 'registry:myregistry:blob' : 'mcr:login',
      tag: null,
      bytesUp: blocked ? null : Math.floor(rnd() * 10_000),
      bytesDown: blocked ? null : Math.floor(rnd() * 50_000_000),
      durationMs: 50,
      instance: `gw-${i % 3}`,
    });
  }
  return out;
}

const QUERIES: [string, LogFilterParams][] = [
  ['newest 100', {}],
  ['blocked', { decision: 'blocked' }],
  ['reason sni_mismatch', { reason: 'sni_mismatch' }],
  ['host exact', { host: 'acct7.blob.core.windows.net' }],
  ['host *.example.org', { host: '*.example.org' }],
  ['client /24', { client: '10.1.7.0/24' }],
  ['instance', { instance: 'gw-2' }],
  ['blocked, last hour', { decision: 'blocked', since: '1h' }],
];

async function timeMs(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    t.push(performance.now() - s);
  }
  return median(t);
}

interface Row {
  backend: string;
  ingest: number;
  cpuUsPerRecord: number;
  mainCpuUsPerRecord: number;
  rssOpenMiB: number | null;
  rssAfterMiB: number | null;
  queries: Record<string, number>;
}

async function measure(name: string, open: () => Promise<RecordStore>, records: StoredRecord[]): Promise<Row> {
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const store = await open();
  const rssOpen = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < records.length; i += BATCH) await store.write(records.slice(i, i + BATCH));
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  await store.analyze?.(); // what the hourly sweep does
  global.gc?.();
  const rssAfter = process.memoryUsage().rss;
  const queries: Record<string, number> = {};
  for (const [label, params] of QUERIES) {
    const filter = LogFilter.parse(params, NOW) as LogFilter;
    queries[label] = await timeMs(5, () => store.logs(filter, { limit: 100 }));
  }
  const day = LogFilter.parse({ since: new Date(NOW - 86_400_000).toISOString() }, NOW) as LogFilter;
  queries['stats, one day'] = await timeMs(3, () => store.stats(day, 10, NOW));
  queries['1h buckets, one day'] = await timeMs(3, () => store.buckets(day, 3_600_000, 10));
  await store.close();
  return {
    backend: name,
    ingest: records.length / secs,
    cpuUsPerRecord: (cpu.user + cpu.system) / records.length,
    mainCpuUsPerRecord: (main.user + main.system) / records.length,
    rssOpenMiB: (rssOpen - rss0) / MiB,
    rssAfterMiB: (rssAfter - rss0) / MiB,
    queries,
  };
}

/** In a child: measures one back end and sends its row. */
async function child(b: string): Promise<Row> {
  const records = makeRecords(N);
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-store-bench-'));
  let pg: TestPostgres | null = null;
  try {
    if (b === 'memory') return await measure(b, async () => new MemoryStore(new DecisionStore(N)), records);
    if (b === 'embedded') return await measure(b, () => openEmbeddedStore(join(dir, 'embedded')), records);
    pg = await startPostgres();
    const url = await pg.createDatabase('bench');
    return await measure(
      b,
      async () => {
        const s = PostgresStore.create({ url, instance: 'bench' });
        await s.migrate();
        return s;
      },
      records,
    );
  } finally {
    await pg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.STORE_BENCH_CHILD !== undefined) {
  process.send?.(await child(process.env.STORE_BENCH_CHILD));
  process.exit(0);
}

const rows: Row[] = [];
for (const b of BACKENDS) {
  rows.push(
    await new Promise<Row>((resolve, reject) => {
      const c = fork(process.argv[1] as string, process.argv.slice(2), {
        env: { ...process.env, STORE_BENCH_CHILD: b },
        execArgv: [...process.execArgv, '--expose-gc'],
      });
      c.once('message', (row) => resolve(row as Row));
      c.once('exit', (code) => reject(new Error(`${b}: the child exited ${code} without a result`)));
    }),
  );
  process.stderr.write(`${b} done\n`);
}

const labels = Object.keys(rows[0]?.queries ?? {});
console.log(`${N.toLocaleString('en')} records over 7 days, Node ${process.version}; query times are medians (ms)\n`);
console.log(
  `| back end | ingest records/s | CPU µs/record, main thread | CPU µs/record, whole process | RSS at open MiB | RSS after ingest MiB | ${labels.join(' | ')} |`,
);
console.log(`|---|---|---|---|---|---|${labels.map(() => '---').join('|')}|`);
for (const r of rows) {
  console.log(
    `| ${r.backend} | ${fmt(r.ingest, 0)} | ${fmt(r.mainCpuUsPerRecord, 1)} | ${fmt(r.cpuUsPerRecord, 1)} | ${fmt(r.rssOpenMiB ?? 0, 0)} | ${fmt(r.rssAfterMiB ?? 0, 0)} | ${labels.map((l) => fmt(r.queries[l], 1)).join(' | ')} |`,
  );
}
