// `npm run soak [-- --seconds N] [--concurrency N] [--write-doc]`: runs the gateway as its own process
// for a bounded time (SOAK_SECONDS, default 600) under a churn of allowed, refused, half-closed, slow,
// reset and idle clients, then checks that its fds and RSS settle and that every connection has a record.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigSchema } from '../src/config/schema.js';
import { writeTagsFile } from '../test/helpers/tags.js';
import { startUpstream } from '../test/helpers/upstream.js';
import { freePort, killAll, rssKb, spawnProc, waitForPort } from './lib/proc.js';
import { GATEWAY_CLI, ROOT, TSX_IMPORT } from './lib/targets.js';
import { clientAddressOf, KINDS, runClient, WEIGHTS, type ClientSetup, type Kind } from './soak/clients.js';
import {
  checks,
  emptyTally,
  FD_TOLERANCE,
  renderSection,
  renderTables,
  tally,
  writeSection,
  type SoakFigures,
} from './soak/report.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    concurrency: { type: 'string', default: '24' },
    'cap-ms': { type: 'string', default: '20000' },
    'drip-ms': { type: 'string', default: '1000' },
    'settle-seconds': { type: 'string', default: '30' },
    'max-connections': { type: 'string', default: '256' },
    'from-source': { type: 'boolean', default: false },
    /** Another build's dist/cli.js or src/cli.ts, to soak it with this tree's clients. */
    gateway: { type: 'string' },
    /** JSON merged into the config's proxy section (keys this tree's schema does not know yet). */
    'proxy-json': { type: 'string' },
    'write-doc': { type: 'boolean', default: false },
  },
});

const seconds = Number(values.seconds ?? process.env.SOAK_SECONDS ?? 600);
const concurrency = Number(values.concurrency);
const capMs = Number(values['cap-ms']);
const settleSeconds = Number(values['settle-seconds']);
for (const [name, v] of Object.entries({ seconds, concurrency, capMs, settleSeconds }))
  if (!(v > 0)) throw new Error(`--${name} must be a positive number`);

