// Plain-HTTP proxying of absolute-form requests: the tunnels' own stages (per-client limits before
// the password check, authenticate, decide, audit gate, route direct or through a parent), a 100
// Continue only after the decision, records like tunnel records, no proxy credential upstream.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-hash.js';
import { createCa } from '../../src/tls/ca.js';
import { startConnectProxy, type ConnectProxy } from '../helpers/connect-proxy.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { rawConnect, type RawAnswer } from '../helpers/raw.js';

const run = promisify(execFile);
let origin: Server;
let port: number;
let gw: TestGateway;
const seen: { url: string; host: string | undefined; proxyAuth: string | undefined }[] = [];
/** Every header name the origin received, per request. */
const received: string[][] = [];
/** Responses to requests for /hold, kept open until a test ends them. */
const held: ServerResponse[] = [];

beforeAll(async () => {
  origin = createServer((req, res) => {
    seen.push({ url: req.url ?? '', host: req.headers.host, proxyAuth: req.headers['proxy-authorization'] });
    received.push(Object.keys(req.headers));
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      if (req.url === '/hold') return void held.push(res);
      if (req.url === '/reset') return void req.socket.destroy();
      const got = Buffer.concat(body).toString();
      res.end(`hello from ${req.headers.host}${req.url}${got === '' ? '' : ` body ${got}`}`);
    });
  });
  origin.listen(0, '127.0.0.2');
  await once(origin, 'listening');
  port = (origin.address() as AddressInfo).port;
  gw = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [port], allowPlainHttp: true },
      allow: ['plain.example.org', 'private.example.org', 'dead.example.org'],
      serviceTags: { enforce: true, source: null, cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        overrides: {
          'plain.example.org': ['127.0.0.2'],
          'private.example.org': ['10.0.0.1'],
          'dead.example.org': ['127.0.0.3'], // nothing listens there
        },
      },
    }),
  );
});

afterAll(async () => {
  await gw?.stop();
  for (const g of started) await g.stop();
  for (const res of held) res.end();
  origin?.close();
});

const started: TestGateway[] = [];
const dir = mkdtempSync(join(tmpdir(), 'acr-egress-plain-'));
const PASSWORD = 'plain-password-never-forwarded';
const INSTANCE = 'plain-test-1';

/** A gateway forwarding plain http:// to plain.example.org (the origin), with `proxy` and `more` on top. */
async function plainGateway(proxy: Record<string, unknown>, more: Record<string, unknown> = {}): Promise<TestGateway> {
  const users = join(dir, 'users');
  writeFileSync(users, `alice:${await hashPassword(PASSWORD)}\n`);
  const g = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [port], allowPlainHttp: true, auth: { usersFile: users }, ...proxy },
      allow: ['plain.example.org'],
      audit: { instance: INSTANCE },
      serviceTags: { enforce: true, source: null, cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], overrides: { 'plain.example.org': ['127.0.0.2'] } },
      ...more,
    }),
  );
  started.push(g);
  return g;
}

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The head of a plain GET through the proxy, with extra header lines. */
const plainGet = (path: string, ...headers: string[]): string =>
  `GET http://plain.example.org:${port}${path} HTTP/1.1\r\nHost: plain.example.org:${port}\r\n` +
  headers.map((h) => `${h}\r\n`).join('') +
  '\r\n';

/** One request's answer head; the socket is closed. */
async function ask(gwPort: number, request: string): Promise<RawAnswer> {
  const a = await rawConnect(gwPort, request);
  a.socket.destroy();
  return a;
}

