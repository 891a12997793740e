// Times parsing and indexing the real public service-tag file and the per-connection lookups.
// Run: npx tsx bench/service-tags.bench.ts [path/to/ServiceTags_Public.json]   (add --expose-gc via
// NODE_OPTIONS for a steadier heap figure). Prints a markdown table; asserts nothing.

import { existsSync, readFileSync } from 'node:fs';
import { buildServiceTagIndex } from '../src/service-tags/index.js';
import { parseServiceTags } from '../src/service-tags/parse.js';
import { serviceTagPath } from '../test/helpers/service-tag-fixtures.js';

// The real file the tests carry (test/fixtures/service-tags), decompressed to a temporary copy.
const DEFAULT_FILE = serviceTagPath('ServiceTags_Public_20251106.json');
const path = process.argv[2] ?? DEFAULT_FILE;
const ITERATIONS = 1_000_000;

if (!existsSync(path)) {
  console.error(`service-tag file not found: ${path}`);
  process.exit(1);
}

const gc = (globalThis as { gc?: () => void }).gc;
const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;

/** ns per call over n calls after a warm-up, so the JIT has compiled the path being measured. */
function nsPer(n: number, fn: () => unknown): number {
  let sink = 0;
  for (let i = 0; i < Math.min(n, 10_000); i++) sink += fn() ? 1 : 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += fn() ? 1 : 0;
  const ns = Number(process.hrtime.bigint() - start) / n;
  if (sink < 0) console.log(sink); // keeps the calls observable
  return ns;
}

const raw = readFileSync(path);
gc?.();
const before = process.memoryUsage();

// The first run is what a process start pays (cold JIT); later ones what a refresh pays.
let start = process.hrtime.bigint();
const file = parseServiceTags(raw);
const parseMs = ms(start);

start = process.hrtime.bigint();
const index = buildServiceTagIndex(file);
const indexMs = ms(start);
gc?.();
const after = process.memoryUsage();
const heapMb = (after.heapUsed - before.heapUsed) / 2 ** 20;
const buffersMb = (after.arrayBuffers - before.arrayBuffers) / 2 ** 20;

const warm = { parse: Infinity, index: Infinity };
for (let run = 0; run < 5; run++) {
  start = process.hrtime.bigint();
  const again = parseServiceTags(raw);
  warm.parse = Math.min(warm.parse, ms(start));
  start = process.hrtime.bigint();
  buildServiceTagIndex(again);
  warm.index = Math.min(warm.index, ms(start));
}

const acrEastUs = index.rangesOf('AzureContainerRegistry.EastUS')!;
const prefixes = index.value('AzureContainerRegistry.EastUS')!.properties.addressPrefixes;
const v4hit = prefixes.find((p) => !p.includes(':'))!.split('/')[0]!;
const v6hit = prefixes.find((p) => p.includes(':'))!.split('/')[0]!;
const azureCloud = index.rangesOf('AzureCloud')!;

const rows: Array<[string, string]> = [
  ['file', `${path.split('/').pop()} (${index.tagCount} tags, ${index.prefixCount} prefixes)`],
  [
    'parse (JSON.parse + shape and prefix check), first / best of 5 more',
    `${parseMs.toFixed(1)} / ${warm.parse.toFixed(1)} ms`,
  ],
  ['index build (range set per tag), first / best of 5 more', `${indexMs.toFixed(1)} / ${warm.index.toFixed(1)} ms`],
  [
    `heap used by file + index${gc ? '' : ' (no --expose-gc: rough)'}`,
    `${heapMb.toFixed(1)} MB (+ ${buffersMb.toFixed(1)} MB typed arrays)`,
  ],
  [
    `has() IPv4 hit, AzureContainerRegistry.EastUS (${acrEastUs.prefixCount} prefixes)`,
    `${nsPer(ITERATIONS, () => acrEastUs.has(v4hit)).toFixed(0)} ns`,
  ],
  [
    'has() IPv4 miss, AzureContainerRegistry.EastUS',
    `${nsPer(ITERATIONS, () => acrEastUs.has('192.0.2.1')).toFixed(0)} ns`,
  ],
  ['has() IPv6 hit, AzureContainerRegistry.EastUS', `${nsPer(ITERATIONS, () => acrEastUs.has(v6hit)).toFixed(0)} ns`],
  [
    'has() IPv6 miss, AzureContainerRegistry.EastUS',
    `${nsPer(ITERATIONS, () => acrEastUs.has('2001:db8::1')).toFixed(0)} ns`,
  ],
  [
    `has() IPv4 hit, AzureCloud (${azureCloud.prefixCount} prefixes)`,
    `${nsPer(ITERATIONS, () => azureCloud.has(v4hit)).toFixed(0)} ns`,
  ],
  ['has() IPv6 miss, AzureCloud', `${nsPer(ITERATIONS, () => azureCloud.has('2001:db8::1')).toFixed(0)} ns`],
  // Probes every tag, so 10k iterations already take a second or so.
  ['tagsContaining() IPv4 hit', `${(nsPer(10_000, () => index.tagsContaining(v4hit).length) / 1000).toFixed(1)} µs`],
  ['tagsContaining() IPv6 hit', `${(nsPer(10_000, () => index.tagsContaining(v6hit).length) / 1000).toFixed(1)} µs`],
  [
    'tagsContaining() IPv4 miss',
    `${(nsPer(10_000, () => index.tagsContaining('192.0.2.1').length) / 1000).toFixed(1)} µs`,
  ],
];

console.log(`Node ${process.version}, ${ITERATIONS.toLocaleString('en')} iterations per has() row\n`);
console.log('| measure | value |\n|---|---|');
for (const [what, value] of rows) console.log(`| ${what} | ${value} |`);
