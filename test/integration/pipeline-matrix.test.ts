// Every promise on every path: {CONNECT, transparent} x {direct, parent} x {spliced, inspected}
// against pullOnly, repositories, learned blob hosts, client groups, the record's fields (user, via,
// instance) and no secret reaching the upstream or any output. Real sockets: a TLS upstream that
// keeps every request head it received, a real CONNECT parent, the gateway's own CA.
//
//   promise             spliced                                  inspected
//   pullOnly            refused at config (needs inspect: true)  403 push_not_allowed, upstream never sees it
//   repositories        refused at config (needs inspect: true)  403 repository_not_allowed
//   learned blob hosts  refused at config (needs inspect: true)  a 307 to a blob host opens it for that client
//   client groups       client_not_allowed outside every group   the same
//   user                CONNECT: the proxy user; transparent: null (no HTTP, no proxy auth)
//   via                 "parent" on the parent rows, absent on the direct rows (tunnel and request records)
//   instance            on every record
//   no secret           the proxy password and Proxy-*/hop-by-hop headers never reach the upstream,
//                       the parent, a record, the audit log or the operational log
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-hash.js';
import type { DecisionRecord } from '../../src/audit/record.js';
import { buildConfig } from '../../src/config/load.js';
import { createCa } from '../../src/tls/ca.js';
import { startConnectProxy, type ConnectProxy } from '../helpers/connect-proxy.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { readToEnd } from '../helpers/raw.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'myregistry.azurecr.io';
const BLOB = 'account1.blob.core.windows.net';
const PASSWORD = 'matrix-password-never-forwarded';
const BASIC = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
const INSTANCE = 'matrix-replica';
const DIGEST = `sha256:${'c'.repeat(64)}`;
/** Client addresses: CONNECT and transparent clients in the group, one outside every group. */
const CONNECT_FROM = '127.0.0.1';
const TRANSPARENT_FROM = '127.0.0.6';
const OUTSIDER = '127.0.0.5';

type Entry = 'connect' | 'transparent';
type Route = 'direct' | 'parent';
type Handling = 'spliced' | 'inspected';

let upstream: Upstream;
let parent: ConnectProxy;
let dir: string;
let caPem: string;
const opLog: string[] = [];
const gateways = new Map<string, TestGateway>();

async function gatewayFor(route: Route, handling: Handling): Promise<TestGateway> {
  const inspected = handling === 'inspected';
  const gw = await startGateway(
    testConfig({
      proxy: {
        listen: '127.0.0.1:0',
        transparentListen: '127.0.0.1:0',
        transparentUpstreamPort: upstream.port,
        ports: [upstream.port],
        clientHelloTimeoutMs: 3000,
        connectTimeoutMs: 3000,
        drainTimeoutMs: 300,
        auth: { usersFile: join(dir, 'users') },
        ...(route === 'parent' ? { parent: parent.url } : {}),
      },
      registries: [
        inspected
          ? {
              name: 'myregistry',
              regions: ['eastus'],
              inspect: true,
              pullOnly: true,
              repositories: ['team/*'],
              blobStorage: 'learned',
            }
          : { name: 'myregistry', regions: ['eastus'], blobStorage: false },
      ],
      clientGroups: [
        { name: 'builders', cidrs: [`${CONNECT_FROM}/32`, `${TRANSPARENT_FROM}/32`], registries: ['myregistry'] },
      ],
      ...(inspected
        ? {
            inspect: {
              caCertFile: join(dir, 'ca.crt'),
              caKeyFile: join(dir, 'ca.key'),
              upstreamCaFile: join(dir, 'upstream.crt'),
            },
          }
        : {}),
      audit: { instance: INSTANCE },
      serviceTags: { enforce: false, source: null, cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], timeoutMs: 300, overrides: { [HOST]: ['127.0.0.2'], [BLOB]: ['127.0.0.2'] } },
      log: { level: 'debug' },
    }),
    {
      logDestination: new Writable({
        write(chunk: Buffer, _enc, done) {
          opLog.push(chunk.toString());
          done();
        },
      }),
    },
  );
  gateways.set(`${route} ${handling}`, gw);
  return gw;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acr-egress-matrix-'));
  upstream = await startUpstream({
    host: '127.0.0.2',
    names: [HOST, BLOB],
    // The registry redirects blob GETs to its storage account, with a SAS-like query string.
    redirect: (line, sni) =>
      sni === HOST && /^GET \/v2\/[^ ]+\/blobs\//.test(line)
        ? `https://${BLOB}:${upstream.port}/docker/blob?sig=never-kept`
        : null,
  });
  parent = await startConnectProxy({ [HOST]: '127.0.0.2', [BLOB]: '127.0.0.2' });
  const ca = createCa('matrix CA');
  caPem = ca.certPem;
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem);
  writeFileSync(join(dir, 'upstream.crt'), upstream.ca);
  writeFileSync(join(dir, 'users'), `alice:${await hashPassword(PASSWORD)}\n`);
  for (const route of ['direct', 'parent'] as const)
    for (const handling of ['spliced', 'inspected'] as const) await gatewayFor(route, handling);
});

