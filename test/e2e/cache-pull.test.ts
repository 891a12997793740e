// The layer cache end to end: skopeo and curl trusting the gateway's CA pull through an inspected
// tunnel from docker-registry posing as myregistry.azurecr.io: ACR's token flow (Basic credentials
// to `/oauth2/token` on the login server, then bearer JWTs the registry checks itself), layer GETs
// redirected to a blob host posing as Azure Storage, which counts the blob bodies it serves.
// A cached layer goes out only after the registry said yes to that very request.
// Needs `apt-get install skopeo docker-registry curl`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { blobPath } from '../../src/cache/layout.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { missingRegistryTools, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { loopbackTags, writeTagsFile } from '../helpers/tags.js';
import { writeOciImage, type OciImage } from './oci-image.js';
import { skopeoCopy } from './skopeo.js';
import { curlThrough, type Fetched } from './curl.js';
import {
  cacheGatewayConfig,
  pushToLoginServer,
  writeInspectTrust,
  TOKEN_USERS,
  registryBlobPath,
  bodiesServed,
  authorizedRedirects,
  cacheResults,
} from './inspect-setup.js';

const LAYER_BYTES = [1536 * 1024, 640 * 1024];
const USER = 'alice:s3cret';
/** A known user whose tokens cover another repository only. */
const BOB = 'bob:hunter2';
const missing = missingRegistryTools();
if (spawnSync('curl', ['--version'], { stdio: 'ignore' }).error !== undefined) missing.push('curl');
const skipNote = missing.length > 0 ? ` (SKIPPED: ${missing.join(', ')} not installed)` : '';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** How a curl request authenticates: a bearer token, Basic credentials, or not at all. */
type Auth = { bearer: string } | { basic: string } | null;

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
    return cacheGatewayConfig({
      registry,
      caDir,
      tagsFile,
      cacheDir,
      targets: {
        registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, cache: true, blobStorage: 'learned' }],
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
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
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
  const served = (digest: string): number => bodiesServed(registry, digest);

  function curl(gw: { proxyUrl: string }, path: string, auth: Auth): Promise<Fetched> {
    const args: string[] = [];
    if (auth !== null && 'basic' in auth) args.push('-u', auth.basic);
    if (auth !== null && 'bearer' in auth) args.push('-H', `Authorization: Bearer ${auth.bearer}`);
    const url = `https://${registry.loginServer}:${registry.port}${path}`;
    return curlThrough(gw.proxyUrl, join(caDir, 'ca.crt'), url, args, work);
  }

  const blobUrl = (digest: string, repo = 'demo'): string => registryBlobPath(repo, digest);

  /** A pull token from the login server's /oauth2/token, fetched through the gateway as a client does. */
  async function token(gw: { proxyUrl: string }, creds: string, repo = 'demo'): Promise<{ bearer: string }> {
    const q = new URLSearchParams({ service: registry.loginServer, scope: `repository:${repo}:pull` });
    const r = await curl(gw, `/oauth2/token?${q.toString()}`, { basic: creds });
    if (r.status !== 200) throw new Error(`token request answered ${r.status}: ${r.body.toString()}`);
    return { bearer: (JSON.parse(r.body.toString()) as { token: string }).token };
  }

  /** Layer GETs the registry itself answered with its redirect, each carrying a bearer token. */
  const authorized = (digest: string, repo = 'demo'): number => authorizedRedirects(registry, repo, digest);

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

  const cacheRecords = (gw: TestGateway, digest: string): string[] => cacheResults(gw, 'demo', digest);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'acr-egress-cache-e2e-'));
    registry = await startRegistry({
      token: { users: TOKEN_USERS },
    });
    ({ caDir, certDir } = writeInspectTrust(work, registry, 'e2e cache CA'));
    image = writeOciImage(join(work, 'src'), '1', LAYER_BYTES);
    tagsFile = writeTagsFile(loopbackTags(), 1, work);
    await pushToLoginServer(registry, image, 'demo', '1', USER, work);
  }, 60_000);

  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    for (const child of children) child.kill('SIGTERM');
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('a second pull fetches no layer body upstream, still asks the registry for each layer, and the digests match', async () => {
    const gw = await gatewayFor(join(work, 'cache-a'));
    const grants = (): number => registry.tokens!.requests.filter((r) => r.user === 'alice' && r.status === 200).length;
    const first = await pull(gw);
    expect(first.ok, first.stderr).toBe(true);
    // skopeo fetched its token from the login server's /oauth2/token through the gateway.
    expect(grants()).toBeGreaterThan(0);
    for (const layer of image.layers) {
      expect(served(layer.digest)).toBe(1);
      expect(authorized(layer.digest)).toBe(1);
      await expect.poll(() => cacheRecords(gw, layer.digest)).toEqual(['miss']);
    }
    const second = await pull(gw);
    expect(second.ok, second.stderr).toBe(true);
    for (const layer of image.layers) {
      expect(served(layer.digest)).toBe(1);
      expect(authorized(layer.digest)).toBe(2);
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
    const dir = join(work, 'cache-b');
    const gw = await gatewayFor(dir);
    const layer = image.layers[0]!;
    const alice = await token(gw, USER);
    const ok = await curl(gw, blobUrl(layer.digest), alice);
    expect(ok.status).toBe(200);
    expect(sha(ok.body)).toBe(layer.digest);
    await expect.poll(() => existsSync(blobPath(dir, layer.digest.slice(7)))).toBe(true);
    const hitsBefore = gw.gateway.cache!.totals.hit;
    // Unknown users and wrong passwords get no token at all.
    for (const creds of ['alice:wrong', 'mallory:s3cret'])
      await expect(token(gw, creds)).rejects.toThrow(/answered 401/);
    const bob = await token(gw, BOB, 'other');
    const refusals: Record<string, Auth> = {
      'no token': null,
      'Basic credentials instead of a token': { basic: USER },
      'an expired token': {
        bearer: registry.tokens!.mint('alice', [{ type: 'repository', name: 'demo', actions: ['pull'] }], {
          expired: true,
        }),
      },
      'a token for another repository': bob,
      "a token whose grant the service dropped (alice asking for 'other')": await token(gw, USER, 'other'),
      'a token with a forged signature': { bearer: `${alice.bearer.slice(0, -8)}AAAAAAAA` },
    };
    const relayed = (): number =>
      registry.registryRequests.filter((r) => r.path === blobUrl(layer.digest) && r.status === 401).length;
    for (const [what, auth] of Object.entries(refusals)) {
      const before = relayed();
      const refused = await curl(gw, blobUrl(layer.digest), auth);
      // The registry itself refused this very request, and the client got that answer.
      expect(relayed(), what).toBe(before + 1);
      expect(refused.status, what).toBe(401);
      expect(refused.body.toString(), what).toMatch(/UNAUTHORIZED|DENIED/);
      expect(refused.body.length, what).toBeLessThan(1000);
    }
    // Bob's own repository does not hold this layer: the registry's 404, not the cached layer.
    const other = await curl(gw, blobUrl(layer.digest, 'other'), bob);
    expect(other.status).toBe(404);
    expect(other.body.length).toBeLessThan(1000);
    expect(gw.gateway.cache!.totals.hit).toBe(hitsBefore);
    const hit = await curl(gw, blobUrl(layer.digest), alice);
    expect(sha(hit.body)).toBe(layer.digest);
    expect(gw.gateway.cache!.totals.hit).toBe(hitsBefore + 1);
    // Neither the tokens nor the credentials behind them reach a record.
    const records = JSON.stringify(gw.records());
    for (const secret of [alice.bearer, bob.bearer, 's3cret', Buffer.from(USER).toString('base64')])
      expect(records).not.toContain(secret);
  });

  it('skopeo refused a token, or holding one for another repository, fails with nothing from the warm cache', async () => {
    const gw = await gatewayFor(join(work, 'cache-a'));
    const before = image.layers.map((l) => served(l.digest));
    for (const creds of ['alice:wrong', 'mallory:s3cret', BOB]) {
      const refused = await pull(gw, creds);
      expect(refused.ok, creds).toBe(false);
      expect(refused.stderr, creds).toMatch(/unauthorized|authentication required|denied/i);
    }
    expect(gw.gateway.cache!.totals.hit).toBe(0);
    image.layers.forEach((l, i) => expect(served(l.digest)).toBe(before[i]));
    // The same warm cache serves the client the registry does let in.
    const ok = await pull(gw);
    expect(ok.ok, ok.stderr).toBe(true);
    expect(gw.gateway.cache!.totals.hit).toBe(image.layers.length);
  });

  it('16 concurrent pulls of a cold image make one fill per layer', async () => {
    const gw = await gatewayFor(join(work, 'cache-c'));
    const before = image.layers.map((l) => served(l.digest));
    const asked = image.layers.map((l) => authorized(l.digest));
    const pulls = await Promise.all(Array.from({ length: 16 }, () => pull(gw)));
    for (const p of pulls) {
      expect(p.ok, p.stderr).toBe(true);
      for (const layer of image.layers)
        expect(sha(readFileSync(join(p.out, 'blobs', 'sha256', layer.digest.slice(7))))).toBe(layer.digest);
    }
    image.layers.forEach((l, i) => {
      expect(served(l.digest)).toBe(before[i]! + 1);
      // Every pull still asked the registry for every layer with its own token.
      expect(authorized(l.digest)).toBe(asked[i]! + 16);
    });
    // Each layer: one fill, the other 15 read it from disk (as it grew or once it landed).
    for (const layer of image.layers) {
      const records = cacheRecords(gw, layer.digest);
      expect(records.filter((c) => c === 'miss')).toHaveLength(1);
      expect(records.filter((c) => c === 'hit')).toHaveLength(15);
    }
    // The config blob is below minBlobBytes: every pull got the registry's redirect as it came, and
    // every record says bypass, however the 16 requests interleaved.
    expect(image.config.size).toBeLessThan(4096);
    await expect.poll(() => cacheRecords(gw, image.config.digest)).toEqual(Array<string>(16).fill('bypass'));
    const redirected = gw
      .records()
      .filter((r) => r.kind === 'request' && r.method === 'GET' && r.path === blobUrl(image.config.digest))
      .map((r) => r.status);
    expect(redirected).toEqual(Array<number>(16).fill(307));
  }, 120_000);

  it('two gateway processes sharing one cache.dir make one fill per layer and both serve hits', async () => {
    const shared = join(work, 'cache-shared');
    const a = await gatewayFor(shared);
    const b = await gatewayProcess(shared);
    const layer = image.layers[1]!;
    const before = served(layer.digest);
    const alice = await token(a, USER);
    const all = await Promise.all(
      Array.from({ length: 8 }, (_, i) => curl(i % 2 === 0 ? a : b, blobUrl(layer.digest), alice)),
    );
    for (const r of all) expect(sha(r.body)).toBe(layer.digest);
    expect(served(layer.digest)).toBe(before + 1);
    for (const gw of [a, b]) expect(sha((await curl(gw, blobUrl(layer.digest), alice)).body)).toBe(layer.digest);
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
    const alice = await token(gw, USER);
    expect((await curl(gw, blobUrl(layer.digest), alice)).status).toBe(200);
    const file = blobPath(dir, layer.digest.slice(7));
    await expect.poll(() => existsSync(file)).toBe(true); // the fill lands just after the client's last byte
    const bytes = readFileSync(file);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(file, bytes);
    const before = served(layer.digest);
    const broken = await curl(gw, blobUrl(layer.digest), alice);
    expect(broken.exit).not.toBe(0); // the response ended before its last byte
    expect(broken.body.length).toBeLessThan(layer.size);
    expect(existsSync(file)).toBe(false);
    expect(gw.gateway.cache!.cache.counters.verifyFailures).toBe(1);
    const again = await curl(gw, blobUrl(layer.digest), alice);
    expect(sha(again.body)).toBe(layer.digest);
    expect(served(layer.digest)).toBe(before + 1);
  });

  it('with the registry down the pull fails and nothing is served from disk', async () => {
    const gw = await gatewayFor(join(work, 'cache-a'));
    const hits = gw.gateway.cache!.totals.hit;
    const alice = await token(gw, USER);
    await registry.stopRegistry();
    const failed = await pull(gw);
    expect(failed.ok).toBe(false);
    const layer = image.layers[0]!;
    const direct = await curl(gw, blobUrl(layer.digest), alice);
    expect(direct.status).not.toBe(200);
    expect(
      direct.body.includes(readFileSync(blobPath(join(work, 'cache-a'), layer.digest.slice(7))).subarray(0, 64)),
    ).toBe(false);
    expect(gw.gateway.cache!.totals.hit).toBe(hits);
  });
});
