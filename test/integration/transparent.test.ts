// The transparent listener: TLS redirected without CONNECT, routed by SNI, with the same checks.
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { httpsGet, readToEnd } from '../helpers/raw.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let acr: Upstream;
let gw: TestGateway;
let tport: number;

beforeAll(async () => {
  acr = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io', 'evil.example.com'] });
  gw = await startGateway(
    testConfig({
      proxy: {
        listen: '127.0.0.1:0',
        transparentListen: '127.0.0.1:0',
        transparentUpstreamPort: acr.port,
        ports: [acr.port],
        clientHelloTimeoutMs: 400,
      },
      serviceTags: { enforce: true, source: writeTagsFile(), cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        overrides: { 'myregistry.azurecr.io': ['127.0.0.2'], 'evil.example.com': ['127.0.0.2'] },
      },
    }),
  );
  tport = gw.gateway.transparentAddress?.port ?? 0;
});

afterAll(async () => {
  await gw?.stop();
  await acr?.close();
});

function tlsDirect(servername: string) {
  return tlsConnect({ host: '127.0.0.1', port: tport, servername, ca: acr.ca });
}

describe('transparent listener', () => {
  it('routes an allowed SNI to the vetted address and records mode transparent', async () => {
    const tls = tlsDirect('myregistry.azurecr.io');
    await new Promise((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    expect(await httpsGet(tls, 'myregistry.azurecr.io')).toContain('ok myregistry.azurecr.io');
    const rec = await gw.waitForRecord((r) => r.mode === 'transparent' && r.decision === 'allowed');
    expect(rec).toMatchObject({
      host: 'myregistry.azurecr.io',
      sni: 'myregistry.azurecr.io',
      rule: 'registry:myregistry:login',
      tag: 'AzureContainerRegistry.EastUS',
      port: acr.port,
    });
    expect(rec.bytesDown).toBeGreaterThan(0);
  });

  const closes: [string, () => import('node:net').Socket, string][] = [
    ['closes an SNI no rule allows with host_not_allowed', () => tlsDirect('evil.example.com'), 'host_not_allowed'],
    ['closes a hello without SNI with sni_missing', () => tlsDirect(''), 'sni_missing'],
    [
      'closes non-TLS bytes with not_tls',
      () =>
        connect({ host: '127.0.0.1', port: tport }, function (this: import('node:net').Socket) {
          this.write('GET / HTTP/1.1\r\n\r\n');
        }),
      'not_tls',
    ],
    [
      'closes a silent connection with client_hello_timeout',
      () => connect({ host: '127.0.0.1', port: tport }),
      'client_hello_timeout',
    ],
  ];
  it.each(closes)('%s', async (_name, open, reason) => {
    const s = open();
    s.on('error', () => undefined);
    await readToEnd(s, 5000);
    const rec = await gw.waitForRecord((r) => r.mode === 'transparent' && r.reason === reason);
    expect(rec.decision).toBe('blocked');
  });
});
