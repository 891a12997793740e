// Scenario 7, the layer cache: concurrent pulls of one image from the real-registry fixture across
// a WAN stand-in (bench/lib/wan-relay.ts), cold, through direct, Squid (a CONNECT splice: it cannot
// cache TLS it does not decrypt), acr-egress inspecting without the cache and acr-egress with it;
// then warm pulls against a pull with no WAN at all, and the CPU of serving a hit against a bare
// Node TLS server sending the same file. Judges every performance goal of the layer cache.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa } from '../../src/tls/ca.js';
import { writeOciImage } from '../../test/e2e/oci-image.js';
import { skopeoCopy } from '../../test/e2e/skopeo.js';
import { missingRegistryTools, startRegistry } from '../../test/helpers/registry.js';
import { makeBenchCerts } from '../lib/certs.js';
import { checkDeadline, remainingMs, withTimeout, type BenchContext } from '../lib/context.js';
import { cpuMs, freePort, spawnProc, waitForPort, type Proc } from '../lib/proc.js';
import { pullBurst, pullImage, tableLookup, type PullTarget } from '../lib/pull-client.js';
import { skippedResult, table, type Headline, type ScenarioResult } from '../lib/result.js';
import { fmt, median, showRatio, verdict } from '../lib/stats.js';
import {
  gatewayConfig,
  GATEWAY_CLI,
  ROOT,
  SHIPPED_NODE_FLAGS,
  spawnTsScript,
  startTarget,
  TSX_IMPORT,
} from '../lib/targets.js';
import { WanRelay, type WanOptions } from '../lib/wan-relay.js';

export interface LayerCacheOptions {
  /** Concurrent pulls in the cold burst. */
  pulls: number;
  layers: number;
  /** The image's layers together (each imageBytes / layers, before gzip; random bytes do not shrink). */
  imageBytes: number;
  /** Warm pulls (and pulls without the WAN) measured, alternating. */
  warmRounds: number;
}

const ID = 7;
const TITLE = 'Layer cache';
/** The WAN stand-in: 20 ms each way, 100 Mbit/s per direction. */
const WAN: WanOptions = { delayMs: 20, bytesPerSecond: 100e6 / 8 };
const RELAY_REGISTRY = '127.0.0.6';
const RELAY_BLOB = '127.0.0.7';
const BARE_IP = '127.0.0.8';
const BARE_HOST = 'bare.bench.test';
const REPO = 'bench/big';

type Cold = 'direct' | 'squid' | 'no-cache' | 'cache';
const COLD: readonly Cold[] = ['direct', 'squid', 'no-cache', 'cache'];

interface Gateway {
  readonly proc: Proc;
  readonly port: number;
  readonly auditFile: string;
}

const cpuSeconds = (p: Proc | null): number => {
  if (p === null) return Number.NaN;
  const c = cpuMs(p.pid);
  return c === null ? Number.NaN : (c.user + c.sys) / 1000;
};

