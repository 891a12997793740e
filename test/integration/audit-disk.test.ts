// The audit log on a full disk (/dev/full) under a running gateway: tunnels and /healthz keep
// working, the failures are counted, and a reload onto a writable file writes every queued record;
// with log.failClosed new tunnels get 503 audit_unavailable until writing works again. Also the
// logrotate case: the file renamed under the gateway (in-process, and under a real `serve` sent
// SIGUSR2 and SIGHUP), reopened, and new records in a new file.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { startAdmin, type RunningAdmin } from '../../src/admin/start.js';
import type { DecisionRecord } from '../../src/audit/record.js';
import { Gateway } from '../../src/gateway.js';
import { connectThrough, httpsGet, tlsOver } from '../helpers/raw.js';
import { testConfig } from '../helpers/gateway.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const hasDevFull = existsSync('/dev/full');
let acr: Upstream;
let tagsFile: string;

beforeAll(async () => {
  acr = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io'] });
  tagsFile = writeTagsFile();
});

afterAll(async () => {
  await acr?.close();
});

interface Running {
  gateway: Gateway;
  port: number;
  admin: RunningAdmin;
  configFile: string;
  dir: string;
  writeConfig(log: Record<string, unknown>): void;
  stop(): Promise<void>;
}

async function start(log: Record<string, unknown>): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-audit-disk-'));
  const configFile = join(dir, 'acr-egress.json');
  const writeConfig = (l: Record<string, unknown>): void => {
    const config = testConfig({
      proxy: {
        listen: '127.0.0.1:0',
        transparentListen: '127.0.0.1:0',
        transparentUpstreamPort: acr.port,
        ports: [acr.port],
        connectTimeoutMs: 2000,
        drainTimeoutMs: 500,
      },
      serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], timeoutMs: 300, overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
      log: { level: 'silent', ...l },
    });
    writeFileSync(configFile, JSON.stringify(config));
  };
  writeConfig(log);
  const gateway = await Gateway.create({ configFile, logger: pino({ level: 'silent' }) });
  const { port } = await gateway.listen();
  const admin = (await startAdmin(adminDepsFromGateway(gateway), '127.0.0.1:0')) as RunningAdmin;
  return {
    gateway,
    port,
    admin,
    configFile,
    dir,
    writeConfig,
    async stop() {
      await gateway.stop();
      await admin.app.close();
    },
  };
}

/** A full tunnel: CONNECT, TLS, one GET; resolves once its record is in the store. */
async function tunnel(r: Running): Promise<DecisionRecord> {
  const answer = await connectThrough(r.port, `myregistry.azurecr.io:${acr.port}`);
  expect(answer.status).toBe(200);
  const tls = await tlsOver(answer.socket, 'myregistry.azurecr.io', acr.ca);
  expect(await httpsGet(tls, 'myregistry.azurecr.io', '/v2/')).toContain('ok myregistry.azurecr.io');
  return waitFor(() =>
    [...r.gateway.store.newestFirst()].find((x) => x.bytesDown !== null && x.bytesDown > 0 && !seen.has(x.id)),
  ).then((rec) => {
    seen.add(rec.id);
    return rec;
  });
}
const seen = new Set<string>();

