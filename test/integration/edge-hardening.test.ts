// The connection edge under hostile or careless clients, with real sockets: the slot of every
// connection comes back whatever path ends it (half-close after and before the 200, slowloris),
// the request head is read strictly and within bounds, and the per-client limits hold.
import { execFileSync, spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClientHello } from '../helpers/client-hello-capture.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { connectThrough, httpsGet, rawConnect, readToEnd, tlsOver } from '../helpers/raw.js';
import { loopbackTags, writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';

const hasPython = ((): boolean => {
  try {
    execFileSync('python3', ['-c', 'pass'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let acr: Upstream;
let tagsFile: string;
const started: TestGateway[] = [];

beforeAll(async () => {
  acr = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io'] });
  tagsFile = writeTagsFile(
    loopbackTags().map((t) =>
      t.name === 'AzureContainerRegistry.EastUS'
        ? { ...t, prefixes: ['127.0.0.2/32', '127.0.0.22/32', '127.0.0.23/32'] }
        : t,
    ),
  );
});

afterAll(async () => {
  for (const g of started) await g.stop();
  await acr?.close();
});

async function gatewayWith(
  proxy: Record<string, unknown>,
  overrides: Record<string, string[]> = { 'myregistry.azurecr.io': ['127.0.0.2'] },
): Promise<TestGateway> {
  const g = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [acr.port], clientHelloTimeoutMs: 60_000, ...proxy },
      serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], timeoutMs: 300, overrides },
    }),
  );
  started.push(g);
  return g;
}

function withMetrics(g: TestGateway): Metrics {
  const m = createMetrics({ defaultMetrics: false });
  g.gateway.observeTunnels(m.tunnelListener);
  g.gateway.recorder.addSink(m.recordSink);
  return m;
}

/** The gateway's open connections, polled until they settle (slots given back). */
const connections = (g: TestGateway) => expect.poll(() => g.gateway.connections, { timeout: 20_000 });

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
    socket.resume();
  });
}

const target = (): string => `myregistry.azurecr.io:${acr.port}`;

/** A full allowed tunnel: 200, TLS handshake with the right SNI, one GET. */
async function tunnelWorks(g: TestGateway): Promise<void> {
  const a = await connectThrough(g.port, target());
  expect(a.status).toBe(200);
  const tls = await tlsOver(a.socket, 'myregistry.azurecr.io', acr.ca);
  expect(await httpsGet(tls, 'myregistry.azurecr.io', '/v2/')).toContain('ok myregistry.azurecr.io');
}

