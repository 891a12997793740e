// Scenario 6, inspected pull: concurrent skopeo pulls from the real-registry fixture through
// acr-egress inspecting the registry (inspect, pullOnly, blobStorage: learned), through Squid
// bumping the same login server (ssl_bump, method ACL) and through acr-egress tunnelling it: wall
// time, proxy CPU, and acr-egress's leaf-certificate signatures and cache hits.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa } from '../../src/tls/ca.js';
import { writeOciImage } from '../../test/e2e/oci-image.js';
import { skopeoCopy } from '../../test/e2e/skopeo.js';
import { missingRegistryTools, startRegistry, type TestRegistry } from '../../test/helpers/registry.js';
import { checkDeadline, remainingMs, withTimeout, type BenchContext } from '../lib/context.js';
import { cpuMs, freePort, spawnProc, waitForPort, type Proc } from '../lib/proc.js';
import { skippedResult, table, type ScenarioResult } from '../lib/result.js';
import { startSquidBump } from '../lib/squid-bump.js';
import { fmt, fmtRatio, median, ratio, roundOrder } from '../lib/stats.js';
import { gatewayConfig, GATEWAY_CLI, TSX_IMPORT, ROOT } from '../lib/targets.js';

export interface InspectedPullOptions {
  pulls: number;
  layerBytes: number;
  rounds: number;
}

const TITLE = 'Inspected pull';
const ID = 6;
type Contender = 'inspected' | 'squid-bump' | 'tunnelled';
const CONTENDERS: readonly Contender[] = ['inspected', 'squid-bump', 'tunnelled'];

interface Running {
  readonly proc: Proc;
  readonly port: number;
  readonly adminPort: number | null;
}

async function startGateway(
  ctx: BenchContext,
  dir: string,
  hosts: Record<string, string>,
  ports: number[],
  registry: Record<string, unknown>,
  inspect: Record<string, unknown> | null,
): Promise<Running> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  const config = gatewayConfig({ dir, hosts, ports, nofile: ctx.nofile }, port, adminPort);
  config.registries = [registry];
  if (inspect !== null) config.inspect = inspect;
  const configFile = join(dir, 'acr-egress.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const log = join(dir, 'acr-egress.out');
  const entry = ctx.fromSource ? ['--import', TSX_IMPORT, join(ROOT, 'src', 'cli.ts')] : [GATEWAY_CLI];
  const proc = spawnProc('acr-egress', process.execPath, [...entry, 'serve', '--config', configFile], {
    logFile: log,
    nofile: ctx.nofile,
    cwd: dir,
  });
  await waitForPort('127.0.0.1', port, 20_000, proc, log);
  return { proc, port, adminPort };
}

async function leafStats(adminPort: number): Promise<{ signatures: number; hits: number } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${adminPort}/api/v1/inspect`);
    return ((await res.json()) as { leaf: { signatures: number; hits: number } }).leaf;
  } catch {
    return null;
  }
}

async function batch(
  registry: TestRegistry,
  port: number,
  certDir: string,
  dir: string,
  pulls: number,
): Promise<{ seconds: number; failed: number; firstError: string | null }> {
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: pulls }, (_, i) =>
      skopeoCopy({
        from: `docker://${registry.loginServer}:${registry.port}/bench/app:1`,
        to: `oci:${join(dir, `pull-${i}`)}:1`,
        srcCertDir: certDir,
        proxy: `http://127.0.0.1:${port}`,
        workDir: mkdtempSync(join(dir, 'skopeo-')),
        timeoutMs: 120_000,
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });
  const failedRuns = results.filter((r) => !r.ok);
  return { seconds, failed: failedRuns.length, firstError: failedRuns[0]?.stderr.trim().slice(0, 300) ?? null };
}

const cpuOf = (p: Proc): number => {
  const c = cpuMs(p.pid);
  return c === null ? Number.NaN : c.user + c.sys;
};

