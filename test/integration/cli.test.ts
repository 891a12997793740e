// The command line as users run it: check and config validate in-process; serve as a real process.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/output.js';
import { connectThrough, httpsGet, tlsOver } from '../helpers/raw.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-cli-'));
const tagsFile = writeTagsFile();

function writeConfig(name: string, config: Record<string, unknown>): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(config));
  return f;
}

const base = {
  registries: [{ name: 'myregistry', regions: ['eastus'] }],
  network: { allowPrivate: ['127.0.0.0/8'] },
  serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
  admin: { listen: null },
};
const configFile = writeConfig('ok.json', base);

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await main(argv, io);
  return { code, out, err };
}

describe('acr-egress check', () => {
  const cases: [string[], number, string][] = [
    [['myregistry.azurecr.io'], 0, 'allowed rule=registry:myregistry:login'],
    [['myregistry.azurecr.io:443', '--sni', 'myregistry.azurecr.io'], 0, 'allowed rule=registry:myregistry:login'],
    [
      ['myregistry.azurecr.io', '--ip', '127.0.0.2'],
      0,
      'allowed rule=registry:myregistry:login tag=AzureContainerRegistry.EastUS',
    ],
    [['myregistry.azurecr.io', '--ip', '127.0.0.3'], 1, 'blocked reason=ip_not_in_service_tag'],
    [['myregistry.azurecr.io', '--ip', '10.0.0.1'], 1, 'blocked reason=private_destination'],
    [['evilmyregistry.azurecr.io'], 1, 'blocked reason=host_not_allowed'],
    [['myregistry.azurecr.io:22'], 1, 'blocked reason=port_not_allowed'],
    [['myregistry.azurecr.io', '--sni', 'other.azurecr.io'], 1, 'blocked reason=sni_mismatch'],
    [['0x7f.1'], 1, 'blocked reason=ip_literal'],
    [
      ['acct.blob.core.windows.net', '--ip', '127.0.0.3'],
      0,
      'allowed rule=registry:myregistry:blob tag=Storage.EastUS',
    ],
  ];
  it.each(cases)('check %j exits %i with "%s"', async (args, code, line) => {
    const r = await cli('check', ...args, '--config', configFile);
    expect(r.out).toEqual([line]);
    expect(r.code).toBe(code);
  });

  it('prints the decision record with --json', async () => {
    const r = await cli(
      'check',
      'myregistry.azurecr.io',
      '--ip',
      '127.0.0.2',
      '--sni',
      'myregistry.azurecr.io',
      '--json',
      '--config',
      configFile,
    );
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.out[0] as string);
    expect(rec).toMatchObject({
      mode: 'check',
      host: 'myregistry.azurecr.io',
      port: 443,
      ip: '127.0.0.2',
      decision: 'allowed',
      rule: 'registry:myregistry:login',
      tag: 'AzureContainerRegistry.EastUS',
    });
    expect(rec.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('exits 2 on a usage error', async () => {
    expect((await cli('check', '--config', configFile)).code).toBe(2);
    expect((await cli('check', 'a', 'b', '--config', configFile)).code).toBe(2);
    expect((await cli('check', 'x', '--bogus')).code).toBe(2);
  });

  it('exits 2 on a bad config', async () => {
    const bad = writeConfig('bad.json', { registries: [{ name: 'x' }] });
    const r = await cli('check', 'myregistry.azurecr.io', '--config', bad);
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toContain('registries[0].name: `x` is not a valid ACR name: 5-50 letters and digits');
  });
});

describe('acr-egress config validate', () => {
  it('exits 0 for a valid file', async () => {
    const r = await cli('config', 'validate', configFile);
    expect(r.code).toBe(0);
    expect(r.out[0]).toContain('valid');
  });
  it('prints each problem with its path and exits 2', async () => {
    const bad = writeConfig('bad2.json', { registries: [{ name: 'x' }], mode: 'nope', proxy: { ports: [0] } });
    const r = await cli('config', 'validate', bad);
    expect(r.code).toBe(2);
    expect(r.err).toEqual(
      expect.arrayContaining([
        '  registries[0].name: `x` is not a valid ACR name: 5-50 letters and digits',
        '  proxy.ports[0]: must be >= 1',
        '  mode: `nope`: must be one of "enforce", "report"',
      ]),
    );
  });
  it('exits 2 for a missing file', async () => {
    expect((await cli('config', 'validate', join(dir, 'nope.yaml'))).code).toBe(2);
  });
  it('exits 2 for an unknown command', async () => {
    expect((await cli('frobnicate')).code).toBe(2);
  });
});

describe('acr-egress serve (a real process)', () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io'] });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('serves tunnels, reloads on SIGHUP, drains on SIGTERM, exits 0 and flushes the audit log', async () => {
    const logFile = join(dir, 'audit.log');
    const cfg = writeConfig('serve.json', {
      ...base,
      proxy: { listen: '127.0.0.1:0', ports: [upstream.port], drainTimeoutMs: 2000 },
      dns: { overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] }, servers: ['127.0.0.1:1'] },
      log: { level: 'info', file: logFile },
      admin: { listen: '127.0.0.1:0', token: 'serve-test-admin-token-0123456789' },
    });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', cfg], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /"listen":\{"address":"127\.0\.0\.1","family":"IPv4","port":(\d+)\}/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    const a = await connectThrough(port, `myregistry.azurecr.io:${upstream.port}`);
    expect(a.status).toBe(200);
    const tls = await tlsOver(a.socket, 'myregistry.azurecr.io', upstream.ca);
    expect(await httpsGet(tls, 'myregistry.azurecr.io')).toContain('ok myregistry.azurecr.io');

    const adminPort = await vi.waitFor(
      () => {
        const line = stderr.split('\n').find((l) => l.includes('admin API listening'));
        const m = line && /"port":(\d+)/.exec(line);
        if (!m) throw new Error(`admin did not start: ${stderr}`);
        return Number(m[1]);
      },
      { timeout: 20_000, interval: 50 },
    );
    const admin = `http://127.0.0.1:${adminPort}`;
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    expect((await fetch(`${admin}/api/v1/logs`)).status).toBe(401);
    // The default store (embedded) has the record within audit.flushMs.
    await expect
      .poll(async () => {
        const logs = await fetch(`${admin}/api/v1/logs?decision=allowed`, {
          headers: { authorization: 'Bearer serve-test-admin-token-0123456789' },
        });
        expect(logs.status).toBe(200);
        return ((await logs.json()) as { items: { host: string; bytesDown: number }[] }).items[0];
      })
      .toMatchObject({ host: 'myregistry.azurecr.io' });
    expect(await (await fetch(`${admin}/metrics`)).text()).toContain(
      'acr_egress_decisions_total{decision="allowed",reason="none",rule="registry:myregistry:login"} 1',
    );

    child.kill('SIGHUP');
    await expect.poll(() => stderr, { timeout: 20_000, interval: 50 }).toContain('config reloaded');

    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
    const lines = readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          host: 'myregistry.azurecr.io',
          decision: 'allowed',
          rule: 'registry:myregistry:login',
        }),
      ]),
    );
    expect(lines.find((l) => l.host === 'myregistry.azurecr.io').bytesDown).toBeGreaterThan(0);
  });

  it('exits 2 with the problems when the config is invalid', async () => {
    const bad = writeConfig('bad3.json', { registries: [{ name: 'x' }] });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', bad], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('registries[0].name: `x` is not a valid ACR name: 5-50 letters and digits');
  });
});
