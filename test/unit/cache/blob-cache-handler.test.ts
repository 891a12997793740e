// The cache's answers around the main flow, over real HTTP on loopback: HEAD and manifests are not
// its business, a range is served as 206 from disk on a hit and passed through on a miss, small
// blobs pass through, and a registry redirect that is not followed reaches the client unchanged.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobCache } from '../../../src/cache/blob-cache.js';
import { BlobCacheHandler, type CachePlan, type FetchLocation } from '../../../src/cache/blob-cache-handler.js';
import type { UpstreamAnswer } from '../../../src/cache/relay.js';

const big = randomBytes(200_000);
const small = randomBytes(500);
const digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const redirect = (): UpstreamAnswer => ({
  status: 307,
  headers: { location: 'https://storage.example/x?sig=secret', 'content-length': '0' },
  body: Readable.from([]),
});
const ok = (b: Buffer): Promise<UpstreamAnswer> =>
  Promise.resolve({ status: 200, headers: { 'content-length': String(b.length) }, body: Readable.from([b]) });

let dir: string;
let server: Server;
let port: number;
let handler: BlobCacheHandler;
let fetched = 0;
/** What the fake storage serves for the next request. */
let storage: Buffer = big;
/** The plan of the newest request, to read what its record will say. */
let lastPlan: CachePlan | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-handler-'));
  handler = new BlobCacheHandler(await BlobCache.open({ dir, maxBytes: 1 << 30 }), { minBlobBytes: 1000 });
  const fetchLocation: FetchLocation = () => {
    fetched++;
    return ok(storage);
  };
  server = createServer((req, res) => {
    const d = req.url!.split('/blobs/')[1] ?? null;
    const plan = handler.plan(req.method!, d, req.headers);
    lastPlan = plan;
    res.setHeader('x-planned', String(plan !== null));
    if (plan === null) {
      res.end('relayed as is');
      return;
    }
    void plan.respond(redirect(), res, fetchLocation);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function send(
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('BlobCacheHandler', () => {
  it('leaves HEAD, manifests and other digests alone', async () => {
    expect(handler.plan('HEAD', digest(big), {})).toBeNull();
    expect(handler.plan('GET', null, {})).toBeNull();
    expect(handler.plan('GET', `sha512:${'a'.repeat(128)}`, {})).toBeNull();
    const head = await send('HEAD', `/v2/demo/blobs/${digest(big)}`);
    expect(head.headers['x-planned']).toBe('false');
  });

  it('passes a range through on a miss: the client gets the redirect and follows it itself', async () => {
    const r = await send('GET', `/v2/demo/blobs/${digest(big)}`, { range: 'bytes=0-99' });
    expect(r.status).toBe(307);
    expect(r.headers.location).toBe('https://storage.example/x?sig=secret');
    expect(fetched).toBe(0);
    expect(handler.totals.bypass).toBe(1);
  });

  it('fills on a redirect miss, then serves the whole blob and a range from disk', async () => {
    const miss = await send('GET', `/v2/demo/blobs/${digest(big)}`);
    expect(miss.status).toBe(200);
    expect(miss.headers['docker-content-digest']).toBe(digest(big));
    expect(miss.body.equals(big)).toBe(true);
    expect(lastPlan?.bytesSent).toBe(big.length); // teed from upstream
    expect(fetched).toBe(1);
    await expect.poll(() => handler.cache.entries).toBe(1);
    const hit = await send('GET', `/v2/demo/blobs/${digest(big)}`);
    expect(hit.body.equals(big)).toBe(true);
    expect(hit.headers['content-type']).toBe('application/octet-stream');
    expect(hit.headers['content-length']).toBe(String(big.length));
    const part = await send('GET', `/v2/demo/blobs/${digest(big)}`, { range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${big.length}`);
    expect(part.body.equals(big.subarray(1000, 2000))).toBe(true);
    expect(fetched).toBe(1);
    expect(handler.totals).toMatchObject({ hit: 2, miss: 1 });
  });

  it('passes a blob below minBlobBytes to the client without caching it', async () => {
    storage = small;
    const r = await send('GET', `/v2/demo/blobs/${digest(small)}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(small)).toBe(true);
    expect(await handler.cache.lookup(digest(small).slice(7))).toBeNull();
    expect(handler.totals.bypass).toBe(2);
  });

  it("counts each request's body bytes for its record: from disk, teed, relayed", async () => {
    const cases: [string, Record<string, string>, number][] = [
      ['a hit: the whole blob from disk', {}, big.length],
      ['a range from disk', { range: 'bytes=10-19' }, 10],
    ];
    for (const [name, headers, want] of cases) {
      await send('GET', `/v2/demo/blobs/${digest(big)}`, headers);
      expect({ name, bytes: lastPlan?.bytesSent }).toEqual({ name, bytes: want });
    }
    storage = small;
    await send('GET', `/v2/demo/blobs/${digest(small)}`);
    expect(lastPlan?.bytesSent).toBe(small.length); // small: relayed as fetched
  });
});