export async function runInspectedPull(ctx: BenchContext, o: InspectedPullOptions): Promise<ScenarioResult> {
  const missing = missingRegistryTools();
  if (missing.length > 0)
    return skippedResult(
      ID,
      TITLE,
      `${missing.join(' and ')} not installed (apt-get install -y skopeo docker-registry)`,
    );
  const work = join(ctx.dir, 'inspected');
  mkdirSync(work, { recursive: true });
  const registry = await startRegistry();
  const running = new Map<Contender, Running>();
  const wall = new Map<Contender, number[]>(CONTENDERS.map((c) => [c, []]));
  const cpu = new Map<Contender, number[]>(CONTENDERS.map((c) => [c, []]));
  const failures = new Map<Contender, number>();
  let firstError: string | null = null;
  let leaves: { signatures: number; hits: number } | null;
  try {
    const image = writeOciImage(join(work, 'src'), '1', [o.layerBytes]);
    const push = await skopeoCopy({
      from: `oci:${image.dir}:1`,
      to: `docker://${registry.registryIp}:${registry.port}/bench/app:1`,
      destCertDir: registry.certDir,
      workDir: mkdtempSync(join(work, 'push-')),
    });
    if (!push.ok) throw new Error(`pushing the image failed: ${push.stderr.trim().slice(0, 300)}`);
    const ca = createCa('bench inspection CA');
    const caDir = join(work, 'ca');
    mkdirSync(caDir);
    writeFileSync(join(caDir, 'ca.crt'), ca.certPem);
    writeFileSync(join(caDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    // skopeo trusts the inspecting CA (acr-egress and squid share it) and the registry's own CA.
    const certDir = join(work, 'certs');
    mkdirSync(certDir);
    writeFileSync(join(certDir, 'inspect-ca.crt'), ca.certPem);
    writeFileSync(join(certDir, 'registry-ca.crt'), registry.caPem);
    const upstreamCaFile = join(registry.certDir, 'ca.crt');
    const hosts = { [registry.loginServer]: registry.registryIp, [registry.blobHost]: registry.blobIp };
    const ports = [registry.port];
    const reg = { name: 'myregistry', regions: ['eastus'] };
    running.set(
      'inspected',
      await startGateway(
        ctx,
        join(work, 'inspected-gw'),
        hosts,
        ports,
        { ...reg, inspect: true, pullOnly: true, blobStorage: 'learned' },
        { caCertFile: join(caDir, 'ca.crt'), caKeyFile: join(caDir, 'ca.key'), upstreamCaFile },
      ),
    );
    running.set('tunnelled', await startGateway(ctx, join(work, 'tunnel-gw'), hosts, ports, { ...reg }, null));
    const squidPort = await freePort();
    const squid = await startSquidBump({
      dir: join(work, 'squid'),
      port: squidPort,
      hosts,
      ports,
      bump: registry.loginServer,
      caPem: ca.certPem + ca.keyPem,
      upstreamCaFile,
      nofile: ctx.nofile,
    });
    running.set('squid-bump', { proc: squid, port: squidPort, adminPort: null });

    for (const c of CONTENDERS) {
      const warm = await batch(registry, running.get(c)!.port, certDir, join(work, `warm-${c}`), o.pulls);
      if (warm.failed > 0) ctx.log(`inspected pull warm-up ${c}: ${warm.failed} failed: ${warm.firstError}`);
    }
    for (let round = 0; round < o.rounds; round++) {
      checkDeadline(ctx, `inspected pull round ${round + 1}`);
      for (const c of roundOrder(CONTENDERS, round)) {
        const r = running.get(c)!;
        const before = cpuOf(r.proc);
        const b = await withTimeout(
          batch(registry, r.port, certDir, join(work, `r${round}-${c}`), o.pulls),
          Math.min(300_000, remainingMs(ctx) + 30_000),
          `${o.pulls} pulls via ${c}`,
        );
        cpu.get(c)!.push((cpuOf(r.proc) - before) / 1000);
        wall.get(c)!.push(b.seconds);
        failures.set(c, (failures.get(c) ?? 0) + b.failed);
        firstError ??= b.firstError;
        ctx.log(
          `inspected pull round ${round + 1} ${c}: ${fmt(b.seconds)} s${b.failed ? ` (${b.failed} failed)` : ''}`,
        );
      }
    }
    leaves = await leafStats(running.get('inspected')!.adminPort!);
  } finally {
    for (const r of running.values()) await r.proc.stop(10_000);
    await registry.stop();
  }
  const med = (m: Map<Contender, number[]>, c: Contender): number => median(m.get(c) ?? []);
  const rows = CONTENDERS.map((c) => [
    c,
    fmt(med(wall, c)),
    fmtRatio(ratio(med(wall, c), med(wall, 'squid-bump'))),
    fmt(med(cpu, c)),
    (wall.get(c) ?? []).map((s) => fmt(s)).join(', '),
    String(failures.get(c) ?? 0),
  ]);
  const vsSquid = ratio(med(wall, 'inspected'), med(wall, 'squid-bump'));
  const body = [
    `${o.pulls} concurrent \`skopeo copy\` of an image with one ${fmt(o.layerBytes / 2 ** 20, 1)} MiB layer, ${o.rounds} rounds after a warm-up batch each. **inspected**: acr-egress with \`inspect: true, pullOnly: true, blobStorage: learned\` (registry API decrypted and checked, the layer redirected to a learned blob host and tunnelled end to end). **squid-bump**: Squid \`ssl_bump\` bumping the login server with \`security_file_certgen\` leaves, a method ACL refusing writes, the blob host spliced. **tunnelled**: acr-egress without inspection. Proxy CPU is user + system seconds of the proxy process per batch (Squid's certificate helper not counted).`,
    '',
    table(
      ['contender', 'median wall s', '× squid-bump', 'median proxy CPU s', 'every round (s)', 'failed pulls'],
      rows,
    ),
    '',
    `acr-egress leaf certificates over the whole run: ${leaves === null ? 'n/a' : `${leaves.signatures} signed, ${leaves.hits} served from the cache`}.`,
    ...(firstError !== null ? ['', `First failure: \`${firstError.replace(/`/g, "'")}\``] : []),
  ].join('\n');
  return {
    id: ID,
    title: TITLE,
    headlines: [
      {
        metric: `wall s for ${o.pulls} concurrent inspected pulls (median)`,
        higherIsBetter: false,
        values: { 'acr-egress': med(wall, 'inspected'), squid: med(wall, 'squid-bump') },
        digits: 2,
        target: '≤ squid ssl_bump',
        met: Number.isFinite(vsSquid) ? vsSquid <= 1.0 && (failures.get('inspected') ?? 0) === 0 : null,
      },
    ],
    body,
    raw: {
      ...o,
      wall: Object.fromEntries(wall),
      cpu: Object.fromEntries(cpu),
      failures: Object.fromEntries(failures),
      leaves,
    },
  };
}
