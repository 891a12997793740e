// Scenario 5, policy micro-benchmarks: runs bench/policy.bench.ts, bench/service-tags.bench.ts and
// (when present) bench/decision-store.bench.ts in fresh processes and gathers their tables.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { remainingMs, type BenchContext } from '../lib/context.js';
import { table, type ScenarioResult } from '../lib/result.js';
import { ROOT, TSX_IMPORT } from '../lib/targets.js';

export interface PolicyOptions {
  iterations: number;
  /** Smoke runs: skip the other engineers' benches, which take their own (long) time. */
  quick: boolean;
}

interface PolicyRow {
  what: string;
  value: number;
  unit: string;
}

function runScript(ctx: BenchContext, script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', TSX_IMPORT, join(ROOT, 'bench', script), ...args],
      { cwd: ROOT, timeout: Math.max(10_000, Math.min(300_000, remainingMs(ctx))), maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${script}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    );
  });
}

/** The markdown table of a script's output (its lines starting with `|`), or the error. */
async function tableOf(ctx: BenchContext, script: string, args: string[] = []): Promise<string> {
  if (!existsSync(join(ROOT, 'bench', script))) return `(bench/${script} is not there yet)`;
  try {
    const out = await runScript(ctx, script, args);
    // The script's header line and its tables, each table kept apart by a blank line.
    const kept: string[] = [];
    for (const line of out.split('\n')) {
      if (line.startsWith('|') || /^Node v/.test(line)) kept.push(line);
      else if (kept.length > 0 && kept[kept.length - 1] !== '') kept.push('');
      if (/^Node v/.test(line)) kept.push('');
    }
    return kept.join('\n').trim();
  } catch (err) {
    return `(failed: ${(err as Error).message.slice(0, 300)})`;
  }
}

export async function runPolicy(ctx: BenchContext, o: PolicyOptions): Promise<ScenarioResult> {
  const out = await runScript(ctx, 'policy.bench.ts', ['--json', '--iterations', String(o.iterations)]);
  const parsed = JSON.parse(out.trim().split('\n').pop() as string) as { node: string; rows: PolicyRow[] };
  const digits = (u: string): number => (u === 'ns' ? 0 : 1);
  const decision = parsed.rows.find((r) => r.what.startsWith('whole decision, login'));
  const skipped = '(not run with --quick)';
  const tags = o.quick ? skipped : await tableOf(ctx, 'service-tags.bench.ts');
  const store = o.quick ? skipped : await tableOf(ctx, 'decision-store.bench.ts');
  const body = [
    `The full public service-tag file (\`ServiceTags_Public_20251106.json\` from test/fixtures/service-tags), a config with one registry in two regions, data endpoints, blob storage and MCR; ${o.iterations.toLocaleString('en')} iterations per timed row after a warm-up (Node ${parsed.node}). Squid's ACL evaluation is not comparable and is not timed.`,
    '',
    table(
      ['measure (bench/policy.bench.ts)', 'value'],
      parsed.rows.map((r) => [r.what, `${r.value.toFixed(digits(r.unit))} ${r.unit}`]),
    ),
    '',
    '**Service tags** (bench/service-tags.bench.ts)',
    '',
    tags,
    '',
    '**Decision store** (bench/decision-store.bench.ts)',
    '',
    store,
  ].join('\n');
  return {
    id: 5,
    title: 'Policy micro-benchmarks',
    headlines: [
      {
        metric: 'whole decision (host, port, ip in tag ranges, SNI), ns',
        higherIsBetter: false,
        values: { 'acr-egress': decision?.value ?? Number.NaN },
        digits: 0,
        target: null,
        met: null,
      },
    ],
    body,
    raw: parsed,
  };
}
