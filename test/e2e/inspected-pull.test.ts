// Inspection end to end: skopeo trusting the gateway's CA pulls through an inspected tunnel from
// docker-registry posing as myregistry.azurecr.io (inspect: true, pullOnly: true, blobStorage:
// learned), whose layer GETs redirect to a blob host posing as account1.blob.core.windows.net.
// Then what inspection refuses, what it learns, and what it never keeps.
// Needs `apt-get install skopeo docker-registry curl`.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/audit/record.js';
import pino from 'pino';
import { createAdminApp } from '../../src/admin/app.js';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { Gateway } from '../../src/gateway.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { connectThrough, tlsOver } from '../helpers/raw.js';
import { missingRegistryTools, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { loopbackTags, writeTagsFile } from '../helpers/tags.js';
import { writeOciImage, type OciImage } from './oci-image.js';
import { skopeoCopy, type SkopeoResult } from './skopeo.js';
import { writeInspectTrust } from './inspect-setup.js';

const LAYER_BYTES = [2 * 1024 * 1024, 512 * 1024];
const missing = missingRegistryTools();
if (spawnSync('curl', ['--version'], { stdio: 'ignore' }).status !== 0) missing.push('curl');
const skipNote =
  missing.length > 0
    ? ` (SKIPPED: ${missing.join(', ')} not installed; apt-get install -y skopeo docker-registry curl)`
    : '';

function sha256File(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

interface Curl {
  status: number;
  body: string;
  stderr: string;
}

/** curl through the gateway, trusting the gateway's CA; -w prints the status after the body. */
function curl(proxy: string, caFile: string, url: string, extra: string[] = []): Promise<Curl> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', '20', '--proxy', proxy, '--cacert', caFile, '-w', '\n%{http_code}', ...extra, url],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (_err, stdout, stderr) => {
        const i = stdout.lastIndexOf('\n');
        resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i), stderr });
      },
    );
  });
}