describe('every connection gives its slot back (maxConnections: 5)', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await gatewayWith({ maxConnections: 5, headersTimeoutMs: 300 });
  });

  it('closes a client that half-closes after the 200 without a ClientHello, and frees its slot', async () => {
    const sockets: Socket[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await connectThrough(g.port, target());
      expect(a.status).toBe(200);
      a.socket.end(); // FIN, no ClientHello
      sockets.push(a.socket);
    }
    await Promise.all(sockets.map(closed));
    await connections(g).toBe(0);
    await tunnelWorks(g);
    const recs = g.records().filter((r) => r.host === 'myregistry.azurecr.io' && r.bytesUp === 0);
    expect(recs.length).toBeGreaterThanOrEqual(5);
    expect(recs.every((r) => r.decision === 'allowed' && r.reason === null)).toBe(true);
  });

  it('closes a client that half-closes right after its CONNECT, before the 200, and frees its slot', async () => {
    const sockets: Socket[] = [];
    for (let i = 0; i < 5; i++) {
      const s = connect({ host: '127.0.0.1', port: g.port });
      s.on('error', () => undefined);
      s.end(`CONNECT ${target()} HTTP/1.1\r\nHost: ${target()}\r\n\r\n`);
      sockets.push(s);
    }
    await Promise.all(sockets.map(closed));
    await connections(g).toBe(0);
    await tunnelWorks(g);
  });

  it('answers slowloris clients (dripping or silent) 400 bad_request at proxy.headersTimeoutMs and frees their slots', async () => {
    const before = g.records().length;
    const answers: Promise<Buffer>[] = [];
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < 5; i++) {
      const s = connect({ host: '127.0.0.1', port: g.port });
      s.on('error', () => undefined);
      answers.push(readToEnd(s, 30_000));
      if (i === 0) continue; // one sends nothing at all
      const drip = Buffer.from(`CONNECT ${target()} HTTP/1.1\r\nX-Slow: ${'a'.repeat(10_000)}`);
      let at = 0;
      const timer = setInterval(() => {
        if (s.destroyed || !s.writable || at >= drip.length) return clearInterval(timer);
        s.write(drip.subarray(at, at + 1));
        at++;
      }, 20);
      timers.push(timer);
    }
    const got = await Promise.all(answers);
    for (const t of timers) clearInterval(t);
    for (const b of got) {
      expect(b.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
      expect(b.toString('latin1')).toContain('X-Acr-Egress-Reason: bad_request');
    }
    await connections(g).toBe(0);
    const recs = g.records().slice(before);
    expect(recs.filter((r) => r.reason === 'bad_request' && /headersTimeoutMs/.test(r.detail ?? ''))).toHaveLength(5);
    await tunnelWorks(g);
  });

  it('cuts a refused client that never closes and keeps sending after the answer', async () => {
    const s = connect({ host: '127.0.0.1', port: g.port, allowHalfOpen: true });
    s.on('error', () => undefined);
    s.write('CONNECT nowhere HTTP/1.1\r\n\r\n'); // 400: no port
    const timer = setInterval(() => {
      if (s.writable) s.write('x');
    }, 50);
    await closed(s);
    clearInterval(timer);
    await connections(g).toBe(0);
  });

  it('answers an HTTP/0.9-style CONNECT (no version) 400 bad_request', async () => {
    const a = await rawConnect(g.port, `CONNECT ${target()}\r\n\r\n`);
    expect(a.status).toBe(400);
    expect(a.headers['x-acr-egress-reason']).toBe('bad_request');
    await g.waitForRecord((r) => /no HTTP version/.test(r.detail ?? ''));
  });
});