/** Polls get until it yields something other than undefined or false, and returns that. */
function waitFor<T>(get: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  return vi.waitFor(
    () => {
      const v = get();
      if (v === undefined || v === false) throw new Error('not yet');
      return v;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}

/** A real `serve` process with a config that tunnels to the loopback registry; `stderr` is its
 * operational log so far, `port` the proxy port it printed. */
async function spawnServe(
  dir: string,
  overrides: Record<string, unknown>,
  drainTimeoutMs: number,
): Promise<{ child: ReturnType<typeof spawn>; stderr: () => string; port: number }> {
  const cfg = join(dir, 'serve.json');
  writeFileSync(
    cfg,
    JSON.stringify(
      testConfig({
        proxy: { listen: '127.0.0.1:0', ports: [acr.port], drainTimeoutMs },
        serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
        dns: { servers: ['127.0.0.1:1'], overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
        ...overrides,
      }),
    ),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', cfg], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const port = await waitFor(() => {
      const m = /"listen":\{"address":"127\.0\.0\.1","family":"IPv4","port":(\d+)\}/.exec(stderr);
      return m ? Number(m[1]) : undefined;
    }, 30_000);
    return { child, stderr: () => stderr, port };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

/** One allowed tunnel and GET through the gateway on port. */
async function pullThrough(port: number): Promise<void> {
  const a = await connectThrough(port, `myregistry.azurecr.io:${acr.port}`);
  expect(a.status).toBe(200);
  const tls = await tlsOver(a.socket, 'myregistry.azurecr.io', acr.ca);
  expect(await httpsGet(tls, 'myregistry.azurecr.io')).toContain('ok');
}

async function get(r: Running, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${r.admin.address.port}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

function fileIds(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as DecisionRecord).id);
}

describe.skipIf(!hasDevFull)('log.file on a full disk (/dev/full; skipped without it)', () => {
  it('keeps tunnels and /healthz working, counts the errors, then writes every queued record', async () => {
    const r = await start({ file: '/dev/full' });
    try {
      const records = [await tunnel(r)];
      await r.gateway.recorder.flush(200);
      await waitFor(() => r.gateway.recorder.auditStatus().writeErrors > 0);
      expect(r.gateway.recorder.available()).toBe(false);
      records.push(await tunnel(r), await tunnel(r));
      expect(await get(r, '/healthz')).toEqual({ status: 200, text: '{"status":"ok"}' });
      expect((await get(r, '/readyz')).status).toBe(200); // failClosed is off: not a readiness matter
      const metrics = (await get(r, '/metrics')).text;
      expect(metrics).toMatch(/^acr_egress_audit_write_errors_total [1-9]/m);
      expect(metrics).toMatch(/^acr_egress_audit_queued_records 3$/m);
      expect(metrics).toMatch(/^acr_egress_audit_dropped_total 0$/m);

      const writable = join(r.dir, 'audit.log');
      r.writeConfig({ file: writable });
      expect(await r.gateway.reload()).toMatchObject({ ok: true, changed: true });
      expect(await r.gateway.recorder.flush(15_000)).toBe(true);
      expect(r.gateway.recorder.available()).toBe(true);
      expect(fileIds(writable)).toEqual(records.map((x) => x.id));
      records.push(await tunnel(r));
      await r.gateway.recorder.flush(15_000);
      expect(fileIds(writable)).toEqual(records.map((x) => x.id));
    } finally {
      await r.stop();
    }
  });

  it('with log.failClosed refuses new tunnels with audit_unavailable while writing fails, and tunnels again after', async () => {
    const r = await start({ file: '/dev/full', failClosed: true });
    try {
      await tunnel(r); // the first write is what finds the disk full
      await r.gateway.recorder.flush(200);
      await waitFor(() => !r.gateway.recorder.available());
      const refused = await connectThrough(r.port, `myregistry.azurecr.io:${acr.port}`);
      expect(refused.status).toBe(503);
      expect(refused.headers['x-acr-egress-reason']).toBe('audit_unavailable');
      const rec = await waitFor(() => [...r.gateway.store.newestFirst()].find((x) => x.reason === 'audit_unavailable'));
      expect(rec).toMatchObject({ decision: 'blocked', rule: 'registry:myregistry:login' });
      // The transparent listener has no status line to answer with: it closes, and records why.
      const tls = tlsConnect({
        host: '127.0.0.1',
        port: r.gateway.transparentAddress?.port ?? 0,
        ca: acr.ca,
        servername: 'myregistry.azurecr.io',
      });
      await new Promise<void>((resolve, reject) => {
        tls.once('secureConnect', () => reject(new Error('the transparent listener let a tunnel through')));
        tls.once('error', () => resolve());
        tls.once('close', () => resolve());
      });
      await waitFor(() =>
        [...r.gateway.store.newestFirst()].find((x) => x.mode === 'transparent' && x.reason === 'audit_unavailable'),
      );
      const ready = await get(r, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.text).toContain('log.failClosed');
      expect(await get(r, '/healthz')).toEqual({ status: 200, text: '{"status":"ok"}' });

      const writable = join(r.dir, 'audit.log');
      r.writeConfig({ file: writable, failClosed: true });
      await r.gateway.reload();
      expect(await r.gateway.recorder.flush(15_000)).toBe(true);
      await tunnel(r);
      expect((await get(r, '/readyz')).status).toBe(200);
    } finally {
      await r.stop();
    }
  });
});

describe('log.file reopened after logrotate renames it', () => {
  it('writes new records to a new file at the path; the renamed file keeps only the old ones', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'acr-egress-rotate-')), 'audit.log');
    const r = await start({ file });
    try {
      const before = await tunnel(r);
      await r.gateway.recorder.flush(15_000);
      renameSync(file, `${file}.1`);
      r.gateway.reopenAuditLog();
      const after = await tunnel(r);
      await r.gateway.recorder.flush(15_000);
      expect(fileIds(`${file}.1`)).toEqual([before.id]);
      expect(fileIds(file)).toEqual([after.id]);
    } finally {
      await r.stop();
    }
  });
});

