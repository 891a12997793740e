// The layer cache end to end: skopeo and curl trusting the gateway's CA pull through an inspected
// tunnel from docker-registry posing as myregistry.azurecr.io (htpasswd credentials, layer GETs
// redirected to a blob host posing as Azure Storage, which counts the blob bodies it serves).
// A cached layer goes out only after the registry said yes to that very request.
// Needs `apt-get install skopeo docker-registry curl apache2-utils` (htpasswd).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { blobPath } from '../../src/cache/layout.js';
import { createCa } from '../../src/inspect/ca.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { missingRegistryTools, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { loopbackTags, writeTagsFile } from '../helpers/tags.js';
import { writeOciImage, type OciImage } from './oci-image.js';
import { skopeoCopy } from './skopeo.js';

const LAYER_BYTES = [1536 * 1024, 640 * 1024];
const USER = 'alice:s3cret';
const missing = missingRegistryTools();
for (const tool of ['curl', 'htpasswd'])
  if (spawnSync(tool, tool === 'curl' ? ['--version'] : ['-h'], { stdio: 'ignore' }).error !== undefined)
    missing.push(tool);
const skipNote = missing.length > 0 ? ` (SKIPPED: ${missing.join(', ')} not installed)` : '';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Fetched {
  status: number;
  body: Buffer;
  exit: number;
}

