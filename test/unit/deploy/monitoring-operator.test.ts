// deploy/monitoring for prometheus-operator: the PrometheusRule is generated from the rule files
// promtool checks (one source), and the ServiceMonitor scrapes the Service the manifests create.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { GENERATED, RULE_FILES, prometheusRule } from '../../../scripts/gen-prometheus-rule.js';
import { findKustomizeKubectl, findTool } from '../../helpers/tools.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const MONITORING = join(ROOT, 'deploy', 'monitoring');
const read = (path: string): any => parseYaml(readFileSync(path, 'utf8'));

const rule = read(GENERATED);
const monitor = read(join(MONITORING, 'servicemonitor.yaml'));
const service = read(join(ROOT, 'deploy', 'kubernetes', 'base', 'service.yaml'));

describe('deploy/monitoring PrometheusRule and ServiceMonitor', () => {
  it('is generated from the rule files as they are now (npx tsx scripts/gen-prometheus-rule.ts)', () => {
    expect(readFileSync(GENERATED, 'utf8')).toBe(prometheusRule());
  });

  it('carries exactly the groups of the rule files, nothing added or lost', () => {
    const groups = RULE_FILES.flatMap((f) => read(join(MONITORING, f)).groups);
    expect(rule.kind).toBe('PrometheusRule');
    expect(rule.spec.groups).toEqual(groups);
    expect(rule.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules).length).toBeGreaterThan(5);
  });

  it('scrapes the Service the manifests create, on its admin port at /metrics', () => {
    expect(monitor.kind).toBe('ServiceMonitor');
    expect(monitor.spec.selector.matchLabels).toEqual(service.metadata.labels);
    expect(monitor.spec.namespaceSelector.matchNames).toEqual([service.metadata.namespace]);
    const ports = (service.spec.ports as { name: string }[]).map((p) => p.name);
    expect(monitor.spec.endpoints.map((e: { port: string }) => e.port)).toEqual(['admin']);
    expect(ports).toContain('admin');
    expect(monitor.spec.endpoints[0].path).toBe('/metrics');
  });

  it('lists both in its kustomization', () => {
    expect(read(join(MONITORING, 'kustomization.yaml')).resources).toEqual([
      'servicemonitor.yaml',
      'prometheusrule.yaml',
    ]);
  });
});

const kubectl = findKustomizeKubectl();
describe.skipIf(kubectl === undefined)(
  `kubectl kustomize deploy/monitoring${kubectl === undefined ? ' (skipped: no kubectl 1.21+ with kustomize v4+)' : ''}`,
  () => {
    it('renders the ServiceMonitor and the PrometheusRule', () => {
      const r = spawnSync(kubectl as string, ['kustomize', MONITORING], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as { kind: string }).kind);
      expect(kinds.sort()).toEqual(['PrometheusRule', 'ServiceMonitor']);
    });
  },
);

const promtool = findTool('promtool');
describe.skipIf(promtool === undefined)(
  `promtool on the PrometheusRule's groups${promtool === undefined ? ' (skipped: apt-get install prometheus)' : ''}`,
  () => {
    it('passes promtool check rules', () => {
      const dir = mkdtempSync(join(tmpdir(), 'acr-egress-promrule-'));
      try {
        const file = join(dir, 'rules.yml');
        writeFileSync(file, stringify({ groups: rule.spec.groups }));
        const r = spawnSync(promtool as string, ['check', 'rules', file], { encoding: 'utf8' });
        expect(r.status, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toMatch(/SUCCESS/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
