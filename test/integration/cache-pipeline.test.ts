// The layer cache on every path of the pipeline: {CONNECT, transparent} x {direct, parent}. A layer
// the registry redirects to storage is fetched once through the tunnel's vetted dial (service tags
// and a learned blob host on the direct rows, the parent proxy on the parent rows) and served from
// disk after the registry says yes again; a refused token gets the registry's own answer; a
// Location no rule allows, or whose certificate does not name it, is relayed, never followed; an
// unreachable registry means no cached byte. MCR (anonymous, mcr: {inspect, cache}) the same way.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createServer, type Server } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/audit/record.js';
import { createCa } from '../../src/tls/ca.js';
import { makeCa, makeLeaf } from '../helpers/certs.js';
import { startConnectProxy, type ConnectProxy } from '../helpers/connect-proxy.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { readToEnd } from '../helpers/raw.js';
import { loopbackTags, writeTagsFile } from '../helpers/tags.js';

const HOST = 'myregistry.azurecr.io';
/** A registry whose address (in its service tag) answers nobody. */
const DOWN = 'downregistry.azurecr.io';
const BLOB = 'account1.blob.core.windows.net';
/** A Location outside every rule: the gateway must not follow it (its parent would reach storage). */
const EVIL = 'evil.example.com';
/** A storage host whose address lies outside every service tag (a parent resolves it for itself). */
const UNTAGGED = 'account2.blob.core.windows.net';
const UNTAGGED_IP = '127.0.0.9';
/** A storage host in the rules and the tags whose certificate does not name it. */
const UNTRUSTED = 'account3.blob.core.windows.net';
const MCR = 'mcr.microsoft.com';
const MCR_DATA = 'eastus.data.mcr.microsoft.com';
const MCR_IP = '127.0.0.4';
const AFD_IP = '127.0.0.5';
const GOOD = 'good-token';
const CONNECT_FROM = '127.0.0.1';
const TRANSPARENT_FROM = '127.0.0.6';
const REGISTRY_IP = '127.0.0.2';
const STORAGE_IP = '127.0.0.3';
const DOWN_IP = '127.0.0.12';

type Entry = 'connect' | 'transparent';
type Route = 'direct' | 'parent';

const servers: Server[] = [];
let registryPort: number;
let storagePort: number;
let parent: ConnectProxy;
let caPem: string;
/** Registry requests as `METHOD path authorization`, and storage GETs by digest hex. */
const registrySaw: string[] = [];
const storageServed = new Map<string, number>();
const blobs = new Map<string, Buffer>();
const gateways = new Map<Route, TestGateway>();

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Where the registry sends a blob GET, by the repository's first component. */
const LOCATION_HOST: Record<string, string> = { elsewhere: EVIL, untagged: UNTAGGED, untrusted: UNTRUSTED };

