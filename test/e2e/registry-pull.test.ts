// A real registry client pulling a real image through the gateway: skopeo against Debian's
// docker-registry posing as myregistry.azurecr.io, whose layer GETs redirect (307) to a blob host
// posing as account1.blob.core.windows.net, exactly as ACR redirects to Azure Storage. Then the
// refusals a locked-down host would see. Needs `apt-get install skopeo docker-registry`.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/audit/record.js';
import { hashPassword } from '../../src/auth/password-hash.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { missingRegistryTools, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { loopbackTags, writeTagsFile } from '../helpers/tags.js';
import { writeOciImage, type OciImage } from './oci-image.js';
import { skopeoCopy, type SkopeoResult } from './skopeo.js';

// Several layers, so skopeo downloads them over parallel redirected tunnels.
const LAYER_BYTES = [4 * 1024 * 1024, 1024 * 1024, 512 * 1024];
const missing = missingRegistryTools();
const skipNote =
  missing.length > 0
    ? ` (SKIPPED: ${missing.join(' and ')} not installed; apt-get install -y skopeo docker-registry)`
    : '';
if (missing.length > 0) console.warn(`test/e2e/registry-pull.test.ts${skipNote}`);

function sha256File(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

function blobPath(layoutDir: string, digest: string): string {
  return join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

describe.skipIf(missing.length > 0)(`skopeo pulls an image through the gateway${skipNote}`, () => {
  let registry: TestRegistry;
  let image: OciImage;
  let work: string;
  let tagsFile: string;
  const gateways: TestGateway[] = [];

  /** A gateway that knows the loopback registry: names map to 127.0.0.x, the tags file stands in for Azure's. */
  async function gatewayFor(
    opts: { blobStorage?: boolean; tags?: string; mode?: 'enforce' | 'report'; usersFile?: string } = {},
  ): Promise<TestGateway> {
    const gw = await startGateway(
      testConfig({
        mode: opts.mode ?? 'enforce',
        proxy: {
          listen: '127.0.0.1:0',
          ports: [registry.port],
          clientHelloTimeoutMs: 5000,
          connectTimeoutMs: 2000,
          drainTimeoutMs: 500,
          auth: { usersFile: opts.usersFile ?? null },
        },
        registries: [{ name: 'myregistry', regions: ['eastus'], blobStorage: opts.blobStorage ?? true }],
        serviceTags: { enforce: true, source: opts.tags ?? tagsFile, cacheFile: null },
        dns: {
          servers: ['127.0.0.1:1'],
          timeoutMs: 300,
          overrides: {
            [registry.loginServer]: [registry.registryIp],
            'other.azurecr.io': [registry.registryIp],
            [registry.blobHost]: [registry.blobIp],
          },
        },
      }),
    );
    gateways.push(gw);
    return gw;
  }

  /** `credentials`: `user:password` put in the proxy URL, as HTTPS_PROXY=http://user:pw@host:port. */
  function pullThrough(gw: TestGateway, repo: string, out: string, credentials?: string): Promise<SkopeoResult> {
    return skopeoCopy({
      from: `docker://${repo}`,
      to: `oci:${join(work, out)}:1`,
      srcCertDir: registry.certDir,
      proxy: credentials === undefined ? gw.proxyUrl : gw.proxyUrl.replace('http://', `http://${credentials}@`),
      workDir: mkdtempSync(join(work, 'skopeo-')),
    });
  }

  function tunnelsTo(gw: TestGateway, host: string): DecisionRecord[] {
    return gw.records().filter((r) => r.host === host);
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'acr-egress-e2e-'));
    registry = await startRegistry({ extraNames: ['other.azurecr.io'] });
    image = writeOciImage(join(work, 'src'), '1', LAYER_BYTES);
    tagsFile = writeTagsFile(loopbackTags(), 1, work);
    // Straight to the registry's address (its certificate has the IP SAN): no proxy, no name lookup.
    const push = await skopeoCopy({
      from: `oci:${image.dir}:1`,
      to: `docker://${registry.registryIp}:${registry.port}/demo:1`,
      destCertDir: registry.certDir,
      workDir: mkdtempSync(join(work, 'skopeo-')),
    });
    if (!push.ok)
      throw new Error(`skopeo push failed (${push.code}):\n${push.stderr}\nregistry log:\n${registry.log()}`);
  });

  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('pulls the image byte-identical, the layer redirected to the blob host, and records both tunnels with their bytes', async () => {
    const gw = await gatewayFor();
    const pull = await pullThrough(gw, `${registry.loginServer}:${registry.port}/demo:1`, 'pulled');
    expect(pull.ok, `skopeo failed:\n${pull.stderr}`).toBe(true);

    for (const layer of image.layers) {
      const pulled = blobPath(join(work, 'pulled'), layer.digest);
      expect(sha256File(pulled)).toBe(layer.digest);
      expect(readFileSync(pulled).equals(readFileSync(blobPath(image.dir, layer.digest)))).toBe(true);
      // The layer came from the blob host, not the registry: the 307 was followed through the gateway.
      expect(registry.blobRequests).toContain(
        `GET /docker/registry/v2/blobs/sha256/${layer.digest.slice(7, 9)}/${layer.digest.slice(7)}/data`,
      );
    }

    const login = await gw.waitForRecord((r) => r.host === registry.loginServer && r.bytesDown !== null);
    expect(login).toMatchObject({
      mode: 'connect',
      decision: 'allowed',
      reason: null,
      rule: 'registry:myregistry:login',
      tag: 'AzureContainerRegistry.EastUS',
      ip: registry.registryIp,
      port: registry.port,
      sni: registry.loginServer,
    });
    expect(login.bytesUp).toBeGreaterThan(0);
    expect(login.bytesDown).toBeGreaterThan(0);

    await gw.waitForRecord((r) => r.host === registry.blobHost && r.bytesDown !== null);
    const blobTunnels = tunnelsTo(gw, registry.blobHost);
    for (const rec of blobTunnels) {
      expect(rec).toMatchObject({
        decision: 'allowed',
        rule: 'registry:myregistry:blob',
        tag: 'Storage.EastUS',
        ip: registry.blobIp,
        sni: registry.blobHost,
      });
    }
    const blobDown = blobTunnels.reduce((sum, r) => sum + (r.bytesDown ?? 0), 0);
    expect(blobDown).toBeGreaterThanOrEqual(image.layers.reduce((sum, l) => sum + l.size, 0));
    expect(gw.records().filter((r) => r.decision === 'blocked')).toEqual([]);
  });

  it('in report mode, lets the pull through with blobStorage: false and marks the blob tunnel as a would-be host_not_allowed', async () => {
    const gw = await gatewayFor({ blobStorage: false, mode: 'report' });
    const pull = await pullThrough(gw, `${registry.loginServer}:${registry.port}/demo:1`, 'pulled-report');
    expect(pull.ok, `skopeo failed:\n${pull.stderr}`).toBe(true);
    for (const layer of image.layers)
      expect(sha256File(blobPath(join(work, 'pulled-report'), layer.digest))).toBe(layer.digest);
    const blob = await gw.waitForRecord((r) => r.host === registry.blobHost && r.bytesDown !== null);
    expect(blob).toMatchObject({ decision: 'allowed', report: true, reason: 'host_not_allowed', rule: null });
    const login = tunnelsTo(gw, registry.loginServer);
    expect(login.length).toBeGreaterThan(0);
    for (const rec of login) expect(rec.report).toBeUndefined();
  });

  it('with proxy.auth.usersFile, pulls with credentials in the proxy URL (every tunnel records the user) and is refused 407 without', async () => {
    const usersFile = join(work, 'users');
    writeFileSync(usersFile, `build-agent:${await hashPassword('pull-secret')}\n`);
    const gw = await gatewayFor({ usersFile });
    const refused = await pullThrough(gw, `${registry.loginServer}:${registry.port}/demo:1`, 'pulled-noauth');
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toMatch(/407|Proxy Authentication Required/);
    await gw.waitForRecord((r) => r.reason === 'proxy_auth_required');

    const pull = await pullThrough(
      gw,
      `${registry.loginServer}:${registry.port}/demo:1`,
      'pulled-auth',
      'build-agent:pull-secret',
    );
    expect(pull.ok, `skopeo failed:\n${pull.stderr}`).toBe(true);
    for (const layer of image.layers)
      expect(sha256File(blobPath(join(work, 'pulled-auth'), layer.digest))).toBe(layer.digest);
    await gw.waitForRecord((r) => r.host === registry.blobHost && r.bytesDown !== null);
    const allowed = gw.records().filter((r) => r.decision === 'allowed');
    expect(allowed.length).toBeGreaterThan(1);
    for (const rec of allowed) expect(rec.user).toBe('build-agent');
    expect(readFileSync(gw.logFile, 'utf8')).not.toContain('pull-secret');
  });

  type Refusal = {
    name: string;
    gateway: () => Promise<TestGateway>;
    repo: () => string;
    blockedHost: () => string;
    reason: string;
    /** The login server was let through first (the refusal came at the layer download). */
    loginAllowed: boolean;
  };

  const refusals: Refusal[] = [
    {
      name: 'with blobStorage: false, refuses the layer download to the blob host with host_not_allowed',
      gateway: () => gatewayFor({ blobStorage: false }),
      repo: () => `${registry.loginServer}:${registry.port}/demo:1`,
      blockedHost: () => registry.blobHost,
      reason: 'host_not_allowed',
      loginAllowed: true,
    },
    {
      name: 'refuses a pull from a registry that is not in the config with host_not_allowed',
      gateway: () => gatewayFor(),
      repo: () => `other.azurecr.io:${registry.port}/demo:1`,
      blockedHost: () => 'other.azurecr.io',
      reason: 'host_not_allowed',
      loginAllowed: false,
    },
    {
      name: 'refuses the blob host with ip_not_in_service_tag once its address is outside the Storage tags',
      gateway: () => {
        const tags = loopbackTags().map((t) =>
          t.name.startsWith('Storage')
            ? { ...t, prefixes: t.prefixes.filter((p) => p !== `${registry.blobIp}/32`).concat('127.0.0.33/32') }
            : t,
        );
        return gatewayFor({ tags: writeTagsFile(tags, 2, mkdtempSync(join(work, 'tags-'))) });
      },
      repo: () => `${registry.loginServer}:${registry.port}/demo:1`,
      blockedHost: () => registry.blobHost,
      reason: 'ip_not_in_service_tag',
      loginAllowed: true,
    },
  ];

  it.each(refusals)('$name', async (c) => {
    const gw = await c.gateway();
    const blobRequestsBefore = registry.blobRequests.length;
    const pull = await pullThrough(gw, c.repo(), `refused-${c.reason}-${gateways.length}`);
    expect(pull.ok).toBe(false);
    // skopeo passes on the gateway's answer to CONNECT.
    expect(pull.stderr).toMatch(/403|Forbidden/);

    const blocked = await gw.waitForRecord((r) => r.host === c.blockedHost() && r.decision === 'blocked');
    expect(blocked).toMatchObject({ mode: 'connect', decision: 'blocked', reason: c.reason, port: registry.port });
    if (c.reason === 'ip_not_in_service_tag') expect(blocked.ip).toBe(registry.blobIp);
    const logins = tunnelsTo(gw, registry.loginServer);
    if (c.loginAllowed)
      expect(logins.some((r) => r.decision === 'allowed' && r.rule === 'registry:myregistry:login')).toBe(true);
    else expect(logins).toEqual([]);
    // Nothing was let through to the refused host, and the blob host saw no request.
    expect(tunnelsTo(gw, c.blockedHost()).filter((r) => r.decision === 'allowed')).toEqual([]);
    expect(registry.blobRequests.length).toBe(blobRequestsBefore);
  });
});
