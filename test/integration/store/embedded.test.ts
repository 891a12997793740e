// The embedded store (node:sqlite) in a real `acr-egress serve` (dist/cli.js): records survive a
// clean restart, and a SIGKILL in the middle of traffic loses at most the last audit.flushMs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LogFilter } from '../../../src/store/query.js';
import { main } from '../../../src/cli/main.js';
import { openEmbeddedStore } from '../../../src/store/embedded.js';
import { testConfig } from '../../helpers/gateway.js';
import { connectThrough } from '../../helpers/raw.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Retries check (a refused fetch is "not up yet") until it holds. */
function until(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  return vi.waitFor(
    async () => {
      if (!(await check())) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: timeoutMs, interval: 100 },
  );
}

const root = process.cwd();
/** audit.flushMs: the most a SIGKILL may cost. */
const FLUSH_MS = 200;
let dir = '';
let configFile = '';
let proxyPort = 0;
let admin = '';
let child: ChildProcess | null = null;

async function serve(): Promise<void> {
  child = spawn(process.execPath, [join(root, 'dist/cli.js'), 'serve', '--config', configFile], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await until('the gateway to answer', async () => (await fetch(`${admin}/healthz`)).ok);
}

async function stopped(signal: NodeJS.Signals): Promise<void> {
  const c = child as ChildProcess;
  const exit = new Promise((r) => c.once('exit', r));
  c.kill(signal);
  await exit;
  child = null;
}

async function hosts(pattern = '*.before.example.net'): Promise<string[]> {
  const res = await fetch(`${admin}/api/v1/logs?host=${pattern}&limit=1000`);
  const page = (await res.json()) as { items: { host: string }[] };
  return page.items.map((r) => r.host).sort();
}

/** How many records the running gateway's store holds. */
async function records(): Promise<number> {
  return ((await (await fetch(`${admin}/api/v1/store`)).json()) as { records: number }).records;
}

async function block(host: string): Promise<void> {
  const a = await connectThrough(proxyPort, `${host}:443`);
  a.socket.destroy();
  expect(a.status).toBe(403);
}

describe('the embedded store under acr-egress serve', () => {
  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
    dir = mkdtempSync(join(tmpdir(), 'acr-egress-embedded-serve-'));
    proxyPort = await freePort();
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify(
        testConfig({
          proxy: { listen: `127.0.0.1:${proxyPort}` },
          admin: { listen: `127.0.0.1:${adminPort}` },
          log: { level: 'error', file: join(dir, 'audit.log') },
          audit: { store: 'embedded', dir: join(dir, 'store'), flushMs: FLUSH_MS },
        }),
      ),
    );
  }, 180_000);

  afterAll(async () => {
    if (child !== null) await stopped('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps records across a clean restart, and a SIGKILL mid-traffic loses at most the flush window', async () => {
    await serve();
    for (let i = 0; i < 5; i++) await block(`b${i}.before.example.net`);
    await stopped('SIGTERM');
    await serve();
    expect(await hosts()).toEqual([0, 1, 2, 3, 4].map((i) => `b${i}.before.example.net`));
    // Tunnels keep coming while the gateway is killed: the kill lands mid-batch, after traffic long
    // enough for some records to be older than the window.
    const window = FLUSH_MS + 1000;
    const started = Date.now();
    let made = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop) await block(`killed${made++}.example.net`).catch(() => (stop = true));
    })();
    await expect.poll(() => made > 20 && Date.now() - started > 3 * window, { timeout: 60_000 }).toBe(true);
    const killedAt = Date.now();
    await stopped('SIGKILL');
    stop = true;
    await traffic;
    // Straight from the database, as the next start would find it.
    const store = await openEmbeddedStore(join(dir, 'store'));
    const kept = new Set(
      (await store.logs(LogFilter.parse({}) as LogFilter, { limit: 100_000 })).items.map((r) => r.id),
    );
    await store.close();
    const logged = readFileSync(join(dir, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('killed'))
      .map((l) => JSON.parse(l) as { id: string; time: string });
    // Every record made before the flush window (flushMs, plus a second for a loaded CI machine to
    // run the timer and commit) is in the store; the audit log may itself miss its last moments.
    const old = logged.filter((r) => Date.parse(r.time) < killedAt - window);
    expect(old.length).toBeGreaterThan(10);
    expect(old.filter((r) => !kept.has(r.id))).toEqual([]);
    await serve();
    expect(await hosts()).toHaveLength(5);
    expect(await records()).toBe(kept.size);
    const state = (await (await fetch(`${admin}/api/v1/store`)).json()) as { backend: string; oldest: string };
    expect(state.backend).toBe('embedded');
    expect(state.oldest).not.toBeNull();
    await stopped('SIGTERM');
  }, 300_000);

  it('logs import loads the audit log into the store, and again adds nothing', async () => {
    const out: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
    // Into an empty store: every record of the audit log (the SIGKILL above may have cost the log its
    // last second), and importing twice changes nothing.
    const logged = readFileSync(join(dir, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{')).length;
    expect(logged).toBeGreaterThanOrEqual(5);
    rmSync(join(dir, 'store'), { recursive: true, force: true });
    expect(await main(['logs', 'import', join(dir, 'audit.log'), '--config', configFile], io)).toBe(0);
    expect(await main(['logs', 'import', join(dir, 'audit.log'), '--config', configFile], io)).toBe(0);
    expect(out[0]).toMatch(new RegExp(`: ${logged} records loaded into the embedded store`));
    await serve();
    expect(await records()).toBe(logged);
    await stopped('SIGTERM');
  }, 300_000);
});