describe.skipIf(missing.length > 0)(`layer cache through the gateway${skipNote}`, () => {
  let registry: TestRegistry;
  let image: OciImage;
  let work: string;
  let tagsFile: string;
  let caDir: string;
  let certDir: string;
  const gateways: TestGateway[] = [];
  const children: ChildProcess[] = [];

  function configFor(cacheDir: string): Record<string, unknown> {
    return testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [registry.port], connectTimeoutMs: 2000, drainTimeoutMs: 500 },
      registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, cache: true, blobStorage: 'learned' }],
      inspect: {
        caCertFile: join(caDir, 'ca.crt'),
        caKeyFile: join(caDir, 'ca.key'),
        upstreamCaFile: join(registry.certDir, 'ca.crt'),
      },
      cache: { dir: cacheDir, maxBytes: 64 * 1024 * 1024, minBlobBytes: 4096 },
      serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        timeoutMs: 300,
        overrides: { [registry.loginServer]: [registry.registryIp], [registry.blobHost]: [registry.blobIp] },
      },
    });
  }

  async function gatewayFor(cacheDir: string): Promise<TestGateway> {
    const gw = await startGateway(configFor(cacheDir));
    gateways.push(gw);
    return gw;
  }

  /** A second gateway as its own process (acr-egress serve), with its audit log in a file. */
  async function gatewayProcess(cacheDir: string): Promise<{ proxyUrl: string; auditLog: string }> {
    const dir = mkdtempSync(join(work, 'serve-'));
    const auditLog = join(dir, 'audit.log');
    const configFile = join(dir, 'acr-egress.json');
    writeFileSync(configFile, JSON.stringify({ ...configFor(cacheDir), log: { level: 'info', file: auditLog } }));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', configFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const port = await vi.waitFor(
      () => {
        const m = /"listen":\{"address":"127\.0\.0\.1","family":"IPv4","port":(\d+)\}/.exec(stderr);
        if (m === null) throw new Error(`not listening yet:\n${stderr}`);
        return Number(m[1]);
      },
      { timeout: 30_000, interval: 50 },
    );
    return { proxyUrl: `http://127.0.0.1:${port}`, auditLog };
  }

  /** Blob bodies the storage stand-in served for one layer. */
  const served = (digest: string): number =>
    registry.blobRequests.filter((r) => r.startsWith('GET ') && r.includes(`/${digest.slice(7)}/data`)).length;

  function curl(gw: { proxyUrl: string }, path: string, creds: string | null): Promise<Fetched> {
    const out = join(mkdtempSync(join(work, 'curl-')), 'body');
    const args = ['-sS', '--max-time', '20', '--proxy', gw.proxyUrl, '--cacert', join(caDir, 'ca.crt')];
    if (creds !== null) args.push('-u', creds);
    args.push('-o', out, '-w', '%{http_code}', `https://${registry.loginServer}:${registry.port}${path}`);
    return new Promise((resolve) => {
      execFile('curl', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout) => {
        const exit = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ status: Number(stdout), body: existsSync(out) ? readFileSync(out) : Buffer.alloc(0), exit });
      });
    });
  }

  const blobUrl = (digest: string, repo = 'demo'): string => `/v2/${repo}/blobs/${digest}`;

  function pull(
    gw: TestGateway,
    creds: string | undefined = USER,
  ): Promise<{ ok: boolean; stderr: string; out: string }> {
    const out = mkdtempSync(join(work, 'pulled-'));
    return skopeoCopy({
      from: `docker://${registry.loginServer}:${registry.port}/demo:1`,
      to: `oci:${out}:1`,
      srcCertDir: certDir,
      proxy: gw.proxyUrl,
      srcCreds: creds,
      workDir: mkdtempSync(join(work, 'skopeo-')),
    }).then((r) => ({ ok: r.ok, stderr: r.stderr, out }));
  }

  const cacheRecords = (gw: TestGateway, digest: string): string[] =>
    gw
      .records()
      .filter((r) => r.kind === 'request' && r.method === 'GET' && r.path === blobUrl(digest))
      .map((r) => r.cache ?? 'none');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'acr-egress-cache-e2e-'));
    const line = spawnSync('htpasswd', ['-nbB', 'alice', 's3cret'], { encoding: 'utf8' }).stdout.trim();
    registry = await startRegistry({ htpasswd: line });
    caDir = join(work, 'ca');
    mkdirSync(caDir);
    const ca = createCa('e2e cache CA');
    writeFileSync(join(caDir, 'ca.crt'), ca.certPem);
    writeFileSync(join(caDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    certDir = join(work, 'certs');
    mkdirSync(certDir);
    copyFileSync(join(caDir, 'ca.crt'), join(certDir, 'gateway-ca.crt'));
    copyFileSync(join(registry.certDir, 'ca.crt'), join(certDir, 'registry-ca.crt'));
    image = writeOciImage(join(work, 'src'), '1', LAYER_BYTES);
    tagsFile = writeTagsFile(loopbackTags(), 1, work);
    const push = await skopeoCopy({
      from: `oci:${image.dir}:1`,
      to: `docker://${registry.registryIp}:${registry.port}/demo:1`,
      destCertDir: registry.certDir,
      destCreds: USER,
      workDir: mkdtempSync(join(work, 'skopeo-')),
    });
    if (!push.ok) throw new Error(`skopeo push failed (${push.code}):\n${push.stderr}\n${registry.log()}`);
  }, 60_000);

  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    for (const child of children) child.kill('SIGTERM');
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('a second pull fetches no layer body upstream, still asks the registry for each layer, and the digests match', async () => {
    const gw = await gatewayFor(join(work, 'cache-a'));
    const first = await pull(gw);
    expect(first.ok, first.stderr).toBe(true);
    for (const layer of image.layers) {
      expect(served(layer.digest)).toBe(1);
      await expect.poll(() => cacheRecords(gw, layer.digest)).toEqual(['miss']);
    }
    const second = await pull(gw);
    expect(second.ok, second.stderr).toBe(true);
    for (const layer of image.layers) {
      expect(served(layer.digest)).toBe(1);
      const file = join(second.out, 'blobs', 'sha256', layer.digest.slice(7));
      expect(sha(readFileSync(file))).toBe(layer.digest);
      // One request per layer per pull, each answered by the registry (its 307 became our 200 from disk).
      await expect.poll(() => cacheRecords(gw, layer.digest)).toEqual(['miss', 'hit']);
      // Each record's bytesDown is the layer the client got: fetched upstream, then from disk.
      const bytes = gw
        .records()
        .filter((r) => r.kind === 'request' && r.method === 'GET' && r.path === blobUrl(layer.digest))
        .map((r) => r.bytesDown);
      expect(bytes).toEqual([layer.size, layer.size]);
    }
    expect(gw.gateway.cache?.totals.hit).toBe(image.layers.length);
  });

  it("gives a refused client the registry's own answer and no cached byte, though the layer is cached", async () => {
    const gw = await gatewayFor(join(work, 'cache-b'));
    const layer = image.layers[0]!;
    const ok = await curl(gw, blobUrl(layer.digest), USER);
    expect(ok.status).toBe(200);
    expect(sha(ok.body)).toBe(layer.digest);
    const hitsBefore = gw.gateway.cache!.totals.hit;
    for (const creds of [null, 'alice:wrong', 'mallory:s3cret']) {
      const refused = await curl(gw, blobUrl(layer.digest), creds);
      expect(refused.status).toBe(401);
      expect(refused.body.toString()).toMatch(/UNAUTHORIZED/);
    }
    // A repository the registry does not hold this layer in: its 404, not the cached layer.
    const other = await curl(gw, blobUrl(layer.digest, 'other'), USER);
    expect(other.status).toBe(404);
    expect(other.body.length).toBeLessThan(1000);
    expect(gw.gateway.cache!.totals.hit).toBe(hitsBefore);
    const hit = await curl(gw, blobUrl(layer.digest), USER);
    expect(sha(hit.body)).toBe(layer.digest);
    expect(gw.gateway.cache!.totals.hit).toBe(hitsBefore + 1);
  });

  it('16 concurrent pulls of a cold image make one fill per layer', async () => {
    const gw = await gatewayFor(join(work, 'cache-c'));
    const before = image.layers.map((l) => served(l.digest));
    const pulls = await Promise.all(Array.from({ length: 16 }, () => pull(gw)));
    for (const p of pulls) {
      expect(p.ok, p.stderr).toBe(true);
      for (const layer of image.layers)
        expect(sha(readFileSync(join(p.out, 'blobs', 'sha256', layer.digest.slice(7))))).toBe(layer.digest);
    }
    image.layers.forEach((l, i) => expect(served(l.digest)).toBe(before[i]! + 1));
  }, 120_000);

  it('two gateway processes sharing one cache.dir make one fill per layer and both serve hits', async () => {
    const shared = join(work, 'cache-shared');
    const a = await gatewayFor(shared);
    const b = await gatewayProcess(shared);
    const layer = image.layers[1]!;
    const before = served(layer.digest);
    const all = await Promise.all(
      Array.from({ length: 8 }, (_, i) => curl(i % 2 === 0 ? a : b, blobUrl(layer.digest), USER)),
    );
    for (const r of all) expect(sha(r.body)).toBe(layer.digest);
    expect(served(layer.digest)).toBe(before + 1);
    for (const gw of [a, b]) expect(sha((await curl(gw, blobUrl(layer.digest), USER)).body)).toBe(layer.digest);
    await expect.poll(() => cacheRecords(a, layer.digest).at(-1)).toBe('hit');
    const childHits = (): number =>
      readFileSync(b.auditLog, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"cache":"hit"') && l.includes(layer.digest)).length;
    await expect.poll(childHits, { timeout: 10_000 }).toBeGreaterThan(0);
  });

  it('a layer corrupted on disk aborts the download, is removed, and the next request refills it', async () => {
    const dir = join(work, 'cache-d');
    const gw = await gatewayFor(dir);
    const layer = image.layers[0]!;
    expect((await curl(gw, blobUrl(layer.digest), USER)).status).toBe(200);
    const file = blobPath(dir, layer.digest.slice(7));
    await expect.poll(() => existsSync(file)).toBe(true); // the fill lands just after the client's last byte
    const bytes = readFileSync(file);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(file, bytes);
    const before = served(layer.digest);
    const broken = await curl(gw, blobUrl(layer.digest), USER);
    expect(broken.exit).not.toBe(0); // the response ended before its last byte
    expect(broken.body.length).toBeLessThan(layer.size);
    expect(existsSync(file)).toBe(false);
    expect(gw.gateway.cache!.cache.counters.verifyFailures).toBe(1);
    const again = await curl(gw, blobUrl(layer.digest), USER);
    expect(sha(again.body)).toBe(layer.digest);
    expect(served(layer.digest)).toBe(before + 1);
  });

  it('with the registry down the pull fails and nothing is served from disk', async () => {
    const gw = await gatewayFor(join(work, 'cache-a'));
    const hits = gw.gateway.cache!.totals.hit;
    await registry.stopRegistry();
    const failed = await pull(gw);
    expect(failed.ok).toBe(false);
    const layer = image.layers[0]!;
    const direct = await curl(gw, blobUrl(layer.digest), USER);
    expect(direct.status).not.toBe(200);
    expect(
      direct.body.includes(readFileSync(blobPath(join(work, 'cache-a'), layer.digest.slice(7))).subarray(0, 64)),
    ).toBe(false);
    expect(gw.gateway.cache!.totals.hit).toBe(hits);
  });
});
