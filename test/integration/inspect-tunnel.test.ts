// Inspected tunnels with real sockets: keep-alive (many requests, one tunnel record), the Host header
// bound to the tunnel, report mode letting a refused request through, and a client that stalls in
// the handshake being let go at the ClientHello deadline with its tunnel recorded.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCa } from '../../src/tls/ca.js';
import { makeCa } from '../helpers/certs.js';
import { captureNodeTlsHello } from '../helpers/client-hello-capture.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { connectThrough, readToEnd, tlsOver } from '../helpers/raw.js';
import { loopbackTags, writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'myregistry.azurecr.io';
const D = `sha256:${'b'.repeat(64)}`;

describe('inspected tunnels', () => {
  let upstream: Upstream;
  let dir: string;
  let caPem: string;
  const gateways: TestGateway[] = [];

  async function gateway(mode: 'enforce' | 'report' = 'enforce'): Promise<TestGateway> {
    const gw = await startGateway(
      testConfig({
        mode,
        proxy: { listen: '127.0.0.1:0', ports: [upstream.port], clientHelloTimeoutMs: 1500, drainTimeoutMs: 300 },
        registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, pullOnly: true, blobStorage: false }],
        inspect: {
          caCertFile: join(dir, 'ca.crt'),
          caKeyFile: join(dir, 'ca.key'),
          upstreamCaFile: join(dir, 'upstream.crt'),
        },
        serviceTags: { enforce: true, source: writeTagsFile(loopbackTags(), 1, dir), cacheFile: null },
        dns: { servers: ['127.0.0.1:1'], timeoutMs: 300, overrides: { [HOST]: [upstream.host] } },
      }),
    );
    gateways.push(gw);
    return gw;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'acr-egress-inspect-it-'));
    upstream = await startUpstream({ host: '127.0.0.2', names: [HOST] });
    const ca = createCa('integration CA');
    caPem = ca.certPem;
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem);
    writeFileSync(join(dir, 'upstream.crt'), upstream.ca);
  });

  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    await upstream?.close();
  });

  /** One keep-alive TLS connection through the gateway; sends raw requests and reads one response each. */
  async function session(gw: TestGateway) {
    const answer = await connectThrough(gw.port, `${HOST}:${upstream.port}`);
    expect(answer.status).toBe(200);
    const tls = await tlsOver(answer.socket, HOST, caPem);
    expect(tls.alpnProtocol).toBe(false);
    let buf = '';
    tls.on('data', (c: Buffer) => (buf += c.toString('latin1')));
    const send = async (method: string, path: string, host = `${HOST}:${upstream.port}`): Promise<string> => {
      buf = '';
      tls.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\n\r\n`);
      return vi.waitFor(
        () => {
          const end = buf.indexOf('\r\n\r\n');
          const len = /content-length: (\d+)/i.exec(buf)?.[1];
          if (end !== -1 && len !== undefined && buf.length >= end + 4 + Number(len)) return buf;
          throw new Error(`no response; have ${JSON.stringify(buf)}`);
        },
        { timeout: 10_000, interval: 10 },
      );
    };
    return { tls, send };
  }

  it('carries many requests on one connection: one tunnel record, a request record each, the Host header bound to the tunnel', async () => {
    const gw = await gateway();
    const { tls, send } = await session(gw);
    expect(await send('GET', '/v2/')).toMatch(/^HTTP\/1\.1 200/);
    expect(await send('GET', `/v2/team/app/manifests/${D}`)).toMatch(/^HTTP\/1\.1 200/);
    const push = await send('PUT', '/v2/team/app/manifests/v1');
    expect(push).toMatch(/^HTTP\/1\.1 403/);
    expect(push).toContain('{"errors":[{"code":"DENIED","message":"acr-egress: push_not_allowed: ');
    // The refusal of a request with a body closes the connection: open another one.
    const second = await session(gw);
    const fronted = await second.send('GET', '/v2/', 'otherregistry.azurecr.io');
    expect(fronted).toMatch(/^HTTP\/1\.1 403/);
    expect(fronted).toContain('request_not_allowed: the Host header');
    tls.destroy();
    second.tls.destroy();
    expect(upstream.requests.filter((l) => l.startsWith('PUT'))).toEqual([]);

    const requests = () => gw.records().filter((r) => r.kind === 'request');
    await gw.waitForRecord((r) => r.kind === undefined && r.host === HOST && r.bytesDown !== null);
    const tunnel = gw.records().find((r) => r.kind === undefined && r.host === HOST)!;
    const mine = requests().filter((r) => r.tunnel === tunnel.id);
    expect(mine.map((r) => [r.method, r.path, r.status, r.reason])).toEqual([
      ['GET', '/v2/', 200, null],
      ['GET', `/v2/team/app/manifests/${D}`, 200, null],
      ['PUT', '/v2/team/app/manifests/v1', 403, 'push_not_allowed'],
    ]);
    expect(mine[1]).toMatchObject({ repository: 'team/app', reference: D, digest: D });
  });

  it('offers only http/1.1 in ALPN, so a client asking for h2 first falls back', async () => {
    const gw = await gateway();
    const answer = await connectThrough(gw.port, `${HOST}:${upstream.port}`);
    const tls = tlsConnect({ socket: answer.socket, servername: HOST, ca: caPem, ALPNProtocols: ['h2', 'http/1.1'] });
    await once(tls, 'secureConnect');
    expect(tls.alpnProtocol).toBe('http/1.1');
    tls.destroy();
  });

  it('records a client that does not trust the CA as a failed handshake, with a hint, and no request', async () => {
    const gw = await gateway();
    const answer = await connectThrough(gw.port, `${HOST}:${upstream.port}`);
    await expect(tlsOver(answer.socket, HOST, makeCa('a CA the gateway does not use').cert)).rejects.toThrow();
    answer.socket.destroy();
    const rec = await gw.waitForRecord((r) => r.host === HOST && r.bytesDown !== null);
    expect(rec).toMatchObject({ decision: 'allowed', rule: 'registry:myregistry:login' });
    expect(rec.detail).toMatch(/handshake.*does the client trust the acr-egress CA/);
    expect(gw.records().filter((r) => r.kind === 'request')).toEqual([]);
  });

  it('in report mode, forwards a refused request and records the reason it would have had', async () => {
    const gw = await gateway('report');
    const { tls, send } = await session(gw);
    expect(await send('DELETE', `/v2/team/app/manifests/${D}`)).toMatch(/^HTTP\/1\.1 200/);
    tls.destroy();
    const rec = await gw.waitForRecord((r) => r.kind === 'request' && r.method === 'DELETE');
    expect(rec).toMatchObject({ decision: 'allowed', report: true, reason: 'push_not_allowed', status: 200 });
  });

  it('lets a client that stalls in the TLS handshake go at the ClientHello deadline, and records its tunnel', async () => {
    const gw = await gateway();
    const hello = await captureNodeTlsHello({ servername: HOST });
    const answer = await connectThrough(gw.port, `${HOST}:${upstream.port}`);
    expect(answer.status).toBe(200);
    answer.socket.write(hello);
    await readToEnd(answer.socket, 20_000);
    expect(answer.socket.destroyed).toBe(true);
    const rec = await gw.waitForRecord((r) => r.host === HOST && r.bytesDown !== null, 10_000);
    expect(rec).toMatchObject({ decision: 'allowed', rule: 'registry:myregistry:login' });
    expect(gw.gateway.inspector.status().tunnelsActive).toBe(0);
  });
});