afterAll(async () => {
  for (const gw of gateways.values()) await gw.stop();
  await parent?.close();
  await upstream?.close();
});

/** A TLS connection to `host` through the gateway, from `from`; null when the gateway refused it. */
async function open(gw: TestGateway, entry: Entry, from: string, host: string, ca: string): Promise<TLSSocket | null> {
  let socket: Socket;
  if (entry === 'connect') {
    socket = connect({ host: '127.0.0.1', port: gw.port, localAddress: from });
    await once(socket, 'connect');
    socket.write(
      `CONNECT ${host}:${upstream.port} HTTP/1.1\r\nHost: ${host}:${upstream.port}\r\n` +
        `Proxy-Authorization: ${BASIC}\r\n\r\n`,
    );
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    if (!chunk.toString('latin1').startsWith('HTTP/1.1 200')) {
      socket.destroy();
      return null;
    }
  } else {
    const port = gw.gateway.transparentAddress?.port ?? 0;
    socket = connect({ host: '127.0.0.1', port, localAddress: from });
    await once(socket, 'connect');
  }
  socket.on('error', () => undefined);
  const tls = tlsConnect({ socket, servername: host, ca });
  tls.on('error', () => undefined);
  const ok = await new Promise<boolean>((resolve) => {
    tls.once('secureConnect', () => resolve(true));
    tls.once('close', () => resolve(false));
  });
  return ok ? tls : null;
}

/**
 * One request on a new tunnel, carrying every header a proxy must consume: the proxy credentials,
 * Proxy-Connection, Keep-Alive, TE and a name listed in Connection. Resolves with the raw response.
 */
async function exchange(
  gw: TestGateway,
  entry: Entry,
  handling: Handling,
  method: string,
  path: string,
): Promise<string> {
  const tls = await open(gw, entry, entry === 'connect' ? CONNECT_FROM : TRANSPARENT_FROM, HOST, caFor(handling));
  expect(tls).not.toBeNull();
  const headers =
    handling === 'inspected'
      ? `Proxy-Authorization: ${BASIC}\r\nProxy-Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n` +
        'TE: trailers\r\nX-Hop: hop-value\r\nConnection: close, X-Hop\r\n'
      : 'Connection: close\r\n';
  tls!.write(`${method} ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${headers}Content-Length: 0\r\n\r\n`);
  return (await readToEnd(tls as unknown as Socket, 10_000)).toString('latin1');
}

const caFor = (handling: Handling): string => (handling === 'inspected' ? caPem : upstream.ca);

function since(gw: TestGateway, at: number): DecisionRecord[] {
  return gw.records().slice(at);
}

const CELLS: [Entry, Route, Handling][] = [];
for (const entry of ['connect', 'transparent'] as const)
  for (const route of ['direct', 'parent'] as const)
    for (const handling of ['spliced', 'inspected'] as const) CELLS.push([entry, route, handling]);
const INSPECTED = CELLS.filter(([, , h]) => h === 'inspected');

describe.each(CELLS)('%s, %s, %s', (entry, route, handling) => {
  const gw = (): TestGateway => gateways.get(`${route} ${handling}`)!;
  const user = entry === 'connect' ? 'alice' : null;
  const via = route === 'parent' ? 'parent' : undefined;

  it('carries an allowed request and records user, via and instance on every record', async () => {
    const at = gw().records().length;
    const answer = await exchange(gw(), entry, handling, 'GET', '/v2/team/app/manifests/v1');
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain(`ok ${HOST}`);
    await expect.poll(() => since(gw(), at).some((r) => r.kind === undefined && r.bytesDown !== null)).toBe(true);
    const mine = since(gw(), at).filter((r) => r.host === HOST);
    expect(mine.length).toBe(handling === 'inspected' ? 2 : 1);
    for (const rec of mine) {
      expect(rec).toMatchObject({ mode: entry, user, instance: INSTANCE, decision: 'allowed' });
      expect(rec.via).toBe(via);
    }
    if (handling === 'inspected') {
      const tunnel = mine.find((r) => r.kind === undefined)!;
      expect(mine.find((r) => r.kind === 'request')).toMatchObject({ tunnel: tunnel.id, status: 200 });
    }
  });

  it('refuses a client outside every client group with client_not_allowed', async () => {
    const at = gw().records().length;
    expect(await open(gw(), entry, OUTSIDER, HOST, caFor(handling))).toBeNull();
    await expect.poll(() => since(gw(), at).find((r) => r.client === OUTSIDER)?.reason).toBe('client_not_allowed');
  });
});