/** Reads the next response head from a socket (after rawConnect's first). */
function nextHead(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(buf.subarray(0, end).toString('latin1'));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('absolute-form HTTP requests', () => {
  it('forwards an allowed host to the vetted address and records mode http', async () => {
    const { stdout } = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--proxy',
      gw.proxyUrl,
      '-H',
      'Proxy-Authorization: Basic Zm9vOmJhcg==',
      `http://plain.example.org:${port}/v2/`,
    ]);
    expect(stdout).toBe(`hello from plain.example.org:${port}/v2/`);
    expect(seen.at(-1)).toEqual({ url: '/v2/', host: `plain.example.org:${port}`, proxyAuth: undefined });
    const rec = await gw.waitForRecord((r) => r.mode === 'http' && r.decision === 'allowed');
    expect(rec).toMatchObject({ host: 'plain.example.org', port, ip: '127.0.0.2', rule: 'allow:plain.example.org' });
    expect(rec.bytesDown).toBeGreaterThan(0);
  });

  it('consumes the proxy and hop-by-hop headers and every name Connection lists (RFC 9110 7.6.1)', async () => {
    const a = await rawConnect(
      gw.port,
      `GET http://plain.example.org:${port}/hop HTTP/1.1\r\nHost: plain.example.org:${port}\r\n` +
        'Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n' +
        'TE: trailers\r\nX-Hop: 1\r\nX-Kept: 1\r\nConnection: keep-alive, X-Hop\r\n\r\n',
    );
    expect(a.status).toBe(200);
    a.socket.destroy();
    const names = received.at(-1) ?? [];
    expect(names).toContain('x-kept');
    for (const name of ['proxy-authorization', 'proxy-connection', 'keep-alive', 'te', 'x-hop'])
      expect(names).not.toContain(name);
  });

  it('refuses a host no rule allows with 403 host_not_allowed', async () => {
    const a = await rawConnect(
      gw.port,
      `GET http://evil.example.org:${port}/ HTTP/1.1\r\nHost: evil.example.org:${port}\r\n\r\n`,
    );
    expect(a.status).toBe(403);
    expect(a.headers['x-acr-egress-reason']).toBe('host_not_allowed');
  });

  it('refuses port 80 when proxy.ports does not list it', async () => {
    const a = await rawConnect(gw.port, 'GET http://plain.example.org/ HTTP/1.1\r\nHost: plain.example.org\r\n\r\n');
    expect(a.headers['x-acr-egress-reason']).toBe('port_not_allowed');
  });

  it('refuses a Host header that names another host than the target (no fronting)', async () => {
    const a = await rawConnect(
      gw.port,
      `GET http://plain.example.org:${port}/ HTTP/1.1\r\nHost: evil.example.org\r\n\r\n`,
    );
    expect(a.status).toBe(400);
    expect(a.headers['x-acr-egress-reason']).toBe('bad_request');
  });

  it('refuses an origin-form request (not a proxy request) with 400 bad_request', async () => {
    const a = await rawConnect(gw.port, 'GET / HTTP/1.1\r\nHost: plain.example.org\r\n\r\n');
    expect(a.status).toBe(400);
    expect(a.headers['x-acr-egress-reason']).toBe('bad_request');
  });

  it('refuses an allowed host that resolves to a private address with private_destination', async () => {
    const a = await rawConnect(
      gw.port,
      `GET http://private.example.org:${port}/ HTTP/1.1\r\nHost: private.example.org:${port}\r\n\r\n`,
    );
    expect(a.status).toBe(403);
    expect(a.headers['x-acr-egress-reason']).toBe('private_destination');
  });

  it('refuses an https:// absolute-form request (use CONNECT)', async () => {
    const a = await rawConnect(
      gw.port,
      `GET https://plain.example.org:${port}/ HTTP/1.1\r\nHost: plain.example.org\r\n\r\n`,
    );
    expect(a.status).toBe(400);
  });
});

describe('plain HTTP upstream failures', () => {
  it('answers 502 upstream_unreachable when the vetted address refuses the connection', async () => {
    const a = await ask(
      gw.port,
      `GET http://dead.example.org:${port}/ HTTP/1.1\r\nHost: dead.example.org:${port}\r\n\r\n`,
    );
    expect(a.status).toBe(502);
    expect(a.headers['x-acr-egress-reason']).toBe('upstream_unreachable');
    const rec = await gw.waitForRecord((r) => r.host === 'dead.example.org');
    expect(rec).toMatchObject({ mode: 'http', decision: 'blocked', ip: '127.0.0.3' });
  });

  it('answers 502 upstream_unreachable and records it when the upstream drops the request', async () => {
    const a = await ask(gw.port, plainGet('/reset'));
    expect(a.status).toBe(502);
    expect(a.headers['x-acr-egress-reason']).toBe('upstream_unreachable');
    const rec = await gw.waitForRecord((r) => r.host === 'plain.example.org' && r.reason === 'upstream_unreachable');
    expect(rec).toMatchObject({ mode: 'http', decision: 'blocked', rule: 'allow:plain.example.org', ip: '127.0.0.2' });
  });
});