async function serve(
  host: string,
  port: number,
  pem: { key: string; cert: string },
  handler: RequestListener,
): Promise<number> {
  const server = createServer(pem, handler);
  servers.push(server);
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-pipeline-'));
  const upstreamCa = makeCa('cache pipeline upstream CA');
  const registry: RequestListener = (req, res) => {
    registrySaw.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    const mcr = req.headers.host === MCR; // anonymous, as MCR is
    if (!mcr && req.headers.authorization !== `Bearer ${GOOD}`) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="https://${HOST}/oauth2/token"` });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"registry says no"}]}');
      return;
    }
    const m = /^\/v2\/([a-z]+)\/[a-z/]+\/blobs\/sha256:([0-9a-f]{64})$/.exec(req.url ?? '');
    if (m === null) return void res.writeHead(404).end();
    const host = mcr ? MCR_DATA : (LOCATION_HOST[m[1]!] ?? BLOB);
    res.writeHead(307, { location: `https://${host}:${storagePort}/blobs/${m[2]}?sig=never-kept` }).end();
  };
  const storage: RequestListener = (req, res) => {
    const hex = /^\/blobs\/([0-9a-f]{64})\?/.exec(req.url ?? '')?.[1] ?? '';
    const body = blobs.get(hex);
    if (body === undefined) return void res.writeHead(404).end();
    storageServed.set(hex, (storageServed.get(hex) ?? 0) + 1);
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' }).end(body);
  };
  registryPort = await serve(REGISTRY_IP, 0, makeLeaf(upstreamCa, [HOST, DOWN]), registry);
  storagePort = await serve(STORAGE_IP, 0, makeLeaf(upstreamCa, [BLOB, EVIL, UNTAGGED]), storage);
  // MCR on its own addresses, on the same ports (the transparent listener has one upstream port).
  await serve(MCR_IP, registryPort, makeLeaf(upstreamCa, [MCR]), registry);
  await serve(AFD_IP, storagePort, makeLeaf(upstreamCa, [MCR_DATA]), storage);
  parent = await startConnectProxy({
    [HOST]: REGISTRY_IP,
    [DOWN]: DOWN_IP,
    [BLOB]: STORAGE_IP,
    [EVIL]: STORAGE_IP,
    [UNTAGGED]: STORAGE_IP,
    [UNTRUSTED]: STORAGE_IP,
    [MCR]: MCR_IP,
    [MCR_DATA]: AFD_IP,
  });
  const ca = createCa('cache pipeline CA');
  caPem = ca.certPem;
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem);
  writeFileSync(join(dir, 'upstream.crt'), upstreamCa.cert);
  const tagsFile = writeTagsFile(loopbackTags(), 1, dir);
  for (const route of ['direct', 'parent'] as const) {
    const registryEntry = (name: string, region: string): Record<string, unknown> => ({
      name,
      regions: [region],
      inspect: true,
      cache: true,
      blobStorage: 'learned',
    });
    const gw = await startGateway(
      testConfig({
        proxy: {
          listen: '127.0.0.1:0',
          transparentListen: '127.0.0.1:0',
          transparentUpstreamPort: registryPort,
          ports: [registryPort, storagePort],
          clientHelloTimeoutMs: 3000,
          connectTimeoutMs: 3000,
          drainTimeoutMs: 300,
          ...(route === 'parent' ? { parent: parent.url } : {}),
        },
        registries: [registryEntry('myregistry', 'eastus'), registryEntry('downregistry', 'westus')],
        mcr: { inspect: true, cache: true },
        clientGroups: [
          {
            name: 'builders',
            cidrs: [`${CONNECT_FROM}/32`, `${TRANSPARENT_FROM}/32`],
            registries: ['myregistry', 'downregistry'],
            mcr: true,
          },
        ],
        inspect: {
          caCertFile: join(dir, 'ca.crt'),
          caKeyFile: join(dir, 'ca.key'),
          upstreamCaFile: join(dir, 'upstream.crt'),
        },
        cache: { dir: mkdtempSync(join(dir, `cache-${route}-`)), maxBytes: 64 * 1024 * 1024, minBlobBytes: 1024 },
        // Through a parent no address is checked (the parent resolves): said so in the config.
        serviceTags: {
          enforce: true,
          source: tagsFile,
          cacheFile: null,
          ...(route === 'parent' ? { enforceWithParent: false } : {}),
        },
        dns: {
          servers: ['127.0.0.1:1'],
          timeoutMs: 300,
          overrides: {
            [HOST]: [REGISTRY_IP],
            [DOWN]: [DOWN_IP],
            [BLOB]: [STORAGE_IP],
            [EVIL]: [STORAGE_IP],
            [UNTAGGED]: [UNTAGGED_IP],
            [UNTRUSTED]: [STORAGE_IP],
            [MCR]: [MCR_IP],
            [MCR_DATA]: [AFD_IP],
          },
        },
      }),
    );
    gateways.set(route, gw);
  }
});

