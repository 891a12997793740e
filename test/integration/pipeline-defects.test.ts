// Regression tests of the tunnel pipeline's edge, with real sockets: Expect: 100-continue decided
// before the 100, bytes that cannot start an HTTP request answered at once, CONNECT and FIN in one
// segment always answered, and the per-client limits applied before the password check.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-hash.js';
import { createCa } from '../../src/tls/ca.js';
import { captureNodeTlsHello } from '../helpers/client-hello-capture.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { connectThrough, rawConnect, readToEnd, tlsOver } from '../helpers/raw.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'myregistry.azurecr.io';
let upstream: Upstream;
let dir: string;
let caPem: string;
const started: TestGateway[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acr-egress-pipeline-'));
  upstream = await startUpstream({ host: '127.0.0.2', names: [HOST] });
  const ca = createCa('pipeline CA');
  caPem = ca.certPem;
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem);
  writeFileSync(join(dir, 'upstream.crt'), upstream.ca);
});

afterAll(async () => {
  for (const g of started) await g.stop();
  await upstream?.close();
});

async function gateway(overrides: Record<string, unknown> = {}, proxy: Record<string, unknown> = {}) {
  const g = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [upstream.port], headersTimeoutMs: 60_000, ...proxy },
      serviceTags: { enforce: false, source: null, cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], timeoutMs: 300, overrides: { [HOST]: ['127.0.0.2'] } },
      ...overrides,
    }),
  );
  started.push(g);
  return g;
}

/** Reads from `tls` until `pred` holds on what arrived, then returns it. */
async function readUntil(tls: Socket, pred: (got: string) => boolean): Promise<string> {
  let got = '';
  tls.on('data', (c: Buffer) => (got += c.toString('latin1')));
  await expect.poll(() => pred(got) || tls.destroyed, { timeout: 10_000 }).toBe(true);
  return got;
}

describe('Expect: 100-continue inside an inspected tunnel', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await gateway({
      registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, pullOnly: true, blobStorage: false }],
      inspect: {
        caCertFile: join(dir, 'ca.crt'),
        caKeyFile: join(dir, 'ca.key'),
        upstreamCaFile: join(dir, 'upstream.crt'),
      },
    });
  });

  async function session() {
    const answer = await connectThrough(g.port, `${HOST}:${upstream.port}`);
    expect(answer.status).toBe(200);
    return tlsOver(answer.socket, HOST, caPem);
  }

  it('answers a refused push 403 push_not_allowed without a 100 Continue first', async () => {
    const tls = await session();
    tls.write(
      `PUT /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: ${HOST}\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n`,
    );
    const got = await readUntil(tls, (s) => s.includes('\r\n\r\n'));
    expect(got).toMatch(/^HTTP\/1\.1 403/);
    expect(got).not.toContain('100 Continue');
    expect(got).toContain('push_not_allowed');
    tls.destroy();
  });

  it('sends 100 Continue for a request that will be forwarded, and forwards it once the body comes', async () => {
    const tls = await session();
    tls.write(`GET /v2/ HTTP/1.1\r\nHost: ${HOST}\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n`);
    const got = await readUntil(tls, (s) => s.includes('100 Continue'));
    expect(got).toMatch(/^HTTP\/1\.1 100 Continue/);
    tls.write('body');
    const rest = await readUntil(tls, (s) => s.includes(`ok ${HOST}`));
    expect(rest).toMatch(/HTTP\/1\.1 200/);
    tls.destroy();
    // The gateway answered the Expect itself: the upstream does not wait for its own 100.
    expect(upstream.heads.filter((h) => /^GET \/v2\/ /.test(h)).some((h) => /expect:/i.test(h))).toBe(false);
  });
});

describe('bytes that cannot start an HTTP request', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await gateway();
  });

  it('answers a TLS ClientHello on the proxy port at once: 400 bad_request naming HTTPS_PROXY', async () => {
    const hello = await captureNodeTlsHello({ servername: HOST });
    const answer = await rawConnect(g.port, hello);
    expect(answer.status).toBe(400);
    expect(answer.headers['x-acr-egress-reason']).toBe('bad_request');
    answer.socket.destroy();
    const rec = await g.waitForRecord((r) => r.reason === 'bad_request' && /HTTPS_PROXY/.test(r.detail ?? ''));
    expect(rec.detail).toContain('this is an HTTP proxy port: use http:// in HTTPS_PROXY');
  });

  it('answers binary bytes at once with 400 bad_request', async () => {
    const answer = await rawConnect(g.port, Buffer.from([0x00, 0x01, 0x02]));
    expect(answer.status).toBe(400);
    answer.socket.destroy();
    const rec = await g.waitForRecord((r) => r.reason === 'bad_request' && /0x00/.test(r.detail ?? ''));
    expect(rec.detail).toBe('bytes that cannot start an HTTP request (0x00)');
  });
});

describe('CONNECT and FIN in the same segment', () => {
  it('gets its answer every time', async () => {
    const g = await gateway();
    const rounds = 40;
    const statuses: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const socket = connect({ host: '127.0.0.1', port: g.port, allowHalfOpen: true });
      await once(socket, 'connect');
      socket.end(`CONNECT ${HOST}:${upstream.port} HTTP/1.1\r\nHost: ${HOST}:${upstream.port}\r\n\r\n`);
      const got = (await readToEnd(socket, 10_000)).toString('latin1');
      statuses.push(got.split('\r\n')[0] ?? '');
    }
    expect(statuses).toEqual(Array.from({ length: rounds }, () => 'HTTP/1.1 200 Connection Established'));
    await expect.poll(() => g.records().filter((r) => r.host === HOST && r.decision === 'allowed').length).toBe(rounds);
  });
});

describe('per-client limits before the password check', () => {
  it('rate-limits a client sending bad credentials instead of checking each password', async () => {
    const usersFile = join(dir, 'users');
    writeFileSync(usersFile, `alice:${await hashPassword('right-password')}\n`);
    const g = await gateway({}, { auth: { usersFile }, limits: { perClientRate: 0.01 } }); // a burst of 1
    const bad = (n: number): string =>
      `CONNECT ${HOST}:${upstream.port} HTTP/1.1\r\nHost: ${HOST}:${upstream.port}\r\n` +
      `Proxy-Authorization: Basic ${Buffer.from(`alice:wrong-${n}`).toString('base64')}\r\n\r\n`;
    const first = await rawConnect(g.port, bad(1));
    expect(first.status).toBe(407);
    first.socket.destroy();
    const second = await rawConnect(g.port, bad(2));
    expect(second.status).toBe(429);
    expect(second.headers['x-acr-egress-reason']).toBe('rate_limited');
    second.socket.destroy();
  });
});
