// docker-compose.yml through a real compose implementation: Debian's docker-compose runs `config`
// (parse, validate, interpolate every service) without a Docker engine. The file must pass with an
// empty environment, the way a new user first runs it: no POSTGRES_PASSWORD, no ACR_REGISTRY.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { findTool } from '../helpers/tools.js';

const ROOT = join(import.meta.dirname, '..', '..');
const compose = findTool('docker-compose');

interface Rendered {
  services: Record<string, { environment?: Record<string, string | null> }>;
}

function config(env: Record<string, string>, ...extra: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(compose as string, ['-f', join(ROOT, 'docker-compose.yml'), ...extra, 'config'], {
    cwd: ROOT,
    // Only what compose needs to run: nothing from this shell may stand in for a value the file lacks.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(compose === undefined)(
  `docker-compose config${compose === undefined ? ' (skipped: apt-get install docker-compose)' : ''}`,
  () => {
    it('passes with no environment at all, POSTGRES_PASSWORD included', () => {
      const r = config({});
      expect(r.err).not.toMatch(/ERROR|Missing mandatory/);
      expect(r.code).toBe(0);
      const rendered = parseYaml(r.out) as Rendered;
      // 1.29 lists profile services too; `up` starts them only with --profile.
      expect(Object.keys(rendered.services)).toEqual(expect.arrayContaining(['client', 'gateway']));
      // No registry by default: the gateway allows MCR only and its start-up log says so.
      expect(rendered.services.gateway?.environment?.ACR_REGISTRY ?? '').toBe('');
    });

    it('passes with the postgres profile on, and carries POSTGRES_PASSWORD into both services', () => {
      const r = config({ POSTGRES_PASSWORD: 'pw-from-env', ACR_EGRESS_STORE: 'postgres' }, '--profile', 'postgres');
      expect(r.code).toBe(0);
      const rendered = parseYaml(r.out) as Rendered;
      expect(rendered.services.postgres?.environment?.POSTGRES_PASSWORD).toBe('pw-from-env');
      expect(rendered.services.gateway?.environment?.ACR_EGRESS_DATABASE_URL).toBe(
        'postgres://acr_egress:pw-from-env@postgres:5432/acr_egress',
      );
      expect(rendered.services.gateway?.environment?.ACR_EGRESS_STORE).toBe('postgres');
    });

    it('takes the registry from ACR_REGISTRY', () => {
      const r = config({ ACR_REGISTRY: 'contosoprod' });
      expect(r.code).toBe(0);
      expect((parseYaml(r.out) as Rendered).services.gateway?.environment?.ACR_REGISTRY).toBe('contosoprod');
    });
  },
);