afterAll(async () => {
  for (const gw of gateways.values()) await gw.stop();
  await parent?.close();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

/** A TLS connection to `host` through the gateway's CONNECT or transparent listener. */
async function open(gw: TestGateway, entry: Entry, host: string): Promise<TLSSocket> {
  let socket: Socket;
  if (entry === 'connect') {
    socket = connect({ host: '127.0.0.1', port: gw.port, localAddress: CONNECT_FROM });
    await once(socket, 'connect');
    socket.write(`CONNECT ${host}:${registryPort} HTTP/1.1\r\nHost: ${host}:${registryPort}\r\n\r\n`);
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    expect(chunk.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
  } else {
    const port = gw.gateway.transparentAddress?.port ?? 0;
    socket = connect({ host: '127.0.0.1', port, localAddress: TRANSPARENT_FROM });
    await once(socket, 'connect');
  }
  const tls = tlsConnect({ socket, servername: host, ca: caPem });
  await once(tls, 'secureConnect');
  return tls;
}

interface Answer {
  status: number;
  head: string;
  body: Buffer;
  record: DecisionRecord;
}

/** One GET on a new tunnel, with the registry token `token` (null: anonymous); the answer and its record. */
async function get(route: Route, entry: Entry, path: string, token: string | null, host = HOST): Promise<Answer> {
  const gw = gateways.get(route)!;
  const at = gw.records().length;
  const tls = await open(gw, entry, host);
  const authorization = token === null ? '' : `Authorization: Bearer ${token}\r\n`;
  tls.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${authorization}Connection: close\r\n\r\n`);
  const raw = await readToEnd(tls, 10_000);
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1');
  const record = await gw.waitForRecord(
    (r) => r.kind === 'request' && r.path === path && gw.records().indexOf(r) >= at,
  );
  return { status: Number(head.slice(9, 12)), head, body: raw.subarray(end + 4), record };
}

const CELLS: [Entry, Route][] = [];
for (const entry of ['connect', 'transparent'] as const)
  for (const route of ['direct', 'parent'] as const) CELLS.push([entry, route]);

describe.each(CELLS)('the layer cache, %s, %s', (entry, route) => {
  const layer = randomBytes(48 * 1024);
  const hex = sha(layer);
  const path = `/v2/team/app/blobs/sha256:${hex}`;
  blobs.set(hex, layer);
  const authorized = (): number => registrySaw.filter((l) => l === `GET ${path} Bearer ${GOOD}`).length;

  it('fills on the first GET through the vetted dial, then serves a hit after the registry said yes', async () => {
    const connects = parent.log.filter((l) => l.authority === `${BLOB}:${storagePort}`).length;
    const first = await get(route, entry, path, GOOD);
    expect(first.status).toBe(200);
    expect(sha(first.body)).toBe(hex);
    expect(first.record).toMatchObject({ cache: 'miss', status: 200, decision: 'allowed' });
    expect(storageServed.get(hex)).toBe(1);
    // The parent rows reached storage through the parent; the direct rows never touched it.
    const viaParent = parent.log.filter((l) => l.authority === `${BLOB}:${storagePort}`).length - connects;
    expect(viaParent).toBe(route === 'parent' ? 1 : 0);

    const second = await get(route, entry, path, GOOD);
    expect(second.status).toBe(200);
    expect(second.head.toLowerCase()).toContain(`docker-content-digest: sha256:${hex}`);
    expect(sha(second.body)).toBe(hex);
    expect(second.record).toMatchObject({ cache: 'hit', status: 200 });
    expect(storageServed.get(hex)).toBe(1);
    expect(authorized()).toBe(2); // one authorized registry request per GET, hit or miss
  });

  it("gives a refused token the registry's own answer and no cached byte, though the layer is cached", async () => {
    const refused = await get(route, entry, path, 'expired-token');
    expect(refused.status).toBe(401);
    expect(refused.head.toLowerCase()).toContain('www-authenticate: bearer realm=');
    expect(refused.body.toString()).toContain('registry says no');
    expect(refused.body.includes(layer.subarray(0, 64))).toBe(false);
    expect(refused.record).toMatchObject({ cache: 'bypass', status: 401 });
    expect(storageServed.get(hex)).toBe(1);
  });

  it('relays a redirect to a host no rule allows instead of following it', async () => {
    const other = randomBytes(4096);
    blobs.set(sha(other), other);
    const elsewhere = `/v2/elsewhere/app/blobs/sha256:${sha(other)}`;
    const answer = await get(route, entry, elsewhere, GOOD);
    expect(answer.status).toBe(307);
    expect(answer.head).toContain(`location: https://${EVIL}:${storagePort}/`);
    // The client got the registry's redirect as it came: the cache took no part.
    expect(answer.record).toMatchObject({ cache: 'bypass', status: 307 });
    expect(storageServed.get(sha(other))).toBeUndefined();
    expect(parent.log.some((l) => l.authority.startsWith(EVIL))).toBe(false);
  });

  it('follows a storage host outside the service tags only where the parent resolves it', async () => {
    const other = randomBytes(4096);
    blobs.set(sha(other), other);
    const untagged = `/v2/untagged/app/blobs/sha256:${sha(other)}`;
    const answer = await get(route, entry, untagged, GOOD);
    if (route === 'direct') {
      // The address check refuses the follow as it would the client's own CONNECT: the 307 is relayed.
      expect(answer.status).toBe(307);
      expect(answer.head).toContain(`location: https://${UNTAGGED}:${storagePort}/`);
      expect(storageServed.get(sha(other))).toBeUndefined();
      expect(answer.record).toMatchObject({ cache: 'bypass', status: 307 });
    } else {
      expect(answer.status).toBe(200);
      expect(sha(answer.body)).toBe(sha(other));
      expect(parent.log.some((l) => l.authority === `${UNTAGGED}:${storagePort}`)).toBe(true);
      expect(answer.record).toMatchObject({ cache: 'miss', status: 200 });
    }
  });

  it('relays a redirect to a storage host whose certificate does not name it instead of following it', async () => {
    const other = randomBytes(4096);
    blobs.set(sha(other), other);
    const answer = await get(route, entry, `/v2/untrusted/app/blobs/sha256:${sha(other)}`, GOOD);
    expect(answer.status).toBe(307);
    expect(answer.head).toContain(`location: https://${UNTRUSTED}:${storagePort}/`);
    // The client got the registry's redirect as it came: the cache took no part.
    expect(answer.record).toMatchObject({ cache: 'bypass', status: 307 });
    expect(storageServed.get(sha(other))).toBeUndefined();
  });

  it('caches MCR layers with mcr: {inspect, cache}: anonymous, redirected to its data host', async () => {
    const base = randomBytes(32 * 1024);
    blobs.set(sha(base), base);
    const mcrPath = `/v2/dotnet/runtime/blobs/sha256:${sha(base)}`;
    const first = await get(route, entry, mcrPath, null, MCR);
    expect(first.status).toBe(200);
    expect(first.record).toMatchObject({ cache: 'miss', rule: 'mcr:login' });
    const second = await get(route, entry, mcrPath, null, MCR);
    expect(second.status).toBe(200);
    expect(sha(second.body)).toBe(sha(base));
    expect(second.record).toMatchObject({ cache: 'hit' });
    expect(storageServed.get(sha(base))).toBe(1);
    expect(registrySaw.filter((l) => l.startsWith(`GET ${mcrPath} `)).length).toBe(2);
  });

  it('answers upstream_unreachable and never consults the cache when the registry is down', async () => {
    // The same digest, cached above, asked of a registry that cannot be reached: fail closed.
    const down = await get(route, entry, path, GOOD, DOWN);
    expect(down.status).toBe(502);
    expect(down.head).toContain('X-Acr-Egress-Reason: upstream_unreachable');
    expect(down.body.includes(layer.subarray(0, 64))).toBe(false);
    expect(down.record).toMatchObject({ reason: 'upstream_unreachable', status: 502 });
    // onResponse alone sets the record's cache field: it was never called.
    expect(down.record.cache).toBeUndefined();
    expect(storageServed.get(hex)).toBe(1);
  });
});
