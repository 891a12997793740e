// The per-request extension point of inspected tunnels (what the layer cache plugs into): an
// interceptor claims a blob GET, sees the registry's 307 before anything is relayed, follows its
// Location through the tunnel's vetted dial, and answers the client itself; a host the policy does
// not allow is refused by that same dial; unclaimed requests are relayed as usual.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../../src/tls/ca.js';
import type { RequestInterceptor } from '../../src/inspect/inspected-request.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { connectThrough, readToEnd, tlsOver } from '../helpers/raw.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'myregistry.azurecr.io';
const BLOB = 'account1.blob.core.windows.net';
const DIGEST = `sha256:${'d'.repeat(64)}`;
let upstream: Upstream;
let gw: TestGateway;
let caPem: string;
const seen: string[] = [];

/** Follows a blob redirect through the vetted dial and answers with what the storage host sent. */
const follower: RequestInterceptor = {
  claims: (exchange) => exchange.route.kind === 'blob' && exchange.method === 'GET',
  onResponse(exchange, response, res) {
    seen.push(`${response.statusCode ?? 0}`);
    const location = new URL(response.headers.location ?? '');
    response.resume();
    void (async () => {
      const refused = await exchange.tunnel.dial('evil.example.com', Number(location.port));
      seen.push(refused.ok ? 'evil dialled' : `evil ${refused.decision.reason ?? ''}`);
      const dialed = await exchange.tunnel.dial(location.hostname, Number(location.port));
      if (!dialed.ok) {
        res.writeHead(502).end(dialed.decision.reason ?? '');
        return;
      }
      const tls = tlsConnect({ socket: dialed.upstream, servername: location.hostname, ca: upstream.ca });
      tls.write(`GET ${location.pathname} HTTP/1.1\r\nHost: ${location.hostname}\r\nConnection: close\r\n\r\n`);
      // The dialled socket is half-open capable (as a splice needs): read to the storage host's FIN.
      const chunks: Buffer[] = [];
      tls.on('data', (c: Buffer) => chunks.push(c));
      await once(tls, 'end');
      tls.destroy();
      const body = Buffer.concat(chunks).toString('latin1');
      res.writeHead(200, { 'x-followed': location.hostname, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    })();
  },
};

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-interceptor-'));
  upstream = await startUpstream({
    host: '127.0.0.2',
    names: [HOST, BLOB],
    redirect: (line, sni) =>
      sni === HOST && line.includes('/blobs/') ? `https://${BLOB}:${upstream.port}/layer?sig=x` : null,
  });
  const ca = createCa('interceptor CA');
  caPem = ca.certPem;
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem);
  writeFileSync(join(dir, 'upstream.crt'), upstream.ca);
  gw = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [upstream.port] },
      registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, blobStorage: 'learned' }],
      inspect: {
        caCertFile: join(dir, 'ca.crt'),
        caKeyFile: join(dir, 'ca.key'),
        upstreamCaFile: join(dir, 'upstream.crt'),
      },
      serviceTags: { enforce: false, source: null, cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        timeoutMs: 300,
        overrides: { [HOST]: ['127.0.0.2'], [BLOB]: ['127.0.0.2'], 'evil.example.com': ['127.0.0.2'] },
      },
    }),
    { interceptors: [follower] },
  );
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

async function get(path: string): Promise<string> {
  const answer = await connectThrough(gw.port, `${HOST}:${upstream.port}`);
  expect(answer.status).toBe(200);
  const tls = await tlsOver(answer.socket, HOST, caPem);
  tls.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
  return (await readToEnd(tls)).toString('latin1');
}

describe('a request interceptor inside an inspected tunnel', () => {
  it('sees the 307 first and follows it through the vetted dial, which refuses a host no rule allows', async () => {
    const answer = await get(`/v2/team/app/blobs/${DIGEST}`);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain(`x-followed: ${BLOB}`);
    expect(answer).toContain(`ok ${BLOB}`);
    expect(seen).toEqual(['307', 'evil host_not_allowed']);
    const rec = await gw.waitForRecord((r) => r.kind === 'request' && r.path === `/v2/team/app/blobs/${DIGEST}`);
    expect(rec).toMatchObject({ status: 200, decision: 'allowed' });
  });

  it('leaves a request it does not claim to the usual relay', async () => {
    const answer = await get('/v2/team/app/manifests/v1');
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).not.toContain('x-followed');
    expect(answer).toContain(`ok ${HOST}`);
  });
});