describe('reading the request head', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await gatewayWith({ maxHeaderBytes: 1024 });
  });

  it('refuses a head over proxy.maxHeaderBytes with 400 bad_request', async () => {
    const a = await rawConnect(g.port, `CONNECT ${target()} HTTP/1.1\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`);
    expect(a.status).toBe(400);
    expect(a.headers['x-acr-egress-reason']).toBe('bad_request');
    await g.waitForRecord((r) => /maxHeaderBytes/.test(r.detail ?? ''));
  });

  it('reads a head that arrives a byte at a time within the deadline', async () => {
    const s = connect({ host: '127.0.0.1', port: g.port });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    const head = Buffer.from(`CONNECT ${target()} HTTP/1.1\r\nHost: ${target()}\r\n\r\n`);
    const answer = new Promise<string>((resolve) => {
      let buf = '';
      const onData = (c: Buffer): void => {
        buf += c.toString('latin1');
        if (buf.includes('\r\n\r\n')) {
          s.off('data', onData);
          resolve(buf);
        }
      };
      s.on('data', onData);
    });
    for (const byte of head) {
      s.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
    const tls = await tlsOver(s, 'myregistry.azurecr.io', acr.ca);
    expect(await httpsGet(tls, 'myregistry.azurecr.io')).toContain('ok myregistry.azurecr.io');
  });

  it('keeps a ClientHello sent in the same segment as the CONNECT and passes it on', async () => {
    const hello = buildClientHello({ sni: 'myregistry.azurecr.io' });
    const s = connect({ host: '127.0.0.1', port: g.port });
    s.on('error', () => undefined);
    s.once('connect', () => s.write(Buffer.concat([Buffer.from(`CONNECT ${target()} HTTP/1.1\r\n\r\n`), hello])));
    const got = await new Promise<Buffer>((resolve) => {
      let buf = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const end = buf.indexOf('\r\n\r\n');
        if (end !== -1 && buf.length > end + 4) resolve(buf);
      });
    });
    s.destroy();
    const end = got.indexOf('\r\n\r\n');
    expect(got.subarray(0, end).toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    // The upstream answered the hello with a TLS record (handshake or alert): it got the bytes.
    expect([0x15, 0x16]).toContain(got[end + 4]);
    const rec = await g.waitForRecord((r) => r.sni === 'myregistry.azurecr.io' && r.bytesUp !== null);
    expect(rec.bytesUp).toBeGreaterThanOrEqual(hello.length);
  });

  it('passes the ClientHello on whatever part of it comes with the CONNECT, for every split point', async () => {
    const hello = buildClientHello({ sni: 'myregistry.azurecr.io' });
    const request = Buffer.from(`CONNECT ${target()} HTTP/1.1\r\n\r\n`);
    const through = async (k: number): Promise<number | undefined> => {
      const s = connect({ host: '127.0.0.1', port: g.port });
      s.on('error', () => undefined);
      s.once('connect', () => s.write(Buffer.concat([request, hello.subarray(0, k)])));
      let buf = Buffer.alloc(0);
      let sentRest = false;
      const first = await new Promise<number | undefined>((resolve) => {
        s.on('data', (c: Buffer) => {
          buf = Buffer.concat([buf, c]);
          const end = buf.indexOf('\r\n\r\n');
          if (end === -1) return;
          if (!sentRest) {
            sentRest = true;
            s.write(hello.subarray(k));
          }
          if (buf.length > end + 4) resolve(buf[end + 4]);
        });
        s.once('close', () => resolve(undefined));
      });
      s.destroy();
      return first;
    };
    const firsts: (number | undefined)[] = [];
    for (let k = 0; k <= hello.length; k += 8) {
      const batch = [];
      for (let j = k; j < Math.min(k + 8, hello.length + 1); j++) batch.push(through(j));
      firsts.push(...(await Promise.all(batch)));
    }
    // Every upstream answered with a TLS record (handshake or alert): each got the whole hello.
    for (const b of firsts) expect([0x15, 0x16]).toContain(b);
  });

  it('refuses an absolute-form http:// request with 403 plain_http_not_allowed by default', async () => {
    const a = await rawConnect(
      g.port,
      'GET http://myregistry.azurecr.io/v2/ HTTP/1.1\r\nHost: myregistry.azurecr.io\r\n\r\n',
    );
    expect(a.status).toBe(403);
    expect(a.headers['x-acr-egress-reason']).toBe('plain_http_not_allowed');
    const rec = await g.waitForRecord((r) => r.reason === 'plain_http_not_allowed');
    expect(rec).toMatchObject({ decision: 'blocked', host: 'myregistry.azurecr.io' });
  });
});

describe('per-client limits', () => {
  it('refuses a third concurrent tunnel with 503 too_many_connections "per client", and admits after one closes', async () => {
    const g = await gatewayWith({ limits: { perClientConnections: 2 } });
    const m = withMetrics(g);
    const a1 = await connectThrough(g.port, target());
    const a2 = await connectThrough(g.port, target());
    expect([a1.status, a2.status]).toEqual([200, 200]);
    const a3 = await connectThrough(g.port, target());
    expect(a3.status).toBe(503);
    expect(a3.headers['x-acr-egress-reason']).toBe('too_many_connections');
    const rec = await g.waitForRecord((r) => r.reason === 'too_many_connections');
    expect(rec.detail).toMatch(/per client/);
    a1.socket.destroy();
    await connections(g).toBeLessThanOrEqual(1);
    await tunnelWorks(g);
    a2.socket.destroy();
    expect(await m.text()).toMatch(/acr_egress_client_limit_hits_total\{limit="connections"\} 1/);
  });

  it('answers tunnels over proxy.limits.perClientRate with 429 rate_limited', async () => {
    const g = await gatewayWith({ limits: { perClientRate: 0.01 } }); // a burst of 1, then one per 100 s
    const m = withMetrics(g);
    const first = await connectThrough(g.port, target());
    expect(first.status).toBe(200);
    first.socket.destroy();
    const second = await connectThrough(g.port, target());
    expect(second.status).toBe(429);
    expect(second.headers['x-acr-egress-reason']).toBe('rate_limited');
    await g.waitForRecord((r) => r.reason === 'rate_limited' && r.decision === 'blocked');
    expect(await m.text()).toMatch(/acr_egress_client_limit_hits_total\{limit="rate"\} 1/);
  });

  it('closes a tunnel at proxy.limits.maxTunnelSeconds and records why', async () => {
    const g = await gatewayWith({ limits: { maxTunnelSeconds: 1 } });
    const m = withMetrics(g);
    const a = await connectThrough(g.port, target());
    const tls = await tlsOver(a.socket, 'myregistry.azurecr.io', acr.ca);
    tls.on('error', () => undefined);
    tls.write('GET / HTTP/1.1\r\nHost: myregistry.azurecr.io\r\n\r\n'); // keep-alive: only the limit ends it
    await readToEnd(tls, 30_000);
    const rec = await g.waitForRecord((r) => r.bytesDown !== null);
    expect(rec).toMatchObject({ decision: 'allowed', detail: expect.stringMatching(/maxTunnelSeconds/) });
    expect(await m.text()).toMatch(/acr_egress_client_limit_hits_total\{limit="lifetime"\} 1/);
  });
});

