// CONNECT tunnels end to end on loopback: real TLS upstreams, real clients, every reason code.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClientHello } from '../helpers/client-hello-capture.js';
import { connectThrough, httpsGet, rawConnect, readToEnd, tlsOver } from '../helpers/raw.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const run = promisify(execFile);

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.2', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

let acr: Upstream;
let blob: Upstream;
let gw: TestGateway;
let deadPort: number;
let tagsFile: string;

beforeAll(async () => {
  acr = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io', 'other.azurecr.io'] });
  blob = await startUpstream({ host: '127.0.0.3', port: acr.port, names: ['*.blob.core.windows.net'] });
  deadPort = await closedPort();
  tagsFile = writeTagsFile();
  gw = await startGateway(
    testConfig({
      proxy: {
        listen: '127.0.0.1:0',
        ports: [acr.port, deadPort],
        clientHelloTimeoutMs: 500,
        connectTimeoutMs: 2000,
        drainTimeoutMs: 500,
      },
      serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        timeoutMs: 300,
        overrides: {
          'myregistry.azurecr.io': ['127.0.0.2'],
          'other.azurecr.io': ['127.0.0.2'],
          'account1.blob.core.windows.net': ['127.0.0.3'],
          'mcr.microsoft.com': ['127.0.0.9'],
          'myregistry.eastus.data.azurecr.io': ['10.1.2.3'],
        },
      },
    }),
  );
});

afterAll(async () => {
  await gw?.stop();
  await acr?.close();
  await blob?.close();
});