describe.skipIf(missing.length > 0)(`inspected pulls through the gateway${skipNote}`, () => {
  let registry: TestRegistry;
  let image: OciImage;
  let work: string;
  let tagsFile: string;
  let caDir: string;
  /** Gateway CA and registry CA together: skopeo sees the first on the login server, the second on the blob host. */
  let certDir: string;
  const gateways: TestGateway[] = [];

  async function gatewayFor(
    opts: { ttl?: number; trustRegistry?: boolean; extra?: object } = {},
  ): Promise<TestGateway> {
    const gw = await startGateway(
      testConfig({
        proxy: { listen: '127.0.0.1:0', ports: [registry.port], connectTimeoutMs: 2000, drainTimeoutMs: 500 },
        registries: [
          {
            name: 'myregistry',
            regions: ['eastus'],
            inspect: true,
            pullOnly: true,
            blobStorage: 'learned',
            repositories: ['demo', 'team-a/*'],
          },
          { name: 'wrongname', regions: ['eastus'], inspect: true, blobStorage: false },
        ],
        inspect: {
          caCertFile: join(caDir, 'ca.crt'),
          caKeyFile: join(caDir, 'ca.key'),
          upstreamCaFile: opts.trustRegistry === false ? null : join(registry.certDir, 'ca.crt'),
          learnedTtlSeconds: opts.ttl ?? 600,
        },
        serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
        dns: {
          servers: ['127.0.0.1:1'],
          timeoutMs: 300,
          overrides: {
            [registry.loginServer]: [registry.registryIp],
            'wrongname.azurecr.io': [registry.registryIp],
            [registry.blobHost]: [registry.blobIp],
            'account2.blob.core.windows.net': [registry.blobIp],
          },
        },
        ...opts.extra,
      }),
    );
    gateways.push(gw);
    return gw;
  }

  function skopeo(gw: TestGateway, from: string, to: string): Promise<SkopeoResult> {
    return skopeoCopy({
      from,
      to,
      srcCertDir: certDir,
      destCertDir: certDir,
      proxy: gw.proxyUrl,
      workDir: mkdtempSync(join(work, 'skopeo-')),
    });
  }

  const requests = (gw: TestGateway): DecisionRecord[] => gw.records().filter((r) => r.kind === 'request');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'acr-egress-inspect-e2e-'));
    registry = await startRegistry();
    ({ caDir, certDir } = writeInspectTrust(work, registry, 'e2e inspection CA'));
    image = writeOciImage(join(work, 'src'), '1', LAYER_BYTES);
    tagsFile = writeTagsFile(loopbackTags(), 1, work);
    for (const repo of ['demo', 'secret/app']) {
      const push = await skopeoCopy({
        from: `oci:${image.dir}:1`,
        to: `docker://${registry.registryIp}:${registry.port}/${repo}:1`,
        destCertDir: registry.certDir,
        workDir: mkdtempSync(join(work, 'skopeo-')),
      });
      if (!push.ok) throw new Error(`skopeo push failed (${push.code}):\n${push.stderr}\n${registry.log()}`);
    }
  }, 60_000);

  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('pulls byte-identical layers, records the manifest digest and repository, learns the blob host and refuses another storage account', async () => {
    const gw = await gatewayFor();
    const out = join(work, 'pulled');
    const pull = await skopeo(gw, `docker://${registry.loginServer}:${registry.port}/demo:1`, `oci:${out}:1`);
    expect(pull.ok, `skopeo failed:\n${pull.stderr}`).toBe(true);
    for (const layer of image.layers)
      expect(sha256File(join(out, 'blobs', 'sha256', layer.digest.slice(7)))).toBe(layer.digest);

    const manifest = await gw.waitForRecord(
      (r) => r.kind === 'request' && r.path === '/v2/demo/manifests/1' && r.method === 'GET',
    );
    expect(manifest).toMatchObject({
      decision: 'allowed',
      repository: 'demo',
      reference: '1',
      status: 200,
      rule: 'registry:myregistry:login',
      host: registry.loginServer,
    });
    expect(manifest.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const blobGets = requests(gw).filter((r) => r.path?.includes('/blobs/') && r.method === 'GET');
    expect(blobGets.length).toBeGreaterThan(0);
    for (const r of blobGets) expect(r.status).toBe(307);

    // The layers came over tunnels allowed only because the registry redirected this client there.
    const blob = await gw.waitForRecord((r) => r.host === registry.blobHost && r.bytesDown !== null);
    expect(blob).toMatchObject({
      decision: 'allowed',
      rule: 'registry:myregistry:blob-learned',
      tag: 'Storage.EastUS',
    });
    expect(gw.gateway.inspector.learned.list()).toEqual([
      expect.objectContaining({ client: '127.0.0.1', host: registry.blobHost, registry: 'myregistry' }),
    ]);
    // A reload that keeps the registry keeps what it learned.
    expect(await gw.gateway.reload()).toMatchObject({ ok: true });
    expect(gw.gateway.inspector.learned.list().map((e) => e.host)).toEqual([registry.blobHost]);
    const tunnel = await gw.waitForRecord((r) => r.id === manifest.tunnel && r.kind === undefined);
    expect(tunnel).toMatchObject({ host: registry.loginServer, decision: 'allowed' });

    const other = await connectThrough(gw.port, `account2.blob.core.windows.net:${registry.port}`);
    other.socket.destroy();
    expect(other.status).toBe(403);
    const refused = await gw.waitForRecord((r) => r.host === 'account2.blob.core.windows.net');
    expect(refused).toMatchObject({ decision: 'blocked', reason: 'host_not_allowed' });
    expect(refused.detail).toMatch(/no registry redirected client 127\.0\.0\.1 there/);
  });

  it('refuses a push with push_not_allowed in skopeo output', async () => {
    const gw = await gatewayFor();
    const push = await skopeo(gw, `oci:${image.dir}:1`, `docker://${registry.loginServer}:${registry.port}/demo:2`);
    expect(push.ok).toBe(false);
    expect(push.stderr).toContain('push_not_allowed');
    const refused = await gw.waitForRecord((r) => r.kind === 'request' && r.reason === 'push_not_allowed');
    expect(refused).toMatchObject({ decision: 'blocked', repository: 'demo', status: 403 });
  });

  it('refuses a repository outside repositories with repository_not_allowed in skopeo output', async () => {
    const gw = await gatewayFor();
    const out = `oci:${join(work, 'secret')}:1`;
    const pull = await skopeo(gw, `docker://${registry.loginServer}:${registry.port}/secret/app:1`, out);
    expect(pull.ok).toBe(false);
    expect(pull.stderr).toContain('repository_not_allowed');
    expect(registry.blobRequests.filter((p) => p.includes('secret'))).toEqual([]);
  });

  it('forgets a learned blob host after inspect.learnedTtlSeconds', async () => {
    const gw = await gatewayFor({ ttl: 1 });
    const pull = await skopeo(
      gw,
      `docker://${registry.loginServer}:${registry.port}/demo:1`,
      `oci:${join(work, 'ttl')}:1`,
    );
    expect(pull.ok, pull.stderr).toBe(true);
    await expect
      .poll(
        async () => {
          const answer = await connectThrough(gw.port, `${registry.blobHost}:${registry.port}`);
          answer.socket.destroy();
          return answer.status;
        },
        { timeout: 20_000, interval: 250 },
      )
      .toBe(403);
    expect(gw.gateway.inspector.learned.list()).toEqual([]);
  });

  it('answers upstream_tls_error for an untrusted registry CA and for a certificate of another name', async () => {
    const untrusted = await gatewayFor({ trustRegistry: false });
    const a = await curl(
      untrusted.proxyUrl,
      join(caDir, 'ca.crt'),
      `https://${registry.loginServer}:${registry.port}/v2/`,
    );
    expect(a.status).toBe(502);
    expect(a.body).toContain('acr-egress: upstream_tls_error');
    const trusted = await gatewayFor();
    const b = await curl(trusted.proxyUrl, join(caDir, 'ca.crt'), `https://wrongname.azurecr.io:${registry.port}/v2/`);
    expect(b.status).toBe(502);
    expect(b.body).toContain('upstream_tls_error');
    expect(b.body).toMatch(/wrongname\.azurecr\.io/);
    const rec = await trusted.waitForRecord((r) => r.kind === 'request' && r.host === 'wrongname.azurecr.io');
    expect(rec).toMatchObject({ decision: 'blocked', reason: 'upstream_tls_error', status: 502 });
  });

  it('keeps the bearer token, a token-endpoint body and a SAS query string out of the audit log, the operational log and every admin answer', async () => {
    const dir = mkdtempSync(join(work, 'secrets-'));
    const opsLog = join(dir, 'ops.log');
    const auditLog = join(dir, 'audit.log');
    const base = testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [registry.port], connectTimeoutMs: 2000, drainTimeoutMs: 500 },
      registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, pullOnly: true, blobStorage: 'learned' }],
      inspect: {
        caCertFile: join(caDir, 'ca.crt'),
        caKeyFile: join(caDir, 'ca.key'),
        upstreamCaFile: join(registry.certDir, 'ca.crt'),
      },
      serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], timeoutMs: 300, overrides: { [registry.loginServer]: [registry.registryIp] } },
      admin: { listen: null, token: 'admin-token-0123456789' },
      log: { level: 'trace', file: auditLog },
    });
    const configFile = join(dir, 'acr-egress.json');
    writeFileSync(configFile, JSON.stringify(base));
    const gateway = await Gateway.create({
      configFile,
      logger: pino({ level: 'trace' }, pino.destination({ dest: opsLog, sync: true })),
    });
    const addr = await gateway.listen();
    const proxy = `http://127.0.0.1:${addr.port}`;
    const app = createAdminApp(adminDepsFromGateway(gateway));
    try {
      const origin = `https://${registry.loginServer}:${registry.port}`;
      const layer = image.layers[0]!.digest;
      const ca = join(caDir, 'ca.crt');
      const auth = ['-H', 'Authorization: Bearer SECRETBEARER123'];
      const blob = await curl(proxy, ca, `${origin}/v2/demo/blobs/${layer}?sig=SECRETSIG&se=2030`, auth);
      expect(blob.status).toBe(307);
      const token = await curl(proxy, ca, `${origin}/oauth2/token?scope=x&password=SECRETQUERY`, [
        ...auth,
        '--data',
        'grant_type=refresh_token&refresh_token=SECRETREFRESH',
      ]);
      expect(token.status).toBeGreaterThan(0);
      const push = await curl(proxy, ca, `${origin}/v2/demo/blobs/uploads/?from=x&sig=SECRETSIG`, [
        ...auth,
        '-X',
        'POST',
      ]);
      expect(push.status).toBe(403);
      expect(push.body).toContain('push_not_allowed');

      const waitFor = (pred: (r: DecisionRecord) => boolean): Promise<void> =>
        expect.poll(() => [...gateway.store.newestFirst()].some(pred), { timeout: 10_000, interval: 50 }).toBe(true);
      await waitFor((r) => r.kind === 'request' && r.path === '/oauth2/token');
      const answers: string[] = [];
      for (const url of [
        '/api/v1/logs?limit=1000',
        '/api/v1/logs?limit=1000&host=myregistry.azurecr.io',
        '/api/v1/stats',
        '/api/v1/inspect',
        '/api/v1/inspect/learned',
        '/api/v1/policy',
        '/metrics',
      ]) {
        const res = await app.inject({ url, headers: { authorization: 'Bearer admin-token-0123456789' } });
        expect(res.statusCode, url).toBe(200);
        answers.push(res.body);
      }
      const records = [...gateway.store.newestFirst()];
      expect(records.some((r) => r.path === `/v2/demo/blobs/${layer}`)).toBe(true);
      await gateway.stop();
      const texts = {
        audit: readFileSync(auditLog, 'utf8'),
        ops: readFileSync(opsLog, 'utf8'),
        admin: answers.join('\n'),
        store: JSON.stringify(records),
      };
      expect(texts.audit).toContain('/oauth2/token');
      for (const [where, text] of Object.entries(texts)) {
        for (const secret of ['SECRETBEARER123', 'SECRETSIG', 'SECRETREFRESH', 'SECRETQUERY', 'sig=', 'Bearer '])
          expect(text.includes(secret), `${secret} found in ${where}`).toBe(false);
      }
    } finally {
      await app.close();
      await gateway.stop();
    }
  });

  it('signs 200 distinct inspected hosts 200 times, however many connections each gets', async () => {
    const hosts = Array.from({ length: 200 }, (_, i) => `myregistry.r${i}.data.azurecr.io`);
    const gw = await gatewayFor({
      extra: {
        registries: [{ name: 'myregistry', inspect: true, pullOnly: true, blobStorage: false }],
        dns: {
          servers: ['127.0.0.1:1'],
          timeoutMs: 300,
          overrides: Object.fromEntries(hosts.map((h) => [h, [registry.registryIp]])),
        },
      },
    });
    const gatewayCa = readFileSync(join(caDir, 'ca.crt'), 'utf8');
    const before = gw.gateway.inspector.status().leaf;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < hosts.length; i += 20) {
        await Promise.all(
          hosts.slice(i, i + 20).map(async (host) => {
            const answer = await connectThrough(gw.port, `${host}:${registry.port}`);
            expect(answer.status, host).toBe(200);
            const tls = await tlsOver(answer.socket, host, gatewayCa);
            expect(tls.getPeerCertificate().subjectaltname).toBe(`DNS:${host}`);
            tls.destroy();
          }),
        );
      }
    }
    const after = gw.gateway.inspector.status().leaf;
    expect(after.signatures - before.signatures).toBe(200);
    expect(after.hits - before.hits).toBe(200);
  }, 120_000);
});