describe('listening', () => {
  it('reports a proxy.listen address in use as LISTEN_FAILED, not a raw errno', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      await expect(startGateway(testConfig({ proxy: { listen: `127.0.0.1:${port}` } }))).rejects.toMatchObject({
        code: 'LISTEN_FAILED',
        message: expect.stringMatching(/proxy\.listen .*EADDRINUSE/),
      });
    } finally {
      holder.close();
    }
  });
});

describe('dial fallback', () => {
  let decoy: Server;
  let decoyHits = 0;
  afterAll(() => decoy?.close());

  it('tries the next vetted address after a refused one, and never dials one that failed the checks', async () => {
    // 127.0.0.3 is outside the registry's tag (ip_not_in_service_tag): it listens, and must never be dialled.
    decoy = createServer((s) => {
      decoyHits++;
      s.destroy();
    });
    await new Promise<void>((r) => decoy.listen(acr.port, '127.0.0.3', r));
    // 127.0.0.22 is vetted but nothing listens there; 127.0.0.2 is the registry.
    const g = await gatewayWith({}, { 'myregistry.azurecr.io': ['127.0.0.3', '127.0.0.22', '127.0.0.2'] });
    await tunnelWorks(g);
    const rec = await g.waitForRecord((r) => r.bytesDown !== null);
    expect(rec).toMatchObject({ decision: 'allowed', ip: '127.0.0.2', tag: 'AzureContainerRegistry.EastUS' });
    expect(decoyHits).toBe(0);
  });

  it.skipIf(!hasPython)(
    `tries the next vetted address after a silent one, within the same deadline${hasPython ? '' : ' (SKIPPED: python3 not installed)'}`,
    async () => {
      // A listener that never accepts, with its one-slot backlog taken: the kernel drops further SYNs.
      const silent = spawn('python3', [
        '-c',
        'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.23",int(sys.argv[1])))\ns.listen(0)\nprint("up",flush=True)\ntime.sleep(120)',
        String(acr.port),
      ]);
      try {
        await new Promise((resolve, reject) => {
          silent.stdout.once('data', resolve);
          silent.once('exit', reject);
        });
        const filler = connect({ host: '127.0.0.23', port: acr.port });
        filler.on('error', () => undefined);
        await new Promise((r) => filler.once('connect', r));
        const g = await gatewayWith(
          { connectTimeoutMs: 4000 },
          { 'myregistry.azurecr.io': ['127.0.0.23', '127.0.0.2'] },
        );
        await tunnelWorks(g);
        const rec = await g.waitForRecord((r) => r.bytesDown !== null);
        expect(rec).toMatchObject({ decision: 'allowed', ip: '127.0.0.2' });
        filler.destroy();
      } finally {
        silent.kill();
      }
    },
  );

  it('answers 502 upstream_unreachable naming every attempt when no vetted address answers', async () => {
    const g = await gatewayWith({}, { 'myregistry.azurecr.io': ['127.0.0.22'] });
    const a = await connectThrough(g.port, target());
    expect(a.status).toBe(502);
    expect(a.headers['x-acr-egress-reason']).toBe('upstream_unreachable');
    const rec = await g.waitForRecord((r) => r.reason === 'upstream_unreachable');
    expect(rec.detail).toContain('127.0.0.22');
  });
});
