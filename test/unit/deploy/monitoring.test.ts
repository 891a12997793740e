// deploy/monitoring stays in step with the gateway: every metric its alert rules, recording rules and
// Grafana dashboard use is one the registry exports (or a recorded one defined beside them), every
// alert says how bad and what to do, and the dashboard is well-formed for Grafana to load.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { registerStoreMetrics } from '../../../src/store/metrics.js';

const DIR = fileURLToPath(new URL('../../../deploy/monitoring/', import.meta.url));
const read = (name: string): string => readFileSync(join(DIR, name), 'utf8');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rulesOf = (file: string): Rule[] =>
  (parse(read(file)) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const recording = rulesOf('recording-rules.yml');
const alerts = rulesOf('alert-rules.yml');
const dashboard = JSON.parse(read('grafana-dashboard.json')) as {
  panels: {
    id: number;
    type: string;
    gridPos: { x: number; w: number };
    targets?: { expr: string; refId: string }[];
  }[];
  templating: { list: { name: string; type: string; definition?: string }[] };
};

/** Series names in a PromQL expression: identifiers that are not functions, keywords or label names. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals (label values, regexes)
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m as unknown as [string, string, string | undefined];
    if (call !== undefined) continue; // a function
    if (['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'e'].includes(name.toLowerCase())) continue;
    if (/^\d/.test(name)) continue;
    names.add(name);
  }
  return [...names];
}

// The gateway's registry as `serve` builds it: createMetrics plus the decision store's metrics.
const gatewayMetrics = createMetrics();
registerStoreMetrics(gatewayMetrics.registry, 'memory', () => null);
const exported = new Set((await gatewayMetrics.registry.getMetricsAsJSON()).map((m) => m.name));
const recorded = new Set(recording.map((r) => r.record as string));
/** Prometheus's own series, present for every scrape target. */
const BUILTIN = new Set(['up']);

function known(name: string): boolean {
  if (BUILTIN.has(name) || exported.has(name) || recorded.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && exported.has(base);
}

const dashboardExprs = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.templating.list.flatMap((v) =>
    v.definition === undefined ? [] : [v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1')],
  ),
];

describe('deploy/monitoring', () => {
  it('reads the metric names out of PromQL', () => {
    expect(
      metricNames(
        'sum by (job, le) (rate(a_bucket{x="y{z}"}[5m])) / on (job) b:rec > 0.5 and c offset 1h unless time() - d',
      ).sort(),
    ).toEqual(['a_bucket', 'b:rec', 'c', 'd']);
  });

  it.each([
    ['the alert rules', alerts.map((r) => r.expr)],
    ['the recording rules', recording.map((r) => r.expr)],
    ['the Grafana dashboard', dashboardExprs],
  ])('uses only metrics the gateway exports in %s', (_what, exprs) => {
    const names = exprs.flatMap(metricNames);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !known(n))).toEqual([]);
  });

  it('covers every acr_egress metric somewhere, so a new one gets a panel or a rule', () => {
    const used = new Set(
      [...alerts, ...recording]
        .map((r) => r.expr)
        .concat(dashboardExprs)
        .flatMap(metricNames)
        .map((n) => n.replace(/_(bucket|sum|count)$/, '')),
    );
    const mine = [...exported].filter((n) => n.startsWith('acr_egress_'));
    expect(mine.filter((n) => !used.has(n))).toEqual([]);
  });

  it('gives every alert a severity, a summary and a description', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'AcrEgressDown',
        'AcrEgressNotReady',
        'AcrEgressServiceTagsStale',
        'AcrEgressServiceTagsRefreshFailing',
        'AcrEgressBlockBurst',
        'AcrEgressUpstreamFailuresRising',
        'AcrEgressTooManyConnections',
      ]),
    );
    for (const a of alerts) {
      expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
    }
  });

  it('names recorded series level:metric:operations', () => {
    for (const r of recording) expect(r.record).toMatch(/^acr_egress:[a-z0-9_]+:[a-z0-9_]+$/);
  });

  it('has a dashboard Grafana can import: unique panel ids, a datasource variable, panels inside 24 columns', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((v) => v.type === 'datasource')).toBeDefined();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.targets?.length, `panel ${p.id}`).toBeGreaterThan(0);
      expect(new Set(p.targets?.map((t) => t.refId)).size).toBe(p.targets?.length);
    }
    const raw = read('grafana-dashboard.json');
    expect(raw).toContain('"uid": "${datasource}"');
  });
});
