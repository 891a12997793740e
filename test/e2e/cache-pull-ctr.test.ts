// The layer cache end to end with containerd's `ctr`: it pulls in its own process (HTTPS_PROXY to
// the gateway, the gateway's CA through a hosts.toml) from docker-registry posing as
// myregistry.azurecr.io, with ACR's token flow and layer GETs redirected to a storage stand-in.
// Each pull goes into a fresh containerd (own root, state and socket; no CRI; native snapshots).
// Needs `apt-get install containerd skopeo docker-registry` and root.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { missingRegistryTools, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { loopbackTags, writeTagsFile } from '../helpers/tags.js';
import { containerdUnavailable, startContainerd, type Containerd, type CtrResult } from './containerd.js';
import { writeOciImage, type OciImage } from './oci-image.js';
import {
  cacheGatewayConfig,
  pushToLoginServer,
  writeInspectTrust,
  TOKEN_USERS,
  bodiesServed,
  authorizedRedirects,
  cacheResults,
} from './inspect-setup.js';

const LAYER_BYTES = [1536 * 1024, 640 * 1024];
const USER = 'alice:s3cret';
/** A known user whose tokens cover another repository only. */
const BOB = 'bob:hunter2';
const missing = missingRegistryTools();
const unavailable = containerdUnavailable();
if (unavailable !== null) missing.push(unavailable);
const skipNote = missing.length > 0 ? ` (SKIPPED: ${missing.join(', ')})` : '';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(missing.length > 0)(`layer cache through the gateway with ctr${skipNote}`, () => {
  let registry: TestRegistry;
  let image: OciImage;
  let work: string;
  let tagsFile: string;
  let caDir: string;
  let hostsDir: string;
  const gateways: TestGateway[] = [];
  const daemons: Containerd[] = [];

  async function gatewayFor(cacheDir: string): Promise<TestGateway> {
    const gw = await startGateway(
      cacheGatewayConfig({
        registry,
        caDir,
        tagsFile,
        cacheDir,
        targets: {
          registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, cache: true, blobStorage: 'learned' }],
        },
      }),
    );
    gateways.push(gw);
    return gw;
  }

  /** A containerd with an empty content store. */
  async function freshContainerd(): Promise<Containerd> {
    const d = await startContainerd(work);
    daemons.push(d);
    return d;
  }

  const ref = (): string => `${registry.loginServer}:${registry.port}/demo:1`;

  /** `ctr image pull` through the gateway into d, unpacked with the native snapshotter. */
  const pull = (d: Containerd, gw: TestGateway, creds: string): Promise<CtrResult> =>
    d.ctr(['image', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, '--user', creds, ref()], gw.proxyUrl);

  /** The digests d's content store holds. */
  async function contentDigests(d: Containerd): Promise<string[]> {
    const ls = await d.ctr(['content', 'ls', '--quiet']);
    expect(ls.ok, ls.stderr).toBe(true);
    return ls.stdout
      .toString()
      .split('\n')
      .filter((l) => l !== '');
  }

  const served = (digest: string): number => bodiesServed(registry, digest);
  const authorized = (digest: string): number => authorizedRedirects(registry, 'demo', digest);
  const cacheRecords = (gw: TestGateway, digest: string): string[] => cacheResults(gw, 'demo', digest);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'acr-egress-ctr-e2e-'));
    registry = await startRegistry({
      token: { users: TOKEN_USERS },
    });
    const trust = writeInspectTrust(work, registry, 'e2e ctr cache CA');
    caDir = trust.caDir;
    // containerd's per-host config: trust the gateway's CA (the inspected login server) and the
    // registry's (the blob host the redirects name, which the gateway passes through as it is).
    hostsDir = join(work, 'hosts');
    const host = `${registry.loginServer}:${registry.port}`;
    mkdirSync(join(hostsDir, host), { recursive: true });
    const cas = ['gateway-ca.crt', 'registry-ca.crt'].map((f) => JSON.stringify(join(trust.certDir, f)));
    // containerd 1.6 refuses a hosts.toml without a [host] table; an empty one leaves the server alone.
    writeFileSync(join(hostsDir, host, 'hosts.toml'), `server = "https://${host}"\nca = [${cas.join(', ')}]\n[host]\n`);
    image = writeOciImage(join(work, 'src'), '1', LAYER_BYTES);
    tagsFile = writeTagsFile(loopbackTags(), 1, work);
    await pushToLoginServer(registry, image, 'demo', '1', USER, work);
  }, 60_000);

  afterAll(async () => {
    for (const d of daemons) await d.stop();
    for (const gw of gateways) await gw.stop();
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('a ctr pull into a fresh content store is served from the cache the first one filled, and the digests match', async () => {
    const gw = await gatewayFor(join(work, 'cache-a'));
    const first = await pull(await freshContainerd(), gw, USER);
    expect(first.ok, first.stderr).toBe(true);
    // ctr fetched its token from the login server's /oauth2/token through the gateway.
    expect(registry.tokens!.requests.some((r) => r.user === 'alice' && r.status === 200)).toBe(true);
    for (const layer of image.layers) {
      expect(served(layer.digest)).toBe(1);
      expect(authorized(layer.digest)).toBe(1);
      await expect.poll(() => cacheRecords(gw, layer.digest)).toEqual(['miss']);
    }
    const d = await freshContainerd();
    const second = await pull(d, gw, USER);
    expect(second.ok, second.stderr).toBe(true);
    expect(await contentDigests(d)).toEqual(
      expect.arrayContaining([image.manifestDigest, image.config.digest, ...image.layers.map((l) => l.digest)]),
    );
    for (const layer of image.layers) {
      // No layer body upstream, but the registry still said yes to this pull's own request.
      expect(served(layer.digest)).toBe(1);
      expect(authorized(layer.digest)).toBe(2);
      await expect.poll(() => cacheRecords(gw, layer.digest)).toEqual(['miss', 'hit']);
      const got = await d.ctr(['content', 'get', layer.digest]);
      expect(got.ok, got.stderr).toBe(true);
      expect(sha(got.stdout)).toBe(layer.digest);
    }
    expect(gw.gateway.cache?.totals.hit).toBe(image.layers.length);
    // The image was unpacked: containerd read every layer it was given.
    const check = await d.ctr(['image', 'check']);
    expect(check.stdout.toString()).toMatch(/complete/);
  });

  it('after `ctr content rm` and `ctr image rm --sync` the same containerd pulls again from the cache', async () => {
    const gw = await gatewayFor(join(work, 'cache-e'));
    const d = await freshContainerd();
    const before = image.layers.map((l) => served(l.digest));
    const asked = image.layers.map((l) => authorized(l.digest));
    const first = await pull(d, gw, USER);
    expect(first.ok, first.stderr).toBe(true);
    const crm = await d.ctr(['content', 'rm', ...image.layers.map((l) => l.digest)]);
    expect(crm.ok, crm.stderr).toBe(true);
    // The collection removes the blobs themselves, so the next pull cannot adopt them from disk.
    const irm = await d.ctr(['image', 'rm', '--sync', ref()]);
    expect(irm.ok, irm.stderr).toBe(true);
    const held = await contentDigests(d);
    for (const layer of image.layers) expect(held).not.toContain(layer.digest);
    const again = await pull(d, gw, USER);
    expect(again.ok, again.stderr).toBe(true);
    for (const [i, layer] of image.layers.entries()) {
      expect(served(layer.digest)).toBe(before[i]! + 1);
      expect(authorized(layer.digest)).toBe(asked[i]! + 2);
      await expect.poll(() => cacheRecords(gw, layer.digest)).toEqual(['miss', 'hit']);
      expect(sha((await d.ctr(['content', 'get', layer.digest])).stdout)).toBe(layer.digest);
    }
  });

  it('a ctr pull with a wrong password, or for a repository its token does not cover, gets nothing from the warm cache', async () => {
    const gw = await gatewayFor(join(work, 'cache-a'));
    const before = image.layers.map((l) => served(l.digest));
    const refusals: Record<string, RegExp> = {
      // The login server's /oauth2/token said no: no token, so no layer request at all.
      'alice:wrong': /failed to fetch oauth token: unexpected status: 401/,
      // A token, but the registry refused it for this repository.
      [BOB]: /pull access denied.*insufficient_scope/,
    };
    for (const [creds, why] of Object.entries(refusals)) {
      const d = await freshContainerd();
      const refused = await pull(d, gw, creds);
      expect(refused.ok, creds).toBe(false);
      expect(refused.stderr, creds).toMatch(why);
      expect(refused.stderr, creds).not.toMatch(/x509/);
      const held = await contentDigests(d);
      for (const layer of image.layers) expect(held, creds).not.toContain(layer.digest);
    }
    expect(gw.gateway.cache!.totals.hit).toBe(0);
    image.layers.forEach((l, i) => expect(served(l.digest)).toBe(before[i]));
    // The same warm cache serves the client the registry does let in.
    const ok = await pull(await freshContainerd(), gw, USER);
    expect(ok.ok, ok.stderr).toBe(true);
    expect(gw.gateway.cache!.totals.hit).toBe(image.layers.length);
    image.layers.forEach((l, i) => expect(served(l.digest)).toBe(before[i]));
  });
});
