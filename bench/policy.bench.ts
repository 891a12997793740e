// Per-connection policy work with the full real service-tag file loaded: host match, range lookup,
// the whole decision (evaluate() with ip and SNI), and what load, index and compile cost once.
// Run: node --expose-gc --import tsx bench/policy.bench.ts [--json] [--iterations N] [tags.json]
// Prints a markdown table (or JSON rows with --json); asserts nothing but that the decisions are right.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildConfig } from '../src/config/load.js';
import { evaluate } from '../src/policy/decide.js';
import { compileRules } from '../src/policy/rules.js';
import { compilePolicy } from '../src/policy/snapshot.js';
import { loadServiceTagsFile } from '../src/service-tags/load-file.js';
import { serviceTagPath } from '../test/helpers/service-tag-fixtures.js';

interface PolicyRow {
  what: string;
  value: number;
  unit: 'ns' | 'µs' | 'ms' | 'MB';
}

// The real file the tests carry (test/fixtures/service-tags), decompressed to a temporary copy.
const DEFAULT_FILE = serviceTagPath('ServiceTags_Public_20251106.json');
const { values, positionals } = parseArgs({
  options: { json: { type: 'boolean', default: false }, iterations: { type: 'string', default: '200000' } },
  allowPositionals: true,
});
const path = positionals[0] ?? DEFAULT_FILE;
const iterations = Number(values.iterations);
if (!existsSync(path)) {
  console.error(`service-tag file not found: ${path}`);
  process.exit(1);
}

const gc = (globalThis as { gc?: () => void }).gc;
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** ns per call over n calls after a warm-up, so the JIT has compiled the path being measured. */
function nsPer(n: number, fn: () => unknown): number {
  let sink = 0;
  for (let i = 0; i < Math.min(n, 20_000); i++) sink += fn() ? 1 : 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += fn() ? 1 : 0;
  const ns = Number(process.hrtime.bigint() - start) / n;
  if (sink < 0) console.log(sink); // keeps the calls observable
  return ns;
}