describe.each(INSPECTED)('%s, %s, %s: the registry rules', (entry, route) => {
  const gw = (): TestGateway => gateways.get(`${route} inspected`)!;
  const from = entry === 'connect' ? CONNECT_FROM : TRANSPARENT_FROM;

  it('refuses a manifest PUT of a pullOnly registry with push_not_allowed; the upstream never sees it', async () => {
    const answer = await exchange(gw(), entry, 'inspected', 'PUT', `/v2/team/${entry}-${route}/manifests/v1`);
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
    expect(answer).toContain('push_not_allowed');
    expect(upstream.requests.filter((l) => l.includes(`${entry}-${route}`))).toEqual([]);
  });

  it('refuses a repository outside repositories with repository_not_allowed', async () => {
    const answer = await exchange(gw(), entry, 'inspected', 'GET', '/v2/other/app/manifests/v1');
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
    expect(answer).toContain('repository_not_allowed');
  });

  it('opens a blob host to this client only after the registry redirected it there', async () => {
    // Each gateway learns per client address; the two entries use different addresses.
    expect(await open(gw(), entry, from, BLOB, upstream.ca)).toBeNull();
    const answer = await exchange(gw(), entry, 'inspected', 'GET', `/v2/team/app/blobs/${DIGEST}`);
    expect(answer).toMatch(/^HTTP\/1\.1 307/);
    const at = gw().records().length;
    const tls = await open(gw(), entry, from, BLOB, upstream.ca);
    expect(tls).not.toBeNull();
    tls!.destroy();
    await expect
      .poll(() => since(gw(), at).find((r) => r.host === BLOB && r.decision === 'allowed')?.rule)
      .toBe('registry:myregistry:blob-learned');
  });
});

describe('the spliced rows of the registry rules', () => {
  it.each([
    ['pullOnly', { pullOnly: true }, 'pullOnly: needs inspect: true'],
    ['repositories', { repositories: ['team/*'] }, 'repositories: needs inspect: true'],
    ['learned blob hosts', { blobStorage: 'learned' }, 'needs inspect: true'],
  ])('refuses %s without inspect: true at config validation', (_name, settings, message) => {
    const config = { registries: [{ name: 'myregistry', ...settings }], admin: { listen: null } };
    let problems: string[] = [];
    try {
      buildConfig(config, null);
    } catch (err) {
      problems = (err as { details: string[] }).details;
    }
    expect(problems.join('\n')).toContain(message);
  });
});

describe('no secret past the gateway', () => {
  it('the upstream received no proxy credential and no hop-by-hop header on any path', () => {
    expect(upstream.heads.length).toBeGreaterThan(0);
    const received = upstream.heads.join('\n').toLowerCase();
    for (const name of ['proxy-authorization', 'proxy-connection', 'keep-alive:', 'te:', 'x-hop', 'hop-value'])
      expect(received).not.toContain(name);
    expect(received).not.toContain(PASSWORD);
    expect(received).not.toContain(BASIC.toLowerCase());
  });

  it('the parent never got the proxy user credentials', () => {
    expect(parent.log.length).toBeGreaterThan(0);
    for (const entry of parent.log) expect(entry.proxyAuthorization).toBeUndefined();
  });

  it('no record, audit log or operational log holds the password or the credentials', async () => {
    for (const gw of gateways.values()) {
      expect(JSON.stringify(gw.records())).not.toContain(PASSWORD);
      expect(JSON.stringify(gw.records())).not.toContain(BASIC);
      expect(JSON.stringify(gw.records())).not.toContain('never-kept');
      await gw.stop(); // flushes the audit log
      const audit = readFileSync(gw.logFile, 'utf8');
      expect(audit).toContain(INSTANCE);
      for (const secret of [PASSWORD, BASIC, 'never-kept']) expect(audit).not.toContain(secret);
    }
    expect(opLog.length).toBeGreaterThan(0);
    for (const secret of [PASSWORD, BASIC, 'never-kept']) expect(opLog.join('')).not.toContain(secret);
  });
});
