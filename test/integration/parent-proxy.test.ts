// Tunnels handed to a parent proxy (proxy.parent): a real TLS tunnel through a loopback CONNECT
// proxy, credentials sent and never logged, the record marked via parent, host and SNI checks still
// applied, a refusing parent answered upstream_unreachable with its status, and enforce: true with
// a parent refused at load.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { startConnectProxy, type ConnectProxy } from '../helpers/connect-proxy.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { connectThrough, httpsGet, tlsOver } from '../helpers/raw.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'myregistry.azurecr.io';
const PASSWORD = 'parent-password-never-logged';
let acr: Upstream;
let parent: ConnectProxy;
let gw: TestGateway;

beforeAll(async () => {
  acr = await startUpstream({ names: [HOST] });
  parent = await startConnectProxy({ [HOST]: '127.0.0.1' });
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-parent-'));
  const credentials = join(dir, 'parent-credentials');
  writeFileSync(credentials, `corpuser:${PASSWORD}\n`);
  gw = await startGateway(
    testConfig({
      proxy: {
        listen: '127.0.0.1:0',
        ports: [acr.port],
        clientHelloTimeoutMs: 5000,
        connectTimeoutMs: 5000,
        parent: parent.url,
        parentCredentialsFile: credentials,
      },
      // dns.servers points nowhere: with a parent, the gateway resolves nothing itself.
      serviceTags: { enforce: true, enforceWithParent: false, source: null, cacheFile: null },
    }),
  );
});

afterAll(async () => {
  await gw.stop();
  await parent.close();
  await acr.close();
});

describe('a parent proxy', () => {
  it('carries an allowed tunnel: TLS end to end, credentials sent, record marked via parent with no ip', async () => {
    parent.refuseWith = null;
    const answer = await connectThrough(gw.port, `${HOST}:${acr.port}`);
    expect(answer.status).toBe(200);
    const tls = await tlsOver(answer.socket, HOST, acr.ca);
    expect(await httpsGet(tls, HOST, '/v2/')).toContain(`ok ${HOST}`);
    tls.destroy();
    expect(parent.log).toContainEqual({
      authority: `${HOST}:${acr.port}`,
      proxyAuthorization: `Basic ${Buffer.from(`corpuser:${PASSWORD}`).toString('base64')}`,
    });
    const rec = await gw.waitForRecord((r) => r.host === HOST && r.decision === 'allowed' && r.bytesUp !== null);
    expect(rec).toMatchObject({ via: 'parent', ip: null, sni: HOST, rule: 'registry:myregistry:login' });
    expect(JSON.stringify(gw.records())).not.toContain(PASSWORD);
  });

  it('still applies the host check: a name no rule allows never reaches the parent', async () => {
    const before = parent.log.length;
    const answer = await connectThrough(gw.port, `evil.example.com:${acr.port}`);
    expect(answer.status).toBe(403);
    expect(answer.headers['x-acr-egress-reason']).toBe('host_not_allowed');
    expect(parent.log.length).toBe(before);
  });

  it('answers upstream_unreachable with the status of a parent that refuses', async () => {
    parent.refuseWith = 407;
    const answer = await connectThrough(gw.port, `${HOST}:${acr.port}`);
    expect(answer.status).toBe(502);
    expect(answer.headers['x-acr-egress-reason']).toBe('upstream_unreachable');
    const rec = await gw.waitForRecord((r) => r.reason === 'upstream_unreachable');
    expect(rec.detail).toMatch(/parent proxy 127\.0\.0\.1:\d+ refused CONNECT myregistry\.azurecr\.io:\d+: 407/);
    expect(rec.via).toBe('parent');
    parent.refuseWith = null;
  });
});

describe('the audit log of those tunnels', () => {
  it('never holds the parent password', async () => {
    await gw.stop(); // flushes the audit log
    expect(readFileSync(gw.logFile, 'utf8')).toContain('"via":"parent"');
    expect(readFileSync(gw.logFile, 'utf8')).not.toContain(PASSWORD);
  });
});

describe('serviceTags.enforce with a parent', () => {
  const config = (serviceTags: Record<string, unknown>) => ({
    proxy: { parent: 'http://127.0.0.1:3129' },
    serviceTags: { source: null, cacheFile: null, ...serviceTags },
    admin: { listen: null },
  });

  it('refuses enforce: true at load, since the parent resolves and no range is checked', () => {
    expect(() => buildConfig(config({ enforce: true }), null)).toThrow(/problem/);
    try {
      buildConfig(config({ enforce: true }), null);
    } catch (err) {
      expect((err as { details: string[] }).details[0]).toMatch(
        /^serviceTags\.enforce: true cannot be honoured with proxy\.parent.*enforceWithParent: false/,
      );
    }
  });

  it('accepts it with an explicit enforceWithParent: false, and enforce: false or when-available as they are', () => {
    expect(buildConfig(config({ enforce: true, enforceWithParent: false }), null).parent).toMatchObject({
      host: '127.0.0.1',
      port: 3129,
      authorization: null,
    });
    expect(() => buildConfig(config({ enforce: false }), null)).not.toThrow();
  });
});
