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
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BlobCache } from '../../../src/cache/blob-cache.js';
import { BlobCacheHandler, type CachePlan, type FetchLocation } from '../../../src/cache/blob-cache-handler.js';
import { HashingReader } from '../../../src/cache/hashing-reader.js';
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

  it('relays the registry redirect for a blob below minBlobBytes, and caches nothing', async () => {
    storage = small;
    const before = fetched;
    const r = await send('GET', `/v2/demo/blobs/${digest(small)}`);
    // The gateway followed once to learn the size, then gave the client the registry's own answer.
    expect(r.status).toBe(307);
    expect(r.headers.location).toBe('https://storage.example/x?sig=secret');
    expect(fetched).toBe(before + 1);
    expect(await handler.cache.lookup(digest(small).slice(7))).toBeNull();
    expect(handler.totals.bypass).toBe(2);
    // Now the size is known: no follow at all, the same answer.
    const again = await send('GET', `/v2/demo/blobs/${digest(small)}`);
    expect(again.status).toBe(307);
    expect(fetched).toBe(before + 1);
    expect(handler.totals.bypass).toBe(3);
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
    await send('GET', `/v2/demo/blobs/${digest(small)}`);
    expect(lastPlan?.bytesSent).toBe(0); // small: the registry's redirect, which has no body
  });
});

