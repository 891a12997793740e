// The shipped monitoring checked by Prometheus's own tool: the rule files parse and their unit tests
// pass (`promtool check rules`, `promtool test rules`), and a real /metrics scrape from a gateway that
// carried a tunnel passes `promtool check metrics`.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboardRig, type DashboardRig } from '../helpers/dashboard.js';

const run = promisify(execFile);
const DIR = fileURLToPath(new URL('../../deploy/monitoring/', import.meta.url));
const promtool = (process.env.PATH ?? '')
  .split(delimiter)
  .map((d) => join(d, 'promtool'))
  .find((p) => existsSync(p));

/**
 * prom-client's default process metrics name three gauges *_total, which promtool's linter flags; they
 * are the library's names, kept as its users (and dashboards) know them. Nothing else may be flagged.
 */
const PROM_CLIENT_LINT = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

function checkMetrics(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool as string, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(text);
  });
}

describe.skipIf(promtool === undefined)(
  `deploy/monitoring with promtool${promtool === undefined ? ' (skipped: promtool is not installed)' : ''}`,
  () => {
    let rig: DashboardRig;
    beforeAll(async () => {
      rig = await startDashboardRig();
    });
    afterAll(async () => {
      await rig?.stop();
    });

    it('accepts the alert and recording rules', async () => {
      const { stdout } = await run(promtool as string, ['check', 'rules', 'recording-rules.yml', 'alert-rules.yml'], {
        cwd: DIR,
      });
      expect(stdout).toMatch(/recording-rules\.yml\s+SUCCESS/);
      expect(stdout).toMatch(/alert-rules\.yml\s+SUCCESS/);
    });

    it('fires each alert on the series it is written for (promtool test rules)', async () => {
      const { stdout } = await run(
        promtool as string,
        ['test', 'rules', 'alert-rules.test.yml', 'alert-rules-days.test.yml'],
        { cwd: DIR },
      );
      expect(stdout).toContain('SUCCESS');
    });

    it('finds nothing wrong with a real scrape from a gateway that carried a tunnel', async () => {
      const rec = await rig.allowedTunnel();
      expect(rec.decision).toBe('allowed');
      await rig.blockedConnect('evil.example.net');
      const res = await fetch(`${rig.base}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(
        /^acr_egress_decisions_total\{decision="allowed",reason="none",rule="registry:myregistry:login"\} 1$/m,
      );
      expect(text).toMatch(/^acr_egress_tunnel_bytes_total\{direction="down"\} [1-9]\d*$/m);

      const full = await checkMetrics(text);
      const problems = full.output.split('\n').filter((l) => l.trim() !== '');
      expect(problems.filter((l) => !PROM_CLIENT_LINT.some((name) => l.startsWith(`${name} `)))).toEqual([]);
      // promtool exits 3 for lint findings only (1 would be a parse error).
      expect([0, 3]).toContain(full.code);

      // The gateway's own families, on their own, pass without a single finding.
      const own = text
        .split('\n')
        .filter((l) => /^(# (HELP|TYPE) )?acr_egress_/.test(l))
        .join('\n');
      expect(await checkMetrics(`${own}\n`)).toEqual({ code: 0, output: '' });
    });
  },
);