describe('plain HTTP through the pipeline stages', () => {
  it('applies proxy.limits.perClientRate: 429 rate_limited, recorded with mode http', async () => {
    const g = await plainGateway({ limits: { perClientRate: 0.01 } }); // a burst of 1, then one per 100 s
    const auth = `Proxy-Authorization: ${basic('alice', PASSWORD)}`;
    expect((await ask(g.port, plainGet('/first', auth))).status).toBe(200);
    const second = await ask(g.port, plainGet('/second', auth));
    expect(second.status).toBe(429);
    expect(second.headers['x-acr-egress-reason']).toBe('rate_limited');
    const rec = await g.waitForRecord((r) => r.reason === 'rate_limited');
    expect(rec).toMatchObject({
      mode: 'http',
      decision: 'blocked',
      host: 'plain.example.org',
      detail: expect.stringMatching(/per client: .* new requests\/s/),
    });
    expect(seen.map((x) => x.url)).not.toContain('/second');
  });

  it('runs the limits before the password check: a limited client gets 429, never a 407', async () => {
    const g = await plainGateway({ limits: { perClientRate: 0.01 } });
    expect((await ask(g.port, plainGet('/ok', `Proxy-Authorization: ${basic('alice', PASSWORD)}`))).status).toBe(200);
    // A wrong password and no credentials at all: the limit answers, so no password was checked.
    const wrong = await ask(g.port, plainGet('/wrong', `Proxy-Authorization: ${basic('alice', 'wrong')}`));
    expect([wrong.status, wrong.headers['x-acr-egress-reason']]).toEqual([429, 'rate_limited']);
    const none = await ask(g.port, plainGet('/none'));
    expect([none.status, none.headers['x-acr-egress-reason']]).toEqual([429, 'rate_limited']);
  });

  it('applies proxy.limits.perClientConnections while a request is in flight, and gives the slot back', async () => {
    const g = await plainGateway({ limits: { perClientConnections: 1 } });
    const auth = `Proxy-Authorization: ${basic('alice', PASSWORD)}`;
    const inFlight = rawConnect(g.port, plainGet('/hold', auth));
    await expect.poll(() => held.length).toBe(1);
    const second = await ask(g.port, plainGet('/second-while-held', auth));
    expect(second.status).toBe(503);
    expect(second.headers['x-acr-egress-reason']).toBe('too_many_connections');
    const rec = await g.waitForRecord((r) => r.reason === 'too_many_connections');
    expect(rec).toMatchObject({ mode: 'http', detail: expect.stringMatching(/per client: .* requests in flight/) });
    held.shift()?.end('released');
    const first = await inFlight;
    expect(first.status).toBe(200);
    first.socket.destroy();
    await expect.poll(async () => (await ask(g.port, plainGet('/after', auth))).status).toBe(200);
  });

  it('answers 407 with Proxy-Authenticate to a request without credentials', async () => {
    const g = await plainGateway({});
    const a = await ask(g.port, plainGet('/no-auth'));
    expect(a.status).toBe(407);
    expect(a.headers['proxy-authenticate']).toBe('Basic realm="acr-egress"');
    expect(seen.map((x) => x.url)).not.toContain('/no-auth');
  });

  it('records user and instance on a direct request, and never forwards the credentials', async () => {
    const g = await plainGateway({});
    const { stdout } = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--proxy',
      g.proxyUrl,
      '--proxy-user',
      `alice:${PASSWORD}`,
      `http://plain.example.org:${port}/direct-user`,
    ]);
    expect(stdout).toBe(`hello from plain.example.org:${port}/direct-user`);
    expect(seen.at(-1)).toMatchObject({ url: '/direct-user', proxyAuth: undefined });
    const rec = await g.waitForRecord((r) => r.mode === 'http' && r.decision === 'allowed');
    expect(rec).toMatchObject({ user: 'alice', instance: INSTANCE, ip: '127.0.0.2', rule: 'allow:plain.example.org' });
    expect(rec.via).toBeUndefined();
    expect(JSON.stringify(g.records())).not.toContain(PASSWORD);
  });
});