/** A gateway stand-in of its own: every request gets `answer()` from the "registry", then the plan. */
async function standIn(fetchLocation: FetchLocation, answer: () => UpstreamAnswer = redirect) {
  const cacheDir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-record-'));
  const h = new BlobCacheHandler(await BlobCache.open({ dir: cacheDir, maxBytes: 1 << 30 }), { minBlobBytes: 1000 });
  const results: string[] = [];
  let closed = 0;
  const srv = createServer((req, res) => {
    res.once('close', () => closed++);
    const plan = h.plan(req.method!, req.url!.split('/blobs/')[1] ?? null, req.headers)!;
    void plan.respond(answer(), res, fetchLocation).then((r) => results.push(r));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as AddressInfo).port;
  return {
    handler: h,
    results,
    /** Responses closed, answered or not. */
    closed: () => closed,
    port: p,
    get: (d: string): ReturnType<typeof send> => sendTo(p, 'GET', `/v2/demo/blobs/${d}`),
    close: async (): Promise<void> => {
      await new Promise((r) => srv.close(r));
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

function sendTo(p: number, method: string, path: string): ReturnType<typeof send> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: p, method, path, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A promise and the function that settles it: holds the storage answer until the test lets it go. */
function gate<T>(): { promise: Promise<T>; open: (v: T | Promise<T>) => void } {
  let open!: (v: T | Promise<T>) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

describe('the record says what was served', () => {
  it('concurrent requests for one small blob all get the registry redirect and record bypass', async () => {
    // The race the 16-pull test found: the first request claims the fill and follows the redirect;
    // the others wait on that fill. It finds the blob small and gives its claim up. The waiters used
    // to get the bare 307 recorded `miss`, later ones a followed 200 recorded `bypass`.
    const held = gate<UpstreamAnswer>();
    let follows = 0;
    const s = await standIn(() => {
      follows++;
      return held.promise;
    });
    try {
      const followSpy = vi.spyOn(s.handler.cache, 'follow');
      const first = s.get(digest(small));
      await expect.poll(() => follows).toBe(1); // the first holds the claim and waits for storage
      const waiting = Array.from({ length: 7 }, () => s.get(digest(small)));
      await expect.poll(() => followSpy.mock.calls.length).toBe(7); // each waits on that fill
      held.open(ok(small));
      const answers = await Promise.all([first, ...waiting]);
      const late = await Promise.all(Array.from({ length: 4 }, () => s.get(digest(small))));
      for (const r of [...answers, ...late]) {
        expect(r.status).toBe(307);
        expect(r.headers.location).toBe('https://storage.example/x?sig=secret');
      }
      await expect.poll(() => s.results.length).toBe(12);
      expect(new Set(s.results)).toEqual(new Set(['bypass']));
      expect(follows).toBe(1); // once, to learn the size
      expect(s.handler.cache.entries).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('a request waiting on a fill that fails gets the redirect and records bypass, not miss', async () => {
    const held = gate<UpstreamAnswer>();
    const s = await standIn(() => held.promise);
    try {
      const followSpy = vi.spyOn(s.handler.cache, 'follow');
      const first = s.get(digest(big));
      await expect.poll(() => s.handler.cache.fillsInFlight).toBe(1);
      const second = s.get(digest(big));
      await expect.poll(() => followSpy.mock.calls.length).toBe(1);
      held.open(Promise.reject(new Error('storage refused')));
      for (const r of await Promise.all([first, second])) expect(r.status).toBe(307);
      await expect.poll(() => s.results).toEqual(['bypass', 'bypass']);
      expect(s.handler.totals).toMatchObject({ hit: 0, miss: 0, bypass: 2 });
    } finally {
      await s.close();
    }
  });

  it('a storage refusal relayed to the client records bypass: no blob byte came through', async () => {
    const s = await standIn(() =>
      Promise.resolve({
        status: 403,
        headers: { 'content-length': '9' },
        body: Readable.from([Buffer.from('forbidden')]),
      }),
    );
    try {
      const r = await s.get(digest(big));
      expect(r.status).toBe(403);
      expect(r.body.toString()).toBe('forbidden');
      await expect.poll(() => s.results).toEqual(['bypass']);
      await expect.poll(() => s.handler.cache.fillsInFlight).toBe(0);
      expect(s.handler.cache.entries).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('a registry 200 for a small blob is relayed as it came and records bypass; a big one is a miss, cached or not', async () => {
    let body = small;
    const s = await standIn(
      () => Promise.reject(new Error('no redirect to follow')),
      () => ({ status: 200, headers: { 'content-length': String(body.length) }, body: Readable.from([body]) }),
    );
    try {
      expect((await s.get(digest(small))).body.equals(small)).toBe(true);
      body = big;
      expect((await s.get(digest(big))).body.equals(big)).toBe(true);
      await expect.poll(() => s.handler.cache.entries).toBe(1);
      // The registry sent the body itself: the bytes crossed the WAN again, so not a hit.
      expect((await s.get(digest(big))).body.equals(big)).toBe(true);
      await expect.poll(() => s.results).toEqual(['bypass', 'miss', 'miss']);
      expect(s.handler.totals.bytesDisk).toBe(0);
    } finally {
      await s.close();
    }
  });
});

describe('a client that leaves while the cache waits', () => {
  it('records bypass, counts no hit, and gives the followed file back', async () => {
    const held = gate<UpstreamAnswer>();
    const s = await standIn(() => held.promise);
    try {
      const followSpy = vi.spyOn(s.handler.cache, 'follow');
      const first = s.get(digest(big));
      await expect.poll(() => s.handler.cache.fillsInFlight).toBe(1);
      const leaving = request({ host: '127.0.0.1', port: s.port, path: `/v2/demo/blobs/${digest(big)}`, agent: false });
      leaving.on('error', () => undefined);
      leaving.end();
      await expect.poll(() => followSpy.mock.calls.length).toBe(1);
      leaving.destroy();
      await expect.poll(() => s.closed()).toBe(1); // the server saw it go
      const read = vi.spyOn(HashingReader.prototype, 'destroy');
      held.open(ok(big));
      expect((await first).body.equals(big)).toBe(true);
      await expect.poll(() => s.results.slice().sort()).toEqual(['bypass', 'miss']);
      expect(s.handler.totals).toMatchObject({ hit: 0, bytesDisk: 0 });
      expect(read).toHaveBeenCalled(); // the reader of the growing file was closed, not left paused
    } finally {
      await s.close();
    }
  });
});

describe('when the cache disk fails', () => {
  it.each(['lookup', 'beginFill'] as const)(
    "a failing %s gives the client the registry's answer, recorded bypass",
    async (method) => {
      const s = await standIn(() => ok(big));
      try {
        vi.spyOn(s.handler.cache, method).mockRejectedValue(new Error('EIO: i/o error'));
        const r = await s.get(digest(big));
        expect(r.status).toBe(307);
        expect(r.headers.location).toBe('https://storage.example/x?sig=secret');
        await expect.poll(() => s.results).toEqual(['bypass']);
      } finally {
        await s.close();
      }
    },
  );
});
