// A property test of the cache's rule: over random interleavings of clients with valid, invalid and
// expired tokens, repositories the registry allows and refuses, a registry up or down, and fills
// that complete, fail or deliver wrong bytes, no response carries blob bytes unless the registry
// answered that same request with a 200 or a redirect. Real HTTP on loopback, real cache files; the
// registry and storage are in-process fakes so every combination is cheap to reach.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BlobCache } from '../../../src/cache/blob-cache.js';
import { BlobCacheHandler } from '../../../src/cache/blob-cache-handler.js';
import type { UpstreamAnswer } from '../../../src/cache/relay.js';

const BLOBS = [randomBytes(40_000), randomBytes(70_000), randomBytes(10_000)];
const DIGESTS = BLOBS.map((b) => `sha256:${createHash('sha256').update(b).digest('hex')}`);

interface Step {
  token: 'valid' | 'invalid' | 'expired';
  repo: 'allowed' | 'refused';
  registry: 'up' | 'down';
  /** How the registry answers an authorized request: a redirect to storage (ACR, MCR) or the body. */
  serves: 'redirect' | 'body';
  /** What following the redirect gives. */
  fill: 'complete' | 'status' | 'midway' | 'wrong' | 'unreachable';
  blob: number;
  range: boolean;
}

const step: fc.Arbitrary<Step> = fc.record({
  token: fc.constantFrom('valid', 'valid', 'valid', 'invalid', 'expired'),
  repo: fc.constantFrom('allowed', 'allowed', 'refused'),
  registry: fc.constantFrom('up', 'up', 'down'),
  serves: fc.constantFrom('redirect', 'redirect', 'body'),
  fill: fc.constantFrom('complete', 'complete', 'status', 'midway', 'wrong', 'unreachable'),
  blob: fc.integer({ min: 0, max: BLOBS.length - 1 }),
  range: fc.boolean(),
});

/** The fake registry's answer to one request: what a real one does with this token and repository. */
function registryAnswer(s: Step): UpstreamAnswer {
  const json = (status: number, code: string): UpstreamAnswer => {
    const body = Buffer.from(JSON.stringify({ errors: [{ code }] }));
    return { status, headers: { 'content-length': String(body.length) }, body: Readable.from([body]) };
  };
  if (s.token !== 'valid') return json(401, 'UNAUTHORIZED');
  if (s.repo === 'refused') return json(403, 'DENIED');
  const blob = BLOBS[s.blob]!;
  if (s.serves === 'body')
    return { status: 200, headers: { 'content-length': String(blob.length) }, body: Readable.from([blob]) };
  return {
    status: 307,
    headers: { location: `https://storage.example/blobs/${s.blob}?sig=x`, 'content-length': '0' },
    body: Readable.from([]),
  };
}

function storageAnswer(s: Step): Promise<UpstreamAnswer> {
  const blob = BLOBS[s.blob]!;
  const headers = { 'content-length': String(blob.length) };
  switch (s.fill) {
    case 'complete':
      return Promise.resolve({
        status: 200,
        headers,
        body: Readable.from([blob.subarray(0, 5000), blob.subarray(5000)]),
      });
    case 'status':
      return Promise.resolve({ status: 503, headers: { 'content-length': '0' }, body: Readable.from([]) });
    case 'midway': {
      const body = new Readable({ read() {} });
      body.push(blob.subarray(0, 5000));
      setImmediate(() => body.destroy(new Error('storage reset')));
      return Promise.resolve({ status: 200, headers, body });
    }
    case 'wrong':
      return Promise.resolve({ status: 200, headers, body: Readable.from([randomBytes(blob.length)]) });
    case 'unreachable':
      return Promise.reject(new Error('connect ECONNREFUSED'));
  }
}

let dir: string;
let server: Server;
let port: number;
let handler: BlobCacheHandler;
/** Across runs, each of which starts with an empty cache folder. */
const reached = { hit: 0, miss: 0, verifyFailures: 0 };
const steps = new Map<string, Step>();
let seq = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-rule-'));
  // Stands in for the inspector: forward (here: ask the fake), then hand the answer to the cache.
  server = createServer((req, res) => {
    const s = steps.get(req.headers['x-step'] as string)!;
    const plan = handler.plan(req.method ?? '', DIGESTS[s.blob]!, req.headers)!;
    if (s.registry === 'down') {
      res.writeHead(502, { 'content-length': '0' });
      res.end();
      return;
    }
    plan.respond(registryAnswer(s), res, () => storageAnswer(s)).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  step: Step;
  status: number;
  body: Buffer;
  complete: boolean;
}

function request(s: Step): Promise<Seen> {
  const id = String(++seq);
  steps.set(id, s);
  const headers: Record<string, string> = { 'x-step': id };
  if (s.range) headers.range = 'bytes=100-2099';
  return new Promise((resolve) => {
    const req = get(
      { host: '127.0.0.1', port, path: `/v2/demo/blobs/${DIGESTS[s.blob]}`, headers, agent: false },
      (res: IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({ step: s, status: res.statusCode ?? 0, body: Buffer.concat(parts), complete: true }),
        );
        res.on('error', () =>
          resolve({ step: s, status: res.statusCode ?? 0, body: Buffer.concat(parts), complete: false }),
        );
      },
    );
    req.on('error', () => resolve({ step: s, status: 0, body: Buffer.alloc(0), complete: false }));
  });
}

it('never sends blob bytes without a registry 200 or redirect on that same request', async () => {
  await fc.assert(
    fc
      .asyncProperty(
        fc.array(fc.array(step, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
        async (batches) => {
          for (const batch of batches) {
            // Requests in a batch run at once: fills, follows and hits interleave.
            for (const seen of await Promise.all(batch.map(request))) {
              const { step: s } = seen;
              const blob = BLOBS[s.blob]!;
              const authorized = s.registry === 'up' && s.token === 'valid' && s.repo === 'allowed';
              if (!authorized) {
                // The registry's own status, and not one byte of the blob.
                expect(seen.status).toBe(s.registry === 'down' ? 502 : s.token !== 'valid' ? 401 : 403);
                expect(seen.body.includes(blob.subarray(0, 64))).toBe(false);
                continue;
              }
              // Authorized: whatever arrives complete with a 200 or 206 is the right bytes.
              if (seen.complete && seen.status === 200) expect(seen.body.equals(blob)).toBe(true);
              if (seen.complete && seen.status === 206) expect(seen.body.equals(blob.subarray(100, 2100))).toBe(true);
            }
          }
        },
      )
      .beforeEach(async () => {
        if (handler !== undefined) {
          reached.hit += handler.totals.hit;
          reached.miss += handler.totals.miss;
          reached.verifyFailures += handler.cache.counters.verifyFailures;
        }
        const cache = await BlobCache.open({ dir: mkdtempSync(join(dir, 'run-')), maxBytes: 1 << 30, pollMs: 5 });
        handler = new BlobCacheHandler(cache, { minBlobBytes: 0, followTimeoutMs: 2_000 });
      }),
    { numRuns: 80, seed: 21, interruptAfterTimeLimit: 60_000 },
  );
  reached.hit += handler.totals.hit;
  reached.miss += handler.totals.miss;
  reached.verifyFailures += handler.cache.counters.verifyFailures;
  // The runs reached the cache's interesting states, so the property was not vacuous.
  expect(reached.hit, JSON.stringify(reached)).toBeGreaterThan(0);
  expect(reached.hit).toBeGreaterThan(0);
  expect(reached.miss).toBeGreaterThan(0);
  expect(reached.verifyFailures).toBeGreaterThan(0);
}, 120_000);