const rows: PolicyRow[] = [];
gc?.();
const heapBefore = process.memoryUsage().heapUsed;
let t0 = now();
const { index } = await loadServiceTagsFile(path);
rows.push({
  what: `load + parse + index ${path.split('/').pop()} (${index.tagCount} tags, ${index.prefixCount} prefixes), cold`,
  value: now() - t0,
  unit: 'ms',
});
gc?.();
rows.push({
  what: `heap held by the loaded index${gc ? '' : ' (no --expose-gc: rough)'}`,
  value: (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20,
  unit: 'MB',
});

// A realistic config: one registry with a replica, data endpoints, blob storage, and MCR.
const loaded = buildConfig(
  {
    registries: [{ name: 'myregistry', regions: ['eastus', 'westeurope'], dataEndpoints: true, blobStorage: true }],
    mcr: true,
    allow: ['*.example.org'],
    serviceTags: { enforce: true, source: null, cacheFile: null },
    admin: { listen: null },
  },
  null,
);
t0 = now();
const policy = compilePolicy(loaded, index);
rows.push({ what: 'compile policy (rules + tag binding) against the full file', value: now() - t0, unit: 'ms' });

const firstV4 = (tag: string): string => {
  const prefix = index.value(tag)?.properties.addressPrefixes.find((p) => !p.includes(':'));
  if (prefix === undefined) throw new Error(`no IPv4 prefix in ${tag}`);
  return prefix.split('/')[0] as string;
};
const acrIp = firstV4('AzureContainerRegistry.EastUS');
const storageIp = firstV4('Storage.WestEurope');
const rules = compileRules(loaded);
const acrRanges = index.rangesOf('AzureContainerRegistry.EastUS');
const cloudRanges = index.rangesOf('AzureCloud');
if (!acrRanges || !cloudRanges) throw new Error('the tag file lacks AzureContainerRegistry.EastUS or AzureCloud');

const login = { client: '10.0.0.5', host: 'myregistry.azurecr.io', port: 443, sni: 'myregistry.azurecr.io', ip: acrIp };
const blob = {
  client: '10.0.0.5',
  host: 'account1.blob.core.windows.net',
  port: 443,
  sni: 'account1.blob.core.windows.net',
  ip: storageIp,
};
const wrongIp = { ...login, ip: '192.0.2.10' };
const checks: Array<[string, ReturnType<typeof evaluate>, boolean]> = [
  ['login', evaluate(policy, login), true],
  ['blob', evaluate(policy, blob), true],
  ['wrong ip', evaluate(policy, wrongIp), false],
];
for (const [name, result, allowed] of checks) {
  if (result.decision.allowed !== allowed)
    throw new Error(`policy bench: ${name} decision is ${JSON.stringify(result.decision)}`);
}

const timed: Array<[string, () => unknown]> = [
  ['host match, exact hit (myregistry.azurecr.io)', () => rules.match('myregistry.azurecr.io')],
  ['host match, wildcard hit (account1.blob.core.windows.net)', () => rules.match('account1.blob.core.windows.net')],
  ['host match, miss (evil.example.com)', () => rules.match('evil.example.com')],
  [
    `range lookup IPv4 hit, AzureContainerRegistry.EastUS (${acrRanges.prefixCount} prefixes)`,
    () => acrRanges.has(acrIp),
  ],
  [`range lookup IPv4 miss, AzureCloud (${cloudRanges.prefixCount} prefixes)`, () => cloudRanges.has('192.0.2.10')],
  ['whole decision, login server allowed (evaluate: host, port, ip, sni)', () => evaluate(policy, login)],
  ['whole decision, blob storage allowed', () => evaluate(policy, blob)],
  ['whole decision, blocked ip_not_in_service_tag', () => evaluate(policy, wrongIp)],
];
for (const [what, fn] of timed) rows.push({ what, value: nsPer(iterations, fn), unit: 'ns' });

// Cost that stays flat: the same decision with 1, 100 and 1,000 registries configured (each with a
// replica region and data endpoints), for the first registry and the last one in the file.
for (const count of [1, 100, 1000]) {
  const many = buildConfig(
    {
      registries: Array.from({ length: count }, (_, i) => ({
        name: i === 0 ? 'myregistry' : `registry${i}`,
        regions: ['eastus', 'westeurope'],
        dataEndpoints: true,
        blobStorage: true,
      })),
      mcr: true,
      serviceTags: { enforce: true, source: null, cacheFile: null },
      admin: { listen: null },
    },
    null,
  );
  t0 = now();
  const p = compilePolicy(many, index);
  const compileMs = now() - t0;
  const last = count === 1 ? 'myregistry' : `registry${count - 1}`;
  const req = { ...login, host: `${last}.azurecr.io`, sni: `${last}.azurecr.io` };
  if (!evaluate(p, req).decision.allowed || !evaluate(p, login).decision.allowed)
    throw new Error(`policy bench: ${count} registries: login not allowed`);
  const n = Math.max(1000, Math.round(iterations / 2));
  rows.push({ what: `${count} registries: compile policy`, value: compileMs, unit: 'ms' });
  rows.push({
    what: `${count} registries: whole decision, first registry's login server`,
    value: nsPer(n, () => evaluate(p, login)),
    unit: 'ns',
  });
  rows.push({
    what: `${count} registries: whole decision, last registry's login server`,
    value: nsPer(n, () => evaluate(p, req)),
    unit: 'ns',
  });
  rows.push({
    what: `${count} registries: whole decision, blocked host (evil.example.com)`,
    value: nsPer(n, () => evaluate(p, { ...login, host: 'evil.example.com', sni: 'evil.example.com' })),
    unit: 'ns',
  });
}

if (values.json) {
  console.log(JSON.stringify({ node: process.version, iterations, rows }));
} else {
  console.log(`Node ${process.version}, ${iterations.toLocaleString('en')} iterations per timed row\n`);
  console.log('| measure | value |\n|---|---|');
  for (const r of rows) console.log(`| ${r.what} | ${r.value.toFixed(r.unit === 'ns' ? 0 : 1)} ${r.unit} |`);
}
