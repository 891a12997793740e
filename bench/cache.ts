// The layer-cache bench: concurrent pulls across a WAN stand-in (bench/lib/wan-relay.ts: 20 ms each
// way, 100 Mbit/s per direction, loopback only) through acr-egress with the cache, through
// acr-egress inspecting without it, and one warm pull against a pull with no WAN at all. Prints a
// markdown table; docs/benchmarks.md keeps the figures of a run. Standalone for now:
//   npx tsx bench/cache.ts [--pulls 16] [--layers 5] [--layer-mb 4]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCa } from '../src/tls/ca.js';
import { writeOciImage } from '../test/e2e/oci-image.js';
import { skopeoCopy } from '../test/e2e/skopeo.js';
import { startGateway, testConfig, type TestGateway } from '../test/helpers/gateway.js';
import { startRegistry } from '../test/helpers/registry.js';
import { WanRelay } from './lib/wan-relay.js';

const { values } = parseArgs({
  options: {
    pulls: { type: 'string', default: '16' },
    layers: { type: 'string', default: '5' },
    'layer-mb': { type: 'string', default: '4' },
  },
});
const PULLS = Number(values.pulls);
const LAYERS = Number(values.layers);
const LAYER_BYTES = Number(values['layer-mb']) * 1024 * 1024;
const WAN = { delayMs: 20, bytesPerSecond: 100e6 / 8 };
const RELAY_REGISTRY = '127.0.0.6';
const RELAY_BLOB = '127.0.0.7';

const work = mkdtempSync(join(tmpdir(), 'acr-egress-cache-bench-'));
const registry = await startRegistry();
const relay = new WanRelay(WAN);
const gateways: TestGateway[] = [];
try {
  const image = writeOciImage(
    join(work, 'src'),
    '1',
    Array.from({ length: LAYERS }, () => LAYER_BYTES),
  );
  const imageBytes = image.layers.reduce((n, l) => n + l.size, 0);
  const push = await skopeoCopy({
    from: `oci:${image.dir}:1`,
    to: `docker://${registry.registryIp}:${registry.port}/demo:1`,
    destCertDir: registry.certDir,
    workDir: mkdtempSync(join(work, 'skopeo-')),
  });
  if (!push.ok) throw new Error(push.stderr);
  await relay.add(RELAY_REGISTRY, registry.registryIp, registry.port);
  await relay.add(RELAY_BLOB, registry.blobIp, registry.port);

  const caDir = join(work, 'ca');
  mkdirSync(caDir);
  const ca = createCa('bench cache CA');
  writeFileSync(join(caDir, 'ca.crt'), ca.certPem);
  writeFileSync(join(caDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  const certDir = join(work, 'certs');
  mkdirSync(certDir);
  writeFileSync(join(certDir, 'gateway-ca.crt'), ca.certPem);
  writeFileSync(join(certDir, 'registry-ca.crt'), registry.caPem);

  const gateway = async (cache: boolean, wan: boolean): Promise<TestGateway> => {
    const gw = await startGateway(
      testConfig({
        proxy: { listen: '127.0.0.1:0', ports: [registry.port], connectTimeoutMs: 5000, drainTimeoutMs: 500 },
        registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, cache, blobStorage: 'learned' }],
        inspect: {
          caCertFile: join(caDir, 'ca.crt'),
          caKeyFile: join(caDir, 'ca.key'),
          upstreamCaFile: join(registry.certDir, 'ca.crt'),
        },
        cache: { dir: mkdtempSync(join(work, 'cache-')), maxBytes: 4 * 1024 ** 3, minBlobBytes: 4096 },
        serviceTags: { enforce: false, source: null, cacheFile: null },
        dns: {
          servers: ['127.0.0.1:1'],
          timeoutMs: 300,
          overrides: {
            [registry.loginServer]: [wan ? RELAY_REGISTRY : registry.registryIp],
            [registry.blobHost]: [wan ? RELAY_BLOB : registry.blobIp],
          },
        },
      }),
    );
    gateways.push(gw);
    return gw;
  };

  const pull = async (gw: TestGateway): Promise<void> => {
    const r = await skopeoCopy({
      from: `docker://${registry.loginServer}:${registry.port}/demo:1`,
      to: `oci:${mkdtempSync(join(work, 'out-'))}:1`,
      srcCertDir: certDir,
      proxy: gw.proxyUrl,
      workDir: mkdtempSync(join(work, 'skopeo-')),
      timeoutMs: 600_000,
    });
    if (!r.ok) throw new Error(`pull failed: ${r.stderr}`);
  };

  const burst = async (gw: TestGateway, n: number): Promise<{ seconds: number; wanBytes: number }> => {
    const before = relay.bytesDown;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: n }, () => pull(gw)));
    return { seconds: (performance.now() - t0) / 1000, wanBytes: relay.bytesDown - before };
  };

  const cached = await gateway(true, true);
  const plain = await gateway(false, true);
  const noWan = await gateway(false, false);
  const coldPlain = await burst(plain, PULLS);
  const coldCached = await burst(cached, PULLS);
  const warm = await burst(cached, 1);
  await burst(noWan, 1); // connections and leaf certificates warmed, as the cached gateway's are
  const local = await burst(noWan, 1);
  const blobGets = cached
    .records()
    .filter((r) => r.kind === 'request' && r.method === 'GET' && r.path?.includes('/blobs/'));
  const perBlob = new Map<string, number>();
  for (const r of blobGets) perBlob.set(r.path!, (perBlob.get(r.path!) ?? 0) + 1);
  const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);
  const lines = [
    `WAN stand-in: ${WAN.delayMs} ms each way, ${(WAN.bytesPerSecond * 8) / 1e6} Mbit/s per direction, userland relay on loopback.`,
    `Image: ${LAYERS} layers, ${mib(imageBytes)} MiB; ${PULLS} concurrent skopeo pulls.`,
    '',
    '| workload | acr-egress with cache | acr-egress without cache | goal | verdict |',
    '|---|---|---|---|---|',
    `| cold burst: bytes across the WAN | ${mib(coldCached.wanBytes)} MiB (${(coldCached.wanBytes / imageBytes).toFixed(2)}× the image) | ${mib(coldPlain.wanBytes)} MiB (${(coldPlain.wanBytes / imageBytes).toFixed(2)}×) | ≤ 1.02× | ${coldCached.wanBytes / imageBytes <= 1.02 ? 'met' : 'missed'} |`,
    `| cold burst: wall time | ${coldCached.seconds.toFixed(1)} s | ${coldPlain.seconds.toFixed(1)} s | ≤ 0.2× Squid's (Squid not run here; against acr-egress without cache: ${(coldCached.seconds / coldPlain.seconds).toFixed(2)}×) | see note |`,
    `| one warm pull: wall time | ${warm.seconds.toFixed(2)} s | no WAN at all: ${local.seconds.toFixed(2)} s | ≤ 1.25× no WAN | ${warm.seconds / local.seconds <= 1.25 ? 'met' : 'missed'} (${(warm.seconds / local.seconds).toFixed(2)}×) |`,
    `| registry requests per blob per pull | ${[...new Set(perBlob.values())].map((n) => n / (PULLS + 1)).join(', ')} (${PULLS + 1} pulls) | | exactly 1 | ${[...perBlob.values()].every((n) => n === PULLS + 1) ? 'met' : 'missed'} |`,
  ];
  console.log(lines.join('\n'));
} finally {
  for (const gw of gateways) await gw.stop();
  await relay.close();
  await registry.stop();
  rmSync(work, { recursive: true, force: true });
}