const UPSTREAM_HOST = 'myregistry.azurecr.io';
const UPSTREAM_IP = '127.0.0.2';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
/** Progress on stdout with the seconds since start, so a slow phase shows. */
function phase(text: string): void {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${text}`);
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Median of a few samples a little apart, so one in-flight connection does not move the baseline. */
async function sample(pid: number): Promise<{ fds: number; rss: number }> {
  const fds: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < 5; i++) {
    fds.push(fdCount(pid));
    rss.push(rssKb(pid) ?? 0);
    await sleep(300);
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return { fds: median(fds), rss: median(rss) };
}

function pick(): Kind {
  const total = KINDS.reduce((n, k) => n + WEIGHTS[k], 0);
  let r = Math.random() * total;
  for (const k of KINDS) if ((r -= WEIGHTS[k]) < 0) return k;
  return 'allowed';
}

async function tunnelsActive(adminPort: number): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const m = /^acr_egress_tunnels_active(?:\{[^}]*\})? (\d+)/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-soak-'));
  const upstream = await startUpstream({ host: UPSTREAM_IP, names: [UPSTREAM_HOST] });
  const proxyPort = await freePort();
  const adminPort = await freePort();
  const auditFile = join(dir, 'audit.log');
  // The header deadline exists once the edge hardening is in; on an older tree the key is refused.
  const proxyKeys = (ConfigSchema.properties.proxy as unknown as { properties: Record<string, unknown> }).properties;
  const headerKeys = 'headersTimeoutMs' in proxyKeys ? { headersTimeoutMs: 5_000 } : {};
  const config = {
    proxy: {
      listen: `127.0.0.1:${proxyPort}`,
      ports: [upstream.port],
      maxConnections: Number(values['max-connections']),
      clientHelloTimeoutMs: 3_000,
      connectTimeoutMs: 3_000,
      idleTimeoutMs: 15_000,
      drainTimeoutMs: 500,
      ...headerKeys,
      ...(values['proxy-json'] === undefined ? {} : (JSON.parse(values['proxy-json']) as object)),
    },
    registries: [{ name: 'myregistry', regions: ['eastus'] }],
    mcr: false,
    network: { allowPrivate: ['127.0.0.0/8'] },
    dns: { servers: ['127.0.0.1:1'], timeoutMs: 500, overrides: { [UPSTREAM_HOST]: [UPSTREAM_IP] } },
    serviceTags: { enforce: true, source: writeTagsFile(undefined, 1, dir), cacheFile: null },
    admin: { listen: `127.0.0.1:${adminPort}` },
    log: { level: 'warn', file: auditFile },
  };
  const configFile = join(dir, 'acr-egress.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  const fromSource = values['from-source'] === true;
  const other = values.gateway;
  if (!fromSource && other === undefined)
    execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { cwd: ROOT });
  const entry =
    other !== undefined
      ? [...(other.endsWith('.ts') ? ['--import', TSX_IMPORT] : []), other]
      : fromSource
        ? ['--import', TSX_IMPORT, join(ROOT, 'src', 'cli.ts')]
        : [GATEWAY_CLI];
  const logFile = join(dir, 'gateway.out');
  const proc = spawnProc('acr-egress', process.execPath, [...entry, 'serve', '--config', configFile], {
    logFile,
    cwd: dir,
    nofile: 65536,
  });
  const notes: string[] = [];
  if (!('headersTimeoutMs' in config.proxy))
    notes.push('proxy.headersTimeoutMs is not in this tree: no header deadline set');
  try {
    await waitForPort('127.0.0.1', proxyPort, 30_000, proc, logFile);
    await waitForPort('127.0.0.1', adminPort, 30_000, proc, logFile);
    phase(`gateway ${proc.pid} listening; warm-up`);
    const setup: ClientSetup = {
      proxyPort,
      allowed: `${UPSTREAM_HOST}:${upstream.port}`,
      upstreamHost: UPSTREAM_HOST,
      ca: upstream.ca,
      capMs,
      dripMs: Number(values['drip-ms']),
    };
    const kinds = emptyTally();

    // Warm-up: JIT, TLS and the first allocations happen before the baseline is taken.
    for (let i = 0; i < 40; i++)
      await Promise.all([runClient('allowed', setup), runClient('refused', setup)]).then((os) =>
        os.forEach((o) => tally(kinds, o)),
      );
    await sleep(1500);
    const base = await sample(proc.pid);
    let peakFds = base.fds;
    let peakRss = base.rss;
    phase(`baseline: ${base.fds} fds, ${(base.rss / 1024).toFixed(1)} MiB RSS; churn for ${seconds} s`);

    const deadline = Date.now() + seconds * 1000;
    const sampler = setInterval(() => {
      try {
        peakFds = Math.max(peakFds, fdCount(proc.pid));
        peakRss = Math.max(peakRss, rssKb(proc.pid) ?? 0);
      } catch {
        // the gateway is gone: the checks below say so
      }
    }, 1000);
    let lastReport = Date.now();
    const worker = async (): Promise<void> => {
      while (Date.now() < deadline && !proc.exited()) {
        tally(kinds, await runClient(pick(), setup));
        if (Date.now() - lastReport > 30_000) {
          lastReport = Date.now();
          const made = KINDS.reduce((n, k) => n + kinds[k].connections, 0);
          phase(
            `${Math.max(0, Math.round((deadline - Date.now()) / 1000))} s left: ${made} connections, ${fdCount(proc.pid)} fds`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    phase('churn over; settling');
    clearInterval(sampler);
    if (proc.exited()) throw new Error(`the gateway exited during the soak; see ${logFile}`);

    // Settle: give every deadline in the gateway time to fire, then measure.
    const settleEnd = Date.now() + settleSeconds * 1000;
    while (Date.now() < settleEnd && fdCount(proc.pid) > base.fds + FD_TOLERANCE) await sleep(500);
    await sleep(1000);
    const after = await sample(proc.pid);
    const tunnelsActiveAfter = await tunnelsActive(adminPort);
    phase(`settled: ${after.fds} fds; probe and stop`);
    const probe = await runClient('allowed', { ...setup, capMs: 10_000 });
    tally(kinds, probe);

    await proc.stop(15_000);
    phase('gateway stopped; counting records');
    const records = readFileSync(auditFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { client?: string | null });
    const byAddress = new Map(KINDS.map((k) => [clientAddressOf(k), k]));
    let stray = 0;
    let noClient = 0;
    for (const r of records) {
      const k = byAddress.get(r.client ?? '');
      if (k !== undefined) kinds[k].records++;
      else if (r.client === null || r.client === undefined) noClient++;
      else stray++;
    }
    if (noClient > 0) notes.push(`${noClient} records have no client address, so no kind: the gateway lost it`);
    if (stray > 0) notes.push(`${stray} records from an address no soak client uses`);
    const figures: SoakFigures = {
      startedAt,
      seconds,
      concurrency,
      gatewayFrom: other ?? (fromSource ? 'from source (tsx)' : 'dist/cli.js'),
      fds: { baseline: base.fds, peak: peakFds, after: after.fds },
      rssKb: { baseline: base.rss, peak: peakRss, after: after.rss },
      kinds,
      tunnelsActiveAfter,
      probeStatus: probe.status,
      settleSeconds,
      notes,
    };
    console.log(`\n${renderTables(figures).join('\n')}\n`);
    const results = checks(figures);
    for (const c of results) console.log(`${c.ok ? 'pass' : 'FAIL'}  ${c.name}: ${c.detail}`);
    for (const n of notes) console.log(`note: ${n}`);
    if (values['write-doc']) {
      writeSection(join(ROOT, 'docs', 'benchmarks.md'), renderSection(figures));
      console.log('\nwrote the soak section of docs/benchmarks.md');
    }
    return results.every((c) => c.ok) ? 0 : 1;
  } finally {
    await proc.stop(5_000);
    await upstream.close();
    phase('done');
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    killAll();
    console.error(`soak: ${err instanceof Error ? err.stack : String(err)}`);
    process.exitCode = 2;
  },
);
