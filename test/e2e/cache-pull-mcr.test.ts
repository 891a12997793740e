// The layer cache for MCR end to end: docker-registry posing as mcr.microsoft.com (anonymous pull
// tokens from its /oauth2/token, layer GETs redirected to a storage stand-in posing as
// eastus.data.mcr.microsoft.com), reached through `mcr: {inspect: true, cache: true}`.
// Needs `apt-get install skopeo docker-registry curl`.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  registryBlobPath,
  bodiesServed,
  authorizedRedirects,
} from './inspect-setup.js';

const REPO = 'dotnet/runtime';
const LAYER_BYTES = [1024 * 1024, 300 * 1024];
/** Only the publisher may push; everyone may pull REPO without credentials, as on MCR. */
const PUBLISHER = 'publisher:p4ss';
const missing = missingRegistryTools();
if (spawnSync('curl', ['--version'], { stdio: 'ignore' }).error !== undefined) missing.push('curl');
const skipNote = missing.length > 0 ? ` (SKIPPED: ${missing.join(', ')} not installed)` : '';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(missing.length > 0)(`MCR layer cache with anonymous tokens${skipNote}`, () => {
  let registry: TestRegistry;
  let image: OciImage;
  let work: string;
  let tagsFile: string;
  let caDir: string;
  let certDir: string;
  const gateways: TestGateway[] = [];

  async function gatewayFor(cacheDir: string): Promise<TestGateway> {
    const gw = await startGateway(
      cacheGatewayConfig({
        registry,
        caDir,
        tagsFile,
        cacheDir,
        targets: { registries: [], mcr: { inspect: true, cache: true } },
      }),
    );
    gateways.push(gw);
    return gw;
  }

  const blobUrl = (digest: string, repo = REPO): string => registryBlobPath(repo, digest);
  const served = (digest: string): number => bodiesServed(registry, digest);
  const authorized = (digest: string): number => authorizedRedirects(registry, REPO, digest);
  /** The client's status and the record's cache field of each blob GET of one digest. */
  const blobRecords = (gw: TestGateway, digest: string): { status: unknown; cache: unknown }[] =>
    gw
      .records()
      .filter((r) => r.kind === 'request' && r.method === 'GET' && r.path === blobUrl(digest))
      .map((r) => ({ status: r.status, cache: r.cache ?? 'none' }));

  function pull(gw: TestGateway): Promise<{ ok: boolean; stderr: string; out: string }> {
    const out = mkdtempSync(join(work, 'pulled-'));
    return skopeoCopy({
      from: `docker://${registry.loginServer}:${registry.port}/${REPO}:8.0`,
      to: `oci:${out}:8.0`,
      srcCertDir: certDir,
      proxy: gw.proxyUrl,
      workDir: mkdtempSync(join(work, 'skopeo-')),
    }).then((r) => ({ ok: r.ok, stderr: r.stderr, out }));
  }

  function curl(gw: TestGateway, path: string, bearer: string | null): Promise<Fetched> {
    const args = bearer === null ? [] : ['-H', `Authorization: Bearer ${bearer}`];
    const url = `https://${registry.loginServer}:${registry.port}${path}`;
    return curlThrough(gw.proxyUrl, join(caDir, 'ca.crt'), url, args, work);
  }

  /** An anonymous pull token for repo, asked of MCR's /oauth2/token through the gateway. */
  async function anonymousToken(gw: TestGateway, repo = REPO): Promise<string> {
    const q = new URLSearchParams({ service: registry.loginServer, scope: `repository:${repo}:pull` });
    const r = await curl(gw, `/oauth2/token?${q.toString()}`, null);
    if (r.status !== 200) throw new Error(`token request answered ${r.status}`);
    return (JSON.parse(r.body.toString()) as { token: string }).token;
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'acr-egress-cache-mcr-'));
    // MCR's login server sits in MicrosoftContainerRegistry, its data hosts behind Front Door.
    registry = await startRegistry({
      loginServer: 'mcr.microsoft.com',
      blobHost: 'eastus.data.mcr.microsoft.com',
      registryIp: '127.0.0.4',
      blobIp: '127.0.0.5',
      token: {
        users: { publisher: { password: 'p4ss', repositories: { [REPO]: ['pull', 'push'] } } },
        anonymousPull: [REPO],
      },
    });
    // certDir trusts the registry's CA too: redirects the gateway relays (small blobs) send skopeo to
    // the data host itself, as on MCR.
    ({ caDir, certDir } = writeInspectTrust(work, registry, 'e2e mcr cache CA'));
    image = writeOciImage(join(work, 'src'), '8.0', LAYER_BYTES);
    tagsFile = writeTagsFile(loopbackTags(), 1, work);
    await pushToLoginServer(registry, image, REPO, '8.0', PUBLISHER, work);
  }, 60_000);

  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('an anonymous second pull fetches no layer body from the data host and still asks MCR per layer', async () => {
    const gw = await gatewayFor(join(work, 'cache-a'));
    const first = await pull(gw);
    expect(first.ok, first.stderr).toBe(true);
    // skopeo had no credentials: it asked /oauth2/token anonymously, through the gateway.
    expect(registry.tokens!.requests.some((r) => r.user === null && r.status === 200)).toBe(true);
    const second = await pull(gw);
    expect(second.ok, second.stderr).toBe(true);
    for (const layer of image.layers) {
      expect(served(layer.digest)).toBe(1);
      expect(authorized(layer.digest)).toBe(2);
      expect(sha(readFileSync(join(second.out, 'blobs', 'sha256', layer.digest.slice(7))))).toBe(layer.digest);
    }
    expect(gw.gateway.cache?.totals.hit).toBe(image.layers.length);
  });

  it("refuses what MCR refuses, with MCR's own 401, though the layer is cached", async () => {
    const dir = join(work, 'cache-b');
    const gw = await gatewayFor(dir);
    const layer = image.layers[0]!;
    const good = await anonymousToken(gw);
    expect(sha((await curl(gw, blobUrl(layer.digest), good)).body)).toBe(layer.digest);
    await expect.poll(() => existsSync(blobPath(dir, layer.digest.slice(7)))).toBe(true);
    const hits = gw.gateway.cache!.totals.hit;
    const refusals: [string, string, string | null][] = [
      ['no token', blobUrl(layer.digest), null],
      [
        'an expired anonymous token',
        blobUrl(layer.digest),
        registry.tokens!.mint('', [{ type: 'repository', name: REPO, actions: ['pull'] }], { expired: true }),
      ],
      // The service grants nothing for a repository that is not public; the registry then refuses.
      [
        'a repository MCR does not serve',
        blobUrl(layer.digest, 'private/thing'),
        await anonymousToken(gw, 'private/thing'),
      ],
    ];
    for (const [what, path, bearer] of refusals) {
      const refused = await curl(gw, path, bearer);
      expect(refused.status, what).toBe(401);
      expect(refused.body.toString(), what).toMatch(/UNAUTHORIZED|DENIED/);
      expect(refused.body.length, what).toBeLessThan(1000);
    }
    expect(gw.gateway.cache!.totals.hit).toBe(hits);
  });

  it('16 concurrent anonymous pulls make one fill per layer', async () => {
    const gw = await gatewayFor(join(work, 'cache-c'));
    const before = image.layers.map((l) => served(l.digest));
    const pulls = await Promise.all(Array.from({ length: 16 }, () => pull(gw)));
    for (const p of pulls) expect(p.ok, p.stderr).toBe(true);
    image.layers.forEach((l, i) => expect(served(l.digest)).toBe(before[i]! + 1));
    for (const layer of image.layers) {
      const caches = blobRecords(gw, layer.digest).map((r) => r.cache);
      expect(caches.filter((c) => c === 'miss')).toHaveLength(1);
      expect(caches.filter((c) => c === 'hit')).toHaveLength(15);
    }
    // The config blob is below minBlobBytes: MCR's redirect reached every client as it came.
    expect(image.config.size).toBeLessThan(4096);
    await expect
      .poll(() => blobRecords(gw, image.config.digest))
      .toEqual(Array.from({ length: 16 }, () => ({ status: 307, cache: 'bypass' })));
  }, 120_000);
});
