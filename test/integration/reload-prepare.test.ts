// Reload is prepare, then commit: a new config refused by the last component to prepare (the store,
// which cannot change without a restart) leaves every component as it was, the service-tag source
// included; the same config without that change is taken by all of them.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAdminApp } from '../../src/admin/app.js';
import type { AdminApp } from '../../src/admin/app-types.js';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { createCa } from '../../src/tls/ca.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { serviceTagPath } from '../helpers/service-tag-fixtures.js';

describe('a reload refused by the last component', () => {
  let dir: string;
  let gw: TestGateway;
  let app: AdminApp;
  let first: Record<string, unknown>;
  let next: Record<string, unknown>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'acr-egress-reload-'));
    const ca = createCa('reload CA');
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem);
    first = testConfig({
      serviceTags: { enforce: true, source: serviceTagPath('ServiceTags_Public_20250721.json'), cacheFile: null },
    });
    // Every component has something to switch: tags source, rules, inspection, the audit log's mode.
    next = {
      ...first,
      registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, pullOnly: true }],
      inspect: { caCertFile: join(dir, 'ca.crt'), caKeyFile: join(dir, 'ca.key') },
      serviceTags: { enforce: true, source: serviceTagPath('ServiceTags_Public_20251106.json'), cacheFile: null },
      log: { level: 'silent', failClosed: true },
    };
    gw = await startGateway(first);
    app = createAdminApp(adminDepsFromGateway(gw.gateway), { anonymousWithoutToken: true });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await gw?.stop();
  });

  /** Everything a reload can switch, by identity where the component keeps one object. */
  function snapshot(): Record<string, unknown> {
    const g = gw.gateway;
    return {
      config: g.config,
      policy: g.policy,
      tags: g.tags,
      tagsConfig: g.serviceTags.config,
      tagsIndex: g.serviceTags.index,
      tagsSource: g.serviceTags.status().source,
      inspect: g.inspector.status(),
      resolver: g.resolver,
      failClosed: g.recorder.failClosed,
    };
  }

  function writeConfig(config: Record<string, unknown>): void {
    writeFileSync(gw.configFile, JSON.stringify({ ...config, log: { ...(config.log as object), file: gw.logFile } }));
  }

  it('POST /api/v1/reload with a new store is 400 and no component has switched', async () => {
    const before = snapshot();
    expect(before.tagsSource).toMatch(/20250721/);
    writeConfig({ ...next, audit: { store: 'embedded', dir: join(dir, 'store') } });
    const res = await app.inject({ method: 'POST', url: '/api/v1/reload' });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ problems: ['audit: audit.store: changing the store needs a restart'] });
    const after = snapshot();
    for (const [key, value] of Object.entries(before)) {
      if (typeof value === 'object' && value !== null && !('registries' in value)) expect(after[key], key).toBe(value);
      else expect(after[key], key).toEqual(value);
    }
  });

  it('the same config with the store unchanged is taken by every component', async () => {
    const before = snapshot();
    writeConfig(next);
    const res = await app.inject({ method: 'POST', url: '/api/v1/reload' });
    expect(res.statusCode, res.body).toBe(200);
    const after = snapshot();
    expect(after.tagsSource).toMatch(/20251106/);
    expect(after.tagsIndex).not.toBe(before.tagsIndex);
    expect(after.tags).toBe(after.tagsIndex);
    expect(after.policy).not.toBe(before.policy);
    expect(after.inspect).toMatchObject({ registries: ['myregistry'] });
    expect(after.failClosed).toBe(true);
    expect(gw.gateway.serviceTags.config).toBe(gw.gateway.config);
  });
});

describe('acr-egress serve (a real process) on SIGHUP', () => {
  it('a reload refused by the store keeps the service-tag source; the same without it switches', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-reload-hup-'));
    const cfg = join(dir, 'acr-egress.json');
    const token = 'reload-test-admin-token-0123456789';
    const config = (source: string, audit: Record<string, unknown> = {}): void =>
      writeFileSync(
        cfg,
        JSON.stringify(
          testConfig({
            serviceTags: { enforce: true, source: serviceTagPath(source as never), cacheFile: null },
            admin: { listen: '127.0.0.1:0', token },
            log: { level: 'info', file: join(dir, 'audit.log') },
            audit,
          }),
        ),
      );
    config('ServiceTags_Public_20250721.json');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', cfg], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const port = await vi.waitFor(
        () => {
          const m = /admin API listening.*?"port":(\d+)|"port":(\d+).*?admin API listening/.exec(stderr);
          if (!m) throw new Error(`admin not up yet: ${stderr.slice(-500)}`);
          return Number(m[1] ?? m[2]);
        },
        { timeout: 30_000, interval: 50 },
      );
      const source = async (): Promise<string> => {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/service-tags`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return ((await res.json()) as { source: string }).source;
      };
      expect(await source()).toMatch(/20250721/);

      config('ServiceTags_Public_20251106.json', { store: 'embedded', dir: join(dir, 'store') });
      child.kill('SIGHUP');
      await vi.waitFor(() => expect(stderr).toContain('config reload refused'), { timeout: 30_000, interval: 50 });
      expect(stderr).toContain('audit.store: changing the store needs a restart');
      expect(await source()).toMatch(/20250721/);

      config('ServiceTags_Public_20251106.json');
      child.kill('SIGHUP');
      await vi.waitFor(() => expect(stderr).toContain('config reloaded'), { timeout: 30_000, interval: 50 });
      expect(await source()).toMatch(/20251106/);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
