// `npm run fuzz [-- --seconds N] [--target NAME] [--seed N] [--runs N]`: replays each target's corpus,
// then runs its properties for an equal share of the time budget (FUZZ_SECONDS, default 60 s).
// Every counterexample is saved in fuzz/corpus/<target>/ so that each later run replays it.
import { parseArgs } from 'node:util';
import { runTarget, type PropertyResult } from './lib.js';
import { TARGETS } from './targets/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    target: { type: 'string', multiple: true },
    seed: { type: 'string' },
    runs: { type: 'string' },
    'no-record': { type: 'boolean' },
  },
});

const seconds = Number(values.seconds ?? process.env.FUZZ_SECONDS ?? 60);
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number (got ${values.seconds})`);
const targets = values.target ? TARGETS.filter((t) => values.target!.includes(t.name)) : TARGETS;
if (targets.length === 0) throw new Error(`no such target; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
const properties = targets.reduce((n, t) => n + t.properties.length, 0);
const options = {
  msPerProperty: (seconds * 1000) / properties,
  maxRuns: Number(values.runs ?? 1e9),
  seed: values.seed === undefined ? undefined : Number(values.seed),
  record: values['no-record'] !== true,
};

console.log(
  `fuzzing ${targets.length} targets, ${properties} properties, ${seconds} s (${Math.round(options.msPerProperty)} ms each)`,
);
const results: PropertyResult[] = [];
for (const target of targets) {
  for (const r of await runTarget(target, options)) {
    results.push(r);
    const verdict = r.failure === null ? 'ok' : 'FAILED';
    console.log(
      `${r.target.padEnd(16)} ${r.property.padEnd(64)} ${String(r.runs).padStart(10)} runs ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${verdict}`,
    );
  }
}
const failed = results.filter((r) => r.failure !== null);
for (const r of failed) {
  console.error(`\n${r.target} / ${r.property}:\n  ${r.failure}`);
  if (r.saved !== null) console.error(`  saved to ${r.saved}: commit it so that every run replays it`);
}
const total = results.reduce((n, r) => n + r.runs, 0);
console.log(`\n${total} inputs, ${failed.length} failing properties`);
process.exitCode = failed.length > 0 ? 1 : 0;
