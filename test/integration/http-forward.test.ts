// Plain-HTTP proxying of absolute-form requests: same host and address checks as tunnels.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { rawConnect } from '../helpers/raw.js';

const run = promisify(execFile);
let origin: Server;
let port: number;
let gw: TestGateway;
const seen: { url: string; host: string | undefined; proxyAuth: string | undefined }[] = [];
/** Every header name the origin received, per request. */
const received: string[][] = [];

beforeAll(async () => {
  origin = createServer((req, res) => {
    seen.push({ url: req.url ?? '', host: req.headers.host, proxyAuth: req.headers['proxy-authorization'] });
    received.push(Object.keys(req.headers));
    res.end(`hello from ${req.headers.host}${req.url}`);
  });
  origin.listen(0, '127.0.0.2');
  await once(origin, 'listening');
  port = (origin.address() as AddressInfo).port;
  gw = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [port], allowPlainHttp: true },
      allow: ['plain.example.org', 'private.example.org'],
      serviceTags: { enforce: true, source: null, cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        overrides: { 'plain.example.org': ['127.0.0.2'], 'private.example.org': ['10.0.0.1'] },
      },
    }),
  );
});

afterAll(async () => {
  await gw?.stop();
  origin?.close();
});

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