async function startGateway(
  ctx: BenchContext,
  dir: string,
  hosts: Record<string, string>,
  port: number,
  inspect: Record<string, unknown>,
  cacheDir: string | null,
  profileAs: string | null,
): Promise<Gateway> {
  mkdirSync(dir, { recursive: true });
  const listen = await freePort();
  const config = gatewayConfig({ dir, hosts, ports: [port], nofile: ctx.nofile }, listen, await freePort());
  config.registries = [
    { name: 'myregistry', regions: ['eastus'], inspect: true, cache: cacheDir !== null, blobStorage: 'learned' },
  ];
  config.inspect = inspect;
  // The relays' addresses are not in the loopback service-tag file; the tag check is not what is measured.
  config.serviceTags = { enforce: false, source: null, cacheFile: null };
  if (cacheDir !== null) config.cache = { dir: cacheDir, maxBytes: 64 * 2 ** 30, minBlobBytes: 4096 };
  const configFile = join(dir, 'acr-egress.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const log = join(dir, 'acr-egress.out');
  const entry = ctx.fromSource ? ['--import', TSX_IMPORT, join(ROOT, 'src', 'cli.ts')] : [GATEWAY_CLI];
  const prof =
    ctx.profileDir !== null && profileAs !== null
      ? ['--cpu-prof', `--cpu-prof-dir=${join(ctx.profileDir, profileAs)}`]
      : [];
  const proc = spawnProc(
    'acr-egress',
    process.execPath,
    [...SHIPPED_NODE_FLAGS, ...prof, ...entry, 'serve', '--config', configFile],
    {
      logFile: log,
      nofile: ctx.nofile,
      cwd: dir,
    },
  );
  await waitForPort('127.0.0.1', listen, 20_000, proc, log);
  return { proc, port: listen, auditFile: join(dir, 'audit.log') };
}

/** Blob GETs the gateway forwarded to the registry, per path, from its audit log (one record each). */
function blobRequests(auditFile: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(auditFile, 'utf8').split('\n')) {
    if (!line.includes('/blobs/')) continue;
    try {
      const r = JSON.parse(line) as { kind?: string; method?: string; path?: string };
      if (r.kind === 'request' && r.method === 'GET' && r.path?.includes('/blobs/') === true)
        counts.set(r.path, (counts.get(r.path) ?? 0) + 1);
    } catch {
      // a line cut by the stop: not a record
    }
  }
  return counts;
}