describe('allowed tunnels', () => {
  it('lets a TLS client reach the login server and records rule, tag and bytes', async () => {
    const answer = await connectThrough(gw.port, `myregistry.azurecr.io:${acr.port}`);
    expect(answer.status).toBe(200);
    const tls = await tlsOver(answer.socket, 'myregistry.azurecr.io', acr.ca);
    const response = await httpsGet(tls, 'myregistry.azurecr.io', '/v2/');
    expect(response).toContain('ok myregistry.azurecr.io');
    expect(acr.snis).toContain('myregistry.azurecr.io');
    const rec = await gw.waitForRecord((r) => r.host === 'myregistry.azurecr.io' && r.bytesDown !== null);
    expect(rec).toMatchObject({
      mode: 'connect',
      decision: 'allowed',
      reason: null,
      rule: 'registry:myregistry:login',
      tag: 'AzureContainerRegistry.EastUS',
      ip: '127.0.0.2',
      port: acr.port,
      sni: 'myregistry.azurecr.io',
      client: '127.0.0.1',
    });
    expect(rec.bytesUp).toBeGreaterThan(100);
    expect(rec.bytesDown).toBeGreaterThan(100);
    expect(rec.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('lets curl fetch through the proxy with HTTPS_PROXY semantics', async () => {
    const caFile = join(gw.dir, 'ca.pem');
    writeFileSync(caFile, acr.ca);
    const { stdout } = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--proxy',
      gw.proxyUrl,
      '--cacert',
      caFile,
      `https://myregistry.azurecr.io:${acr.port}/v2/`,
    ]);
    expect(stdout).toBe('ok myregistry.azurecr.io\n');
  });

  it('lets openssl s_client -proxy complete a handshake with the right SNI', async () => {
    const caFile = join(gw.dir, 'ca.pem');
    writeFileSync(caFile, acr.ca);
    const child = execFile('openssl', [
      's_client',
      '-proxy',
      `127.0.0.1:${gw.port}`,
      '-connect',
      `account1.blob.core.windows.net:${acr.port}`,
      '-servername',
      'account1.blob.core.windows.net',
      '-CAfile',
      caFile,
      '-verify_return_error',
      '-brief',
      '-ign_eof',
    ]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin?.end('GET / HTTP/1.1\r\nHost: account1.blob.core.windows.net\r\nConnection: close\r\n\r\n');
    await new Promise((r) => child.on('close', r));
    expect(out).toContain('ok account1.blob.core.windows.net');
    expect(blob.snis).toContain('account1.blob.core.windows.net');
    const rec = await gw.waitForRecord((r) => r.host === 'account1.blob.core.windows.net');
    expect(rec).toMatchObject({
      decision: 'allowed',
      rule: 'registry:myregistry:blob',
      tag: 'Storage.EastUS',
      ip: '127.0.0.3',
    });
  });
});

type Case = {
  name: string;
  send: () => Promise<{ status: number; reason?: string; closed?: boolean }>;
  reason: string;
  host?: string;
};

async function expectStatus(authority: string): Promise<{ status: number; reason?: string }> {
  const a = await connectThrough(gw.port, authority);
  a.socket.destroy();
  return { status: a.status, reason: a.headers['x-acr-egress-reason'] };
}

/** Opens a tunnel (expects 200), then runs `inside` on the socket; reports whether the proxy closed it. */
async function afterTunnel(
  authority: string,
  inside: (s: import('node:net').Socket) => void,
): Promise<{ status: number; closed: boolean }> {
  const a = await connectThrough(gw.port, authority);
  expect(a.status).toBe(200);
  inside(a.socket);
  await readToEnd(a.socket, 5000);
  return { status: a.status, closed: true };
}

describe('blocked requests carry their reason code', () => {
  const cases: Case[] = [
    {
      name: 'refuses a CONNECT target without a port with 400 bad_request',
      reason: 'bad_request',
      send: () => expectStatus('myregistry.azurecr.io'),
    },
    {
      name: 'refuses a host with % with 400 bad_request',
      reason: 'bad_request',
      send: () => expectStatus('my%72egistry.azurecr.io:443'),
    },
    {
      name: 'blocks port 22 with port_not_allowed',
      reason: 'port_not_allowed',
      send: () => expectStatus('myregistry.azurecr.io:22'),
    },
    {
      name: 'blocks an IPv4 literal with ip_literal',
      reason: 'ip_literal',
      send: () => expectStatus(`127.0.0.2:${acr.port}`),
    },
    {
      name: 'blocks an integer IP literal with ip_literal',
      reason: 'ip_literal',
      send: () => expectStatus(`2130706434:${acr.port}`),
    },
    {
      name: 'blocks a bracketed IPv6 literal with ip_literal',
      reason: 'ip_literal',
      send: () => expectStatus(`[::1]:${acr.port}`),
    },
    {
      name: 'blocks evilmyregistry.azurecr.io with host_not_allowed',
      reason: 'host_not_allowed',
      send: () => expectStatus(`evilmyregistry.azurecr.io:${acr.port}`),
    },
    {
      name: 'blocks myregistry.azurecr.io.evil.com with host_not_allowed',
      reason: 'host_not_allowed',
      send: () => expectStatus(`myregistry.azurecr.io.evil.com:${acr.port}`),
    },
    {
      name: 'answers an unresolvable allowed host with 502 dns_failure',
      reason: 'dns_failure',
      send: () => expectStatus(`nowhere.blob.core.windows.net:${acr.port}`),
    },
    {
      name: 'blocks an allowed host resolving to 10.1.2.3 with private_destination',
      reason: 'private_destination',
      send: () => expectStatus(`myregistry.eastus.data.azurecr.io:${acr.port}`),
    },
    {
      name: 'blocks an address outside the MCR tag with ip_not_in_service_tag',
      reason: 'ip_not_in_service_tag',
      send: () => expectStatus(`mcr.microsoft.com:${acr.port}`),
    },
    {
      name: 'answers a refused upstream connection with 502 upstream_unreachable',
      reason: 'upstream_unreachable',
      send: () => expectStatus(`myregistry.azurecr.io:${deadPort}`),
    },
  ];
  it.each(cases)('$name', async ({ send, reason }) => {
    const got = await send();
    expect(got.reason).toBe(reason);
    expect(got.status).toBe(
      reason === 'bad_request' ? 400 : reason === 'dns_failure' || reason === 'upstream_unreachable' ? 502 : 403,
    );
    await gw.waitForRecord((r) => r.reason === reason && r.decision === 'blocked');
  });

  it('closes a tunnel whose ClientHello has no SNI with sni_missing', async () => {
    await afterTunnel(`myregistry.azurecr.io:${acr.port}`, (s) => {
      const tls = tlsConnect({ socket: s, servername: '', ca: acr.ca });
      tls.on('error', () => undefined);
    });
    await gw.waitForRecord((r) => r.reason === 'sni_missing');
  });

  it('closes a tunnel whose SNI names another host with sni_mismatch (no domain fronting)', async () => {
    await afterTunnel(`myregistry.azurecr.io:${acr.port}`, (s) => {
      const tls = tlsConnect({ socket: s, servername: 'other.azurecr.io', ca: acr.ca });
      tls.on('error', () => undefined);
    });
    const rec = await gw.waitForRecord((r) => r.reason === 'sni_mismatch');
    expect(rec).toMatchObject({ decision: 'blocked', host: 'myregistry.azurecr.io', sni: 'other.azurecr.io' });
    expect(acr.snis).not.toContain('other.azurecr.io');
  });

  it('closes a tunnel whose ClientHello carries Encrypted Client Hello with sni_mismatch', async () => {
    const hello = buildClientHello({
      sni: 'myregistry.azurecr.io',
      extraExtensions: [{ type: 0xfe0d, data: Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0]) }],
    });
    await afterTunnel(`myregistry.azurecr.io:${acr.port}`, (s) => s.write(hello));
    const rec = await gw.waitForRecord(
      (r) => r.reason === 'sni_mismatch' && (r.detail ?? '').includes('Encrypted Client Hello'),
    );
    expect(rec.decision).toBe('blocked');
  });

  it('closes a tunnel that starts with plain HTTP with not_tls', async () => {
    await afterTunnel(`myregistry.azurecr.io:${acr.port}`, (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await gw.waitForRecord((r) => r.reason === 'not_tls');
  });

  it('closes a silent tunnel with client_hello_timeout', async () => {
    await afterTunnel(`myregistry.azurecr.io:${acr.port}`, () => undefined);
    await gw.waitForRecord((r) => r.reason === 'client_hello_timeout');
  });

  it('refuses a malformed request line with 400 bad_request and stays up', async () => {
    const a = await rawConnect(gw.port, 'HELLO\x00\x01 WORLD\r\n\r\n');
    expect(a.status).toBe(400);
    const ok = await connectThrough(gw.port, `myregistry.azurecr.io:${acr.port}`);
    expect(ok.status).toBe(200);
    ok.socket.destroy();
  });
});

describe('gateway-wide limits and modes', () => {
  it('blocks a client outside proxy.clients with client_not_allowed', async () => {
    const g2 = await startGateway(
      testConfig({
        proxy: { listen: '127.0.0.1:0', ports: [443], clients: ['10.0.0.0/8'] },
        serviceTags: { enforce: false, source: null, cacheFile: null },
      }),
    );
    try {
      const a = await connectThrough(g2.port, 'myregistry.azurecr.io:443');
      a.socket.destroy();
      expect(a.status).toBe(403);
      expect(a.headers['x-acr-egress-reason']).toBe('client_not_allowed');
    } finally {
      await g2.stop();
    }
  });

  it('blocks with service_tags_unavailable when enforcement is on and no tags are loaded', async () => {
    const g = await startGateway(
      testConfig({
        proxy: { listen: '127.0.0.1:0', ports: [acr.port] },
        dns: { servers: ['127.0.0.1:1'], overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
      }),
    );
    try {
      const a = await connectThrough(g.port, `myregistry.azurecr.io:${acr.port}`);
      a.socket.destroy();
      expect(a.headers['x-acr-egress-reason']).toBe('service_tags_unavailable');
    } finally {
      await g.stop();
    }
  });

  it('allows and marks the record when enforce is when-available and no tags are loaded', async () => {
    const g = await startGateway(
      testConfig({
        proxy: { listen: '127.0.0.1:0', ports: [acr.port] },
        serviceTags: { enforce: 'when-available', source: null, cacheFile: null },
        dns: { servers: ['127.0.0.1:1'], overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
      }),
    );
    try {
      const a = await connectThrough(g.port, `myregistry.azurecr.io:${acr.port}`);
      const tls = await tlsOver(a.socket, 'myregistry.azurecr.io', acr.ca);
      expect(await httpsGet(tls, 'myregistry.azurecr.io')).toContain('ok myregistry.azurecr.io');
      const rec = await g.waitForRecord((r) => r.bytesDown !== null);
      expect(rec).toMatchObject({ decision: 'allowed', tagsUnenforced: true, tag: null });
    } finally {
      await g.stop();
    }
  });

  it('answers past maxConnections with 503 too_many_connections', async () => {
    const g = await startGateway(testConfig({ proxy: { listen: '127.0.0.1:0', ports: [443], maxConnections: 1 } }));
    const held = connect({ host: '127.0.0.1', port: g.port });
    held.on('error', () => undefined);
    try {
      held.write('CONNECT ');
      await expect.poll(() => g.gateway.connections, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(1);
      const a = await connectThrough(g.port, 'myregistry.azurecr.io:443');
      expect(a.status).toBe(503);
      expect(a.headers['x-acr-egress-reason']).toBe('too_many_connections');
      await g.waitForRecord((r) => r.reason === 'too_many_connections');
    } finally {
      held.destroy();
      await g.stop();
    }
  });

  it('lets a blocked host through in report mode and records why it would have been blocked', async () => {
    const g = await startGateway(
      testConfig({
        mode: 'report',
        proxy: { listen: '127.0.0.1:0', ports: [acr.port] },
        serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
        dns: { servers: ['127.0.0.1:1'], overrides: { 'other.azurecr.io': ['127.0.0.2'] } },
      }),
    );
    try {
      const a = await connectThrough(g.port, `other.azurecr.io:${acr.port}`);
      expect(a.status).toBe(200);
      const tls = await tlsOver(a.socket, 'other.azurecr.io', acr.ca);
      expect(await httpsGet(tls, 'other.azurecr.io')).toContain('ok other.azurecr.io');
      const rec = await g.waitForRecord((r) => r.host === 'other.azurecr.io' && r.bytesDown !== null);
      expect(rec).toMatchObject({ decision: 'allowed', report: true, reason: 'host_not_allowed' });
    } finally {
      await g.stop();
    }
  });
});

describe('tunnel lifetime', () => {
  it('closes an idle tunnel after idleTimeoutMs and records its bytes', async () => {
    const g = await startGateway(
      testConfig({
        proxy: { listen: '127.0.0.1:0', ports: [acr.port], idleTimeoutMs: 300 },
        serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
        dns: { servers: ['127.0.0.1:1'], overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
      }),
    );
    try {
      const a = await connectThrough(g.port, `myregistry.azurecr.io:${acr.port}`);
      const tls = await tlsOver(a.socket, 'myregistry.azurecr.io', acr.ca);
      tls.write('GET / HTTP/1.1\r\nHost: myregistry.azurecr.io\r\n\r\n'); // keep-alive: the upstream stays open
      await readToEnd(tls, 10_000); // ends when the gateway cuts the idle tunnel
      const rec = await g.waitForRecord((r) => r.bytesDown !== null);
      expect(rec.bytesDown).toBeGreaterThan(0);
    } finally {
      await g.stop();
    }
  });

  it('drains on stop: a tunnel still open is cut after drainTimeoutMs and its record is flushed to the log file', async () => {
    const g = await startGateway(
      testConfig({
        proxy: { listen: '127.0.0.1:0', ports: [acr.port], drainTimeoutMs: 200 },
        serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
        dns: { servers: ['127.0.0.1:1'], overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
      }),
    );
    const a = await connectThrough(g.port, `myregistry.azurecr.io:${acr.port}`);
    const tls = await tlsOver(a.socket, 'myregistry.azurecr.io', acr.ca);
    tls.on('error', () => undefined);
    tls.write('GET / HTTP/1.1\r\nHost: myregistry.azurecr.io\r\n\r\n');
    await new Promise((r) => tls.once('data', r));
    await g.stop();
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(g.logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ host: 'myregistry.azurecr.io', decision: 'allowed', kind: 'decision' }),
    ]);
    expect(lines[0]?.bytesDown).toBeGreaterThan(0);
  });
});
