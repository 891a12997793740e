// The setup the inspected-pull e2e tests share: the gateway's inspection CA and the cert dir skopeo
// trusts, the push of the test image to the registry by its login-server name, and the cache tests'
// gateway config, the token users they pull as, and the counts they read from the fixture and records.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa } from '../../src/tls/ca.js';
import { startConnectProxy } from '../helpers/connect-proxy.js';
import { testConfig, type TestGateway } from '../helpers/gateway.js';
import type { TestRegistry } from '../helpers/registry.js';
import type { TokenUser } from '../helpers/token-server.js';
import type { OciImage } from './oci-image.js';
import { skopeoCopy } from './skopeo.js';

/**
 * Writes a fresh inspection CA to work/ca (ca.crt, ca.key) and work/certs, the --src-cert-dir a client
 * pulling through the gateway uses: the gateway's CA and the registry's (for redirects it follows itself).
 */
export function writeInspectTrust(
  work: string,
  registry: TestRegistry,
  caName: string,
): { caDir: string; certDir: string } {
  const caDir = join(work, 'ca');
  mkdirSync(caDir);
  const ca = createCa(caName);
  writeFileSync(join(caDir, 'ca.crt'), ca.certPem);
  writeFileSync(join(caDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  const certDir = join(work, 'certs');
  mkdirSync(certDir);
  copyFileSync(join(caDir, 'ca.crt'), join(certDir, 'gateway-ca.crt'));
  copyFileSync(join(registry.certDir, 'ca.crt'), join(certDir, 'registry-ca.crt'));
  return { caDir, certDir };
}

/**
 * Pushes image:tag to repo:tag on the registry as `creds`. The token realm names the login server, so
 * the push goes through a plain CONNECT proxy that knows it.
 */
export async function pushToLoginServer(
  registry: TestRegistry,
  image: OciImage,
  repo: string,
  tag: string,
  creds: string,
  work: string,
): Promise<void> {
  const pushProxy = await startConnectProxy({ [registry.loginServer]: registry.registryIp });
  const push = await skopeoCopy({
    from: `oci:${image.dir}:${tag}`,
    to: `docker://${registry.loginServer}:${registry.port}/${repo}:${tag}`,
    destCertDir: registry.certDir,
    destCreds: creds,
    proxy: pushProxy.url,
    workDir: mkdtempSync(join(work, 'skopeo-')),
  });
  await pushProxy.close();
  if (!push.ok) throw new Error(`skopeo push failed (${push.code}):\n${push.stderr}\n${registry.log()}`);
}

/**
 * A gateway that inspects and caches what `targets` name: the CA in caDir, the registry's CA upstream,
 * a 64 MiB cache in cacheDir (blobs from 4 KiB), loopback service tags, and the login server and blob
 * host resolved by override only.
 */
export function cacheGatewayConfig(o: {
  registry: TestRegistry;
  caDir: string;
  tagsFile: string;
  cacheDir: string;
  /** The `registries` and `mcr` keys: what the gateway lets through. */
  targets: Record<string, unknown>;
}): Record<string, unknown> {
  const { registry } = o;
  return testConfig({
    proxy: { listen: '127.0.0.1:0', ports: [registry.port], connectTimeoutMs: 2000, drainTimeoutMs: 500 },
    ...o.targets,
    inspect: {
      caCertFile: join(o.caDir, 'ca.crt'),
      caKeyFile: join(o.caDir, 'ca.key'),
      upstreamCaFile: join(registry.certDir, 'ca.crt'),
    },
    cache: { dir: o.cacheDir, maxBytes: 64 * 1024 * 1024, minBlobBytes: 4096 },
    serviceTags: { enforce: true, source: o.tagsFile, cacheFile: null },
    dns: {
      servers: ['127.0.0.1:1'],
      timeoutMs: 300,
      overrides: { [registry.loginServer]: [registry.registryIp], [registry.blobHost]: [registry.blobIp] },
    },
  });
}

/** The ACR-like token users: alice may push and pull demo; bob may pull only other. */
export const TOKEN_USERS: Record<string, TokenUser> = {
  alice: { password: 's3cret', repositories: { demo: ['pull', 'push'] } },
  bob: { password: 'hunter2', repositories: { other: ['pull'] } },
};

export const registryBlobPath = (repo: string, digest: string): string => `/v2/${repo}/blobs/${digest}`;

/** Blob bodies the storage stand-in served for one layer. */
export function bodiesServed(registry: TestRegistry, digest: string): number {
  return registry.blobRequests.filter((r) => r.startsWith('GET ') && r.includes(`/${digest.slice(7)}/data`)).length;
}

/** Layer GETs the registry itself answered with its redirect, each carrying a bearer token. */
export function authorizedRedirects(registry: TestRegistry, repo: string, digest: string): number {
  const path = registryBlobPath(repo, digest);
  return registry.registryRequests.filter((r) => r.method === 'GET' && r.path === path && r.bearer && r.status === 307)
    .length;
}

/** The record's cache field of each blob GET of one layer, in order. */
export function cacheResults(gw: TestGateway, repo: string, digest: string): string[] {
  const path = registryBlobPath(repo, digest);
  return gw
    .records()
    .filter((r) => r.kind === 'request' && r.method === 'GET' && r.path === path)
    .map((r) => r.cache ?? 'none');
}