describe('acr-egress serve (a real process) reopens log.file on SIGUSR2 and SIGHUP', () => {
  it('puts each record in the file that was at the path when it was written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-serve-rotate-'));
    const file = join(dir, 'audit.log');
    const { child, stderr: log, port } = await spawnServe(dir, { log: { level: 'info', file } }, 2000);
    try {
      const pull = (): Promise<void> => pullThrough(port);
      const lineIn = (f: string): boolean => existsSync(f) && readFileSync(f, 'utf8').includes('\n');
      const rotate = async (to: string, signal: 'SIGUSR2' | 'SIGHUP', logged: string): Promise<void> => {
        await waitFor(() => lineIn(file)); // the record is written within the 1 s batch interval
        renameSync(file, to);
        const before = log().split(logged).length;
        child.kill(signal);
        await waitFor(() => log().split(logged).length > before);
      };
      await pull();
      await rotate(`${file}.1`, 'SIGUSR2', 'reopening the audit log');
      await pull();
      await rotate(`${file}.2`, 'SIGHUP', 'config reloaded');
      await pull();
      const code = await new Promise<number | null>((resolve) => {
        child.on('exit', resolve);
        child.kill('SIGTERM');
      });
      expect(code).toBe(0);
      for (const f of [`${file}.1`, `${file}.2`, file]) {
        const lines = readFileSync(f, 'utf8').trim().split('\n');
        expect(lines, f).toHaveLength(1);
        expect(JSON.parse(lines[0] as string)).toMatchObject({ host: 'myregistry.azurecr.io', decision: 'allowed' });
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe.skipIf(!hasDevFull)('acr-egress serve (a real process) with log.file on /dev/full', () => {
  it('keeps tunnels and /healthz answering, counts the errors, and exits on SIGTERM saying what was lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-serve-full-'));
    const {
      child,
      stderr: log,
      port,
    } = await spawnServe(dir, { admin: { listen: '127.0.0.1:0' }, log: { level: 'info', file: '/dev/full' } }, 1000);
    try {
      const adminPort = await waitFor(() => {
        const line = log()
          .split('\n')
          .find((l) => l.includes('admin API listening'));
        const m = line === undefined ? null : /"port":(\d+)/.exec(line);
        return m ? Number(m[1]) : undefined;
      }, 30_000);
      const admin = `http://127.0.0.1:${adminPort}`;
      const pull = (): Promise<void> => pullThrough(port);
      await pull();
      // The batch interval writes the record within a second or so; that write finds the disk full.
      await waitFor(() => log().includes('audit log write failed'), 30_000);
      await pull();
      const health = await fetch(`${admin}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      expect(metrics).toMatch(/^acr_egress_audit_write_errors_total [1-9]/m);
      expect(log().split('audit log write failed').length).toBe(2); // once per burst
      const code = await new Promise<number | null>((resolve) => {
        child.on('exit', resolve);
        child.kill('SIGTERM');
      });
      expect(code).toBe(0);
      expect(log()).toMatch(/[12] record\(s\) unwritten/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