describe('Expect: 100-continue on plain HTTP', () => {
  it('sends no 100 to a request it refuses: the refusal is the first answer', async () => {
    const a = await ask(
      gw.port,
      `PUT http://evil.example.org:${port}/push HTTP/1.1\r\nHost: evil.example.org:${port}\r\n` +
        'Content-Length: 5\r\nExpect: 100-continue\r\n\r\n',
    );
    expect(a.head.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    expect(a.headers['x-acr-egress-reason']).toBe('host_not_allowed');
  });

  it('sends 100 Continue to a request it forwards, then relays the answer to the body', async () => {
    const a = await rawConnect(
      gw.port,
      `PUT http://plain.example.org:${port}/put HTTP/1.1\r\nHost: plain.example.org:${port}\r\n` +
        'Content-Length: 5\r\nExpect: 100-continue\r\n\r\n',
    );
    expect(a.status).toBe(100);
    const next = nextHead(a.socket);
    a.socket.write('hello');
    expect((await next).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    a.socket.destroy();
    expect(seen.at(-1)).toMatchObject({ url: '/put' });
  });
});

describe('plain HTTP through proxy.parent', () => {
  let parent: ConnectProxy;
  let g: TestGateway;

  beforeAll(async () => {
    parent = await startConnectProxy({ 'plain.example.org': '127.0.0.2' });
    const credentials = join(dir, 'parent-credentials');
    writeFileSync(credentials, 'corpuser:parent-secret\n');
    g = await plainGateway(
      { parent: parent.url, parentCredentialsFile: credentials },
      { serviceTags: { enforce: true, enforceWithParent: false, source: null, cacheFile: null } },
    );
  });

  afterAll(async () => {
    await parent.close();
  });

  it('goes through the parent (CONNECT host:port) and records user, via parent and instance', async () => {
    const a = await ask(
      g.port,
      plainGet('/via-parent', `Proxy-Authorization: ${basic('alice', PASSWORD)}`, 'Proxy-Connection: keep-alive'),
    );
    expect(a.status).toBe(200);
    expect(parent.log.at(-1)).toEqual({
      authority: `plain.example.org:${port}`,
      proxyAuthorization: basic('corpuser', 'parent-secret'),
    });
    expect(seen.at(-1)).toMatchObject({ url: '/via-parent', proxyAuth: undefined });
    expect(received.at(-1)).not.toContain('proxy-connection');
    const rec = await g.waitForRecord((r) => r.mode === 'http' && r.decision === 'allowed');
    expect(rec).toMatchObject({ user: 'alice', via: 'parent', ip: null, instance: INSTANCE });
    expect(JSON.stringify(g.records())).not.toContain(PASSWORD);
  });

  it('answers upstream_unreachable with the status of a parent that refuses, and sends no 100', async () => {
    parent.refuseWith = 403;
    try {
      const a = await ask(
        g.port,
        `PUT http://plain.example.org:${port}/refused HTTP/1.1\r\nHost: plain.example.org:${port}\r\n` +
          `Proxy-Authorization: ${basic('alice', PASSWORD)}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`,
      );
      expect(a.status).toBe(502);
      expect(a.headers['x-acr-egress-reason']).toBe('upstream_unreachable');
      const rec = await g.waitForRecord((r) => r.reason === 'upstream_unreachable');
      expect(rec).toMatchObject({ mode: 'http', via: 'parent', detail: expect.stringMatching(/refused CONNECT.*403/) });
    } finally {
      parent.refuseWith = null;
    }
  });
});

describe('plain HTTP to an inspected registry', () => {
  it('refuses it with plain_http_not_allowed: inspection rules cannot be bypassed over http://', async () => {
    const ca = createCa('plain CA');
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem);
    const host = 'myregistry.azurecr.io';
    const g = await plainGateway(
      {},
      {
        registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, pullOnly: true }],
        inspect: { caCertFile: join(dir, 'ca.crt'), caKeyFile: join(dir, 'ca.key') },
        serviceTags: { enforce: false, source: null, cacheFile: null },
        dns: { servers: ['127.0.0.1:1'], overrides: { [host]: ['127.0.0.2'] } },
      },
    );
    const a = await ask(
      g.port,
      `PUT http://${host}:${port}/v2/team/app/manifests/v1 HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
        `Proxy-Authorization: ${basic('alice', PASSWORD)}\r\n\r\n`,
    );
    expect(a.status).toBe(403);
    expect(a.headers['x-acr-egress-reason']).toBe('plain_http_not_allowed');
    const rec = await g.waitForRecord((r) => r.reason === 'plain_http_not_allowed');
    expect(rec).toMatchObject({ mode: 'http', rule: 'registry:myregistry:login' });
    expect(seen.map((x) => x.url)).not.toContain('/v2/team/app/manifests/v1');
  });
});