export async function runLayerCache(ctx: BenchContext, o: LayerCacheOptions): Promise<ScenarioResult> {
  const missing = missingRegistryTools();
  if (missing.length > 0)
    return skippedResult(
      ID,
      TITLE,
      `${missing.join(' and ')} not installed (apt-get install -y skopeo docker-registry)`,
    );
  const work = join(ctx.dir, 'layer-cache');
  mkdirSync(work, { recursive: true });
  const registry = await startRegistry();
  const relay = new WanRelay(WAN);
  const stops: (() => Promise<void>)[] = [];
  try {
    const layerBytes = Math.max(1024, Math.floor(o.imageBytes / o.layers));
    const image = writeOciImage(
      join(work, 'src'),
      '1',
      Array.from({ length: o.layers }, () => layerBytes),
    );
    const imageBytes = image.layers.reduce((n, l) => n + l.size, 0);
    const push = await skopeoCopy({
      from: `oci:${image.dir}:1`,
      to: `docker://${registry.registryIp}:${registry.port}/${REPO}:1`,
      destCertDir: registry.certDir,
      workDir: mkdtempSync(join(work, 'push-')),
    });
    if (!push.ok) throw new Error(`pushing the image failed: ${push.stderr.trim().slice(0, 300)}`);
    await relay.add(RELAY_REGISTRY, registry.registryIp, registry.port);
    await relay.add(RELAY_BLOB, registry.blobIp, registry.port);

    const ca = createCa('bench layer-cache CA');
    const caDir = join(work, 'ca');
    mkdirSync(caDir);
    writeFileSync(join(caDir, 'ca.crt'), ca.certPem);
    writeFileSync(join(caDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    const inspect = {
      caCertFile: join(caDir, 'ca.crt'),
      caKeyFile: join(caDir, 'ca.key'),
      upstreamCaFile: join(registry.certDir, 'ca.crt'),
    };
    const wanHosts = { [registry.loginServer]: RELAY_REGISTRY, [registry.blobHost]: RELAY_BLOB };
    const lanHosts = { [registry.loginServer]: registry.registryIp, [registry.blobHost]: registry.blobIp };
    const target = (proxyPort: number | null, hosts: Record<string, string>): PullTarget => ({
      registry: `https://${registry.loginServer}:${registry.port}`,
      repository: REPO,
      tag: '1',
      ca: [registry.caPem, ca.certPem],
      proxy: proxyPort === null ? null : `http://127.0.0.1:${proxyPort}`,
      hosts,
    });

    // The cold burst, one contender at a time, each with the WAN to itself.
    const squid = await startTarget('squid', {
      dir: join(work, 'squid'),
      hosts: wanHosts,
      ports: [registry.port],
      nofile: ctx.nofile,
    });
    stops.push(() => squid.stop());
    const noCache = await startGateway(ctx, join(work, 'no-cache'), wanHosts, registry.port, inspect, null, null);
    stops.push(() => noCache.proc.stop(10_000));
    const cacheDir = join(work, 'cache-dir');
    const cached = await startGateway(
      ctx,
      join(work, 'cache'),
      wanHosts,
      registry.port,
      inspect,
      cacheDir,
      'layer-cache',
    );
    stops.push(() => cached.proc.stop(10_000));
    const procs: Record<Cold, Proc | null> = {
      direct: null,
      squid: squid.proc,
      'no-cache': noCache.proc,
      cache: cached.proc,
    };
    const ports: Record<Cold, number | null> = {
      direct: null,
      squid: squid.proxyPort,
      'no-cache': noCache.port,
      cache: cached.port,
    };
    const cold = new Map<Cold, { seconds: number; wanBytes: number; cpu: number }>();
    /** Storage GETs made while the cached gateway was the one pulling: the cache's fills. */
    const storageFills: string[] = [];
    const storageDuring = async <T>(work: Promise<T>): Promise<T> => {
      const from = registry.blobRequests.length;
      const r = await work;
      storageFills.push(...registry.blobRequests.slice(from).filter((p) => p.startsWith('GET ')));
      return r;
    };
    for (const c of COLD) {
      checkDeadline(ctx, `the cold burst via ${c}`);
      const bytesBefore = relay.bytesDown;
      const cpuBefore = cpuSeconds(procs[c]);
      const burst = pullBurst(target(ports[c], wanHosts), o.pulls);
      const r = await withTimeout(
        c === 'cache' ? storageDuring(burst) : burst,
        Math.min(1_200_000, remainingMs(ctx) + 60_000),
        `${o.pulls} cold pulls via ${c}`,
      );
      cold.set(c, {
        seconds: r.seconds,
        wanBytes: relay.bytesDown - bytesBefore,
        cpu: cpuSeconds(procs[c]) - cpuBefore,
      });
      ctx.log(
        `layer cache cold burst via ${c}: ${fmt(r.seconds)} s, ${fmt((relay.bytesDown - bytesBefore) / 2 ** 20, 1)} MiB over the WAN`,
      );
    }
    await squid.stop();
    await noCache.proc.stop(10_000);

    // Warm pulls (every layer cached; the registry still asked once per blob) against pulls with no
    // WAN at all: straight to the fixture, and through acr-egress inspecting without the cache.
    const lan = await startGateway(ctx, join(work, 'no-wan'), lanHosts, registry.port, inspect, null, null);
    stops.push(() => lan.proc.stop(10_000));
    await pullImage(target(null, lanHosts)); // connections' first costs (leaf certificates) out of the way
    await pullImage(target(lan.port, lanHosts));
    const warm: number[] = [];
    const localDirect: number[] = [];
    const localProxy: number[] = [];
    let hitCpu = 0;
    let hitBytes = 0;
    for (let round = 0; round < o.warmRounds; round++) {
      checkDeadline(ctx, `warm round ${round + 1}`);
      const before = cpuSeconds(cached.proc);
      const w = await storageDuring(pullImage(target(cached.port, wanHosts)));
      hitCpu += cpuSeconds(cached.proc) - before;
      hitBytes += w.bytes;
      warm.push(w.seconds);
      localDirect.push((await pullImage(target(null, lanHosts))).seconds);
      localProxy.push((await pullImage(target(lan.port, lanHosts))).seconds);
      ctx.log(
        `layer cache warm round ${round + 1}: ${fmt(w.seconds)} s; no WAN: direct ${fmt(localDirect.at(-1))} s, acr-egress ${fmt(localProxy.at(-1))} s`,
      );
    }
    await lan.proc.stop(10_000);
    await cached.proc.stop(10_000);
    const perBlob = blobRequests(cached.auditFile);

    // The floor for a hit: a bare Node TLS server sending the largest layer, as many bytes as the
    // warm pulls took, in the same number of parallel downloads as a pull makes.
    const largest = image.layers.reduce((a, b) => (b.size > a.size ? b : a));
    const layerFile = join(image.dir, 'blobs', 'sha256', largest.digest.slice('sha256:'.length));
    const bareDir = join(work, 'bare');
    mkdirSync(bareDir);
    const certs = makeBenchCerts(bareDir, [BARE_HOST]);
    const barePort = await freePort(BARE_IP);
    const bare = spawnTsScript(
      'bare-tls-server',
      'lib/bare-tls-server.ts',
      { ip: BARE_IP, port: barePort, file: layerFile, certFile: certs.certFile, keyFile: certs.keyFile },
      join(bareDir, 'bare.out'),
    );
    stops.push(() => bare.stop());
    await waitForPort(BARE_IP, barePort, 20_000, bare, join(bareDir, 'bare.out'));
    const { Agent, request } = await import('undici');
    const fetchLayer = async (): Promise<number> => {
      const agent = new Agent({ connect: { ca: certs.ca, lookup: tableLookup({ [BARE_HOST]: BARE_IP }) } });
      try {
        const res = await request(`https://${BARE_HOST}:${barePort}/layer`, { dispatcher: agent });
        let n = 0;
        for await (const chunk of res.body as AsyncIterable<Buffer>) n += chunk.length;
        return n;
      } finally {
        await agent.close();
      }
    };
    await fetchLayer();
    const bareBefore = cpuSeconds(bare);
    let bareBytes = 0;
    while (bareBytes < hitBytes) {
      const sizes = await Promise.all(Array.from({ length: o.layers }, fetchLayer));
      bareBytes += sizes.reduce((a, b) => a + b, 0);
    }
    const bareCpu = cpuSeconds(bare) - bareBefore;
    await bare.stop();

    // The verdicts.
    const gib = 2 ** 30;
    const c = (k: Cold): { seconds: number; wanBytes: number; cpu: number } =>
      cold.get(k) ?? { seconds: Number.NaN, wanBytes: Number.NaN, cpu: Number.NaN };
    const wanRatio = c('cache').wanBytes / imageBytes;
    const wallRatio = c('cache').seconds / c('squid').seconds;
    const warmMed = median(warm);
    const directMed = median(localDirect);
    const proxyMed = median(localProxy);
    const hitPerGib = hitCpu / (hitBytes / gib);
    const barePerGib = bareCpu / (bareBytes / gib);
    const layerPaths = image.layers.map((l) => `/v2/${REPO}/blobs/${l.digest}`);
    const pullsThroughCache = o.pulls + o.warmRounds;
    const registryPerBlob = layerPaths.map((p) => perBlob.get(p) ?? 0);
    const storagePerBlob = image.layers.map(
      (l) => storageFills.filter((p) => p.endsWith(`/${l.digest.slice('sha256:'.length)}/data`)).length,
    );
    const oneEach = registryPerBlob.every((n) => n === pullsThroughCache) && storagePerBlob.every((n) => n === 1);
    const mib = (b: number): string => fmt(b / 2 ** 20, 1);
    const wanV = verdict(wanRatio, 1.02, false, showRatio);
    const wallV = verdict(wallRatio, 0.2, false, showRatio);
    const warmV = verdict(warmMed / directMed, 1.25, false, showRatio);
    const cpuV = verdict(hitPerGib / barePerGib, 1.5, false, showRatio);
    const headlines: Headline[] = [
      {
        metric: `cold burst of ${o.pulls} pulls: bytes across the WAN, × the image`,
        higherIsBetter: false,
        values: {
          'acr-egress': wanRatio,
          squid: c('squid').wanBytes / imageBytes,
          direct: c('direct').wanBytes / imageBytes,
        },
        digits: 2,
        target: '≤ 1.02× the image',
        met: wanV.met,
        by: wanV.by,
      },
      {
        metric: `cold burst of ${o.pulls} pulls: wall s`,
        higherIsBetter: false,
        values: { 'acr-egress': c('cache').seconds, squid: c('squid').seconds, direct: c('direct').seconds },
        digits: 1,
        target: "≤ 0.2× Squid's",
        met: wallV.met,
        by: wallV.by,
      },
      {
        metric: 'one warm pull: wall s (median), against a direct pull with no WAN',
        higherIsBetter: false,
        values: { 'acr-egress': warmMed, direct: directMed },
        digits: 2,
        target: '≤ 1.25× no WAN',
        met: warmV.met,
        by: warmV.by,
      },
      {
        metric: 'serving a hit: proxy CPU s per GiB, against a bare Node TLS server',
        higherIsBetter: false,
        values: { 'acr-egress': hitPerGib },
        digits: 2,
        target: '≤ 1.5× the bare server',
        met: cpuV.met,
        by: cpuV.by,
      },
      {
        metric: 'upstream requests per layer blob per pull (registry), and storage fetches per layer',
        higherIsBetter: false,
        values: { 'acr-egress': Math.max(...registryPerBlob) / pullsThroughCache },
        digits: 2,
        target: 'exactly one',
        met: oneEach,
        by: `registry ${registryPerBlob.join(', ')} over ${pullsThroughCache} pulls; storage ${storagePerBlob.join(', ')}`,
      },
    ];
    const rows = COLD.map((k) => [
      k === 'no-cache' ? 'acr-egress, no cache' : k === 'cache' ? 'acr-egress, cache' : k,
      fmt(c(k).seconds, 1),
      showRatio(c(k).seconds / c('squid').seconds),
      `${mib(c(k).wanBytes)} (${showRatio(c(k).wanBytes / imageBytes)})`,
      k === 'direct' ? '' : fmt(c(k).cpu, 1),
    ]);
    const body = [
      `One image of ${o.layers} layers, ${mib(imageBytes)} MiB (random bytes, gzip), in docker-registry behind the WAN stand-in (bench/lib/wan-relay.ts: a userland relay on loopback adding ${WAN.delayMs} ms each way and capping each direction at ${(WAN.bytesPerSecond * 8) / 1e6} Mbit/s, shared by every connection, like one site's uplink). The pulls are made by an in-bench client (bench/lib/pull-client.ts: ping, manifest, then config and layers in parallel, following the registry's redirect to storage, one connection pool per pull) rather than skopeo: ${o.pulls} skopeo processes hashing and writing every byte would take the 2 cores the proxies are measured on. **acr-egress, no cache** and **cache**: the registry inspected (\`inspect: true, blobStorage: learned\`), the second with \`cache: true\` and an empty cache. **squid**: a CONNECT splice, which cannot cache TLS it does not decrypt.`,
      '',
      table(['cold burst', 'wall s', '× squid', 'MiB across the WAN (× image)', 'proxy CPU s'], rows),
      '',
      table(
        ['one pull', 'median wall s', 'every round (s)'],
        [
          ['warm, via acr-egress with the cache (across the WAN)', fmt(warmMed), warm.map((s) => fmt(s)).join(', ')],
          ['no WAN: direct to the fixture', fmt(directMed), localDirect.map((s) => fmt(s)).join(', ')],
          ['no WAN: via acr-egress without the cache', fmt(proxyMed), localProxy.map((s) => fmt(s)).join(', ')],
        ],
      ),
      '',
      `Serving hits: acr-egress ${fmt(hitCpu)} s CPU for ${mib(hitBytes)} MiB (${fmt(hitPerGib)} s/GiB, registry round trips and hashing included); the bare Node TLS server (bench/lib/bare-tls-server.ts, \`createReadStream\` piped to an https response) ${fmt(bareCpu)} s for ${mib(bareBytes)} MiB of the largest layer (${fmt(barePerGib)} s/GiB): ${showRatio(hitPerGib / barePerGib)}.`,
      '',
      `Upstream requests per layer blob through the cached gateway (${pullsThroughCache} pulls): registry ${registryPerBlob.join(', ')}; storage (the cache's fills) ${storagePerBlob.join(', ')}.`,
    ].join('\n');
    return {
      id: ID,
      title: TITLE,
      headlines,
      body,
      raw: {
        ...o,
        imageBytes,
        cold: Object.fromEntries(cold),
        warm,
        localDirect,
        localProxy,
        hitCpu,
        hitBytes,
        bareCpu,
        bareBytes,
        registryPerBlob,
        storagePerBlob,
      },
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await relay.close();
    await registry.stop();
  }
}
