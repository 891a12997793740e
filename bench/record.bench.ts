// The record of one allowed tunnel, part by part: building it, the audit log line (pino), the store's
// indexes, the metrics sink and the tunnel events, each timed on its own, then Recorder.record whole.
// Run: node --expose-gc --import tsx bench/record.bench.ts [--json] [--iterations N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAuditLog } from '../src/audit/audit-log.js';
import { makeRecord, Recorder, type RecordInput } from '../src/audit/recorder.js';
import { DecisionStore } from '../src/store/ring.js';
import { createMetrics } from '../src/metrics/metrics.js';
import type { Decision } from '../src/policy/decide.js';

const { values } = parseArgs({
  options: { json: { type: 'boolean', default: false }, iterations: { type: 'string', default: '100000' } },
});
const iterations = Number(values.iterations);

/**
 * CPU ns per call (user + system of this process, so a busy machine does not inflate it) over n calls
 * after a warm-up; the GC the calls cause counts, as it is part of their cost.
 */
function nsPer(n: number, fn: (i: number) => unknown): number {
  let sink = 0;
  for (let i = 0; i < Math.min(n, 20_000); i++) sink += fn(i) ? 1 : 0;
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) sink += fn(i) ? 1 : 0;
  const used = process.cpuUsage(start);
  const ns = ((used.user + used.system) * 1000) / n;
  if (sink < 0) console.log(sink);
  return ns;
}

const allowed: Decision = {
  allowed: true,
  reason: null,
  rule: 'registry:myregistry',
  tag: 'AzureContainerRegistry.EastUS',
} as Decision;
const input = (i: number): RecordInput => ({
  mode: 'connect',
  client: `10.0.${(i >> 8) & 255}.${i & 255}`,
  host: 'myregistry.azurecr.io',
  port: 443,
  sni: 'myregistry.azurecr.io',
  ip: '20.62.128.1',
  decision: allowed,
  startedAt: Date.now() - 40,
  bytesUp: 1200,
  bytesDown: 5400,
});

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-record-bench-'));
const log = createAuditLog(join(dir, 'audit.log'));
const store = new DecisionStore(50_000);
const metrics = createMetrics();
const recorder = new Recorder(log, store);
recorder.addSink(metrics.recordSink);
const rec = makeRecord(input(1));
const events = metrics.tunnelListener;

const rows: Array<{ what: string; value: number; unit: 'ns' }> = [];
const timed: Array<[string, (i: number) => unknown]> = [
  ['makeRecord (id, ISO time, fields)', (i) => makeRecord(input(i))],
  ['JSON.stringify of the record (for comparison)', () => JSON.stringify(rec)],
  ['audit log write (JSON line to the batched destination)', () => log.write(rec)],
  ['store.add (ring + indexes)', (i) => store.add(makeRecord(input(i)))],
  ['metrics recordSink (decisions counter, duration histogram)', () => metrics.recordSink(rec)],
  [
    'tunnel events (opened, decided, helloWaited, closed)',
    () => {
      events.opened();
      events.decided?.(0.0004);
      events.helloWaited?.(0.002);
      events.closed(1200, 5400);
    },
  ],
  ['Recorder.record, whole (all of the above once)', (i) => recorder.record(input(i))],
];
for (const [what, fn] of timed) rows.push({ what, value: nsPer(iterations, fn), unit: 'ns' });
await recorder.flush();
await log.close();
rmSync(dir, { recursive: true, force: true });

if (values.json) console.log(JSON.stringify({ node: process.version, iterations, rows }));
else {
  console.log(`Node ${process.version}, ${iterations.toLocaleString('en')} iterations per row\n`);
  console.log('| part of the record of one allowed tunnel | CPU ns |\n|---|---:|');
  for (const r of rows) console.log(`| ${r.what} | ${r.value.toFixed(0)} |`);
}
