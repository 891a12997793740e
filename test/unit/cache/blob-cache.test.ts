// The disk cache with real files: fills verified before they land, reads that verify as they serve,
// readers following a fill, the index rebuilt at start, and LRU eviction between the watermarks.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobCache } from '../../../src/cache/blob-cache.js';
import { blobPath, fillsDir, markerPath, partPath } from '../../../src/cache/layout.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** What a stream delivered before it ended or failed. */
async function collect(stream: Readable): Promise<{ data: Buffer; error: Error | null }> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of stream) parts.push(chunk as Buffer);
    return { data: Buffer.concat(parts), error: null };
  } catch (err) {
    return { data: Buffer.concat(parts), error: err as Error };
  }
}

async function fill(
  cache: BlobCache,
  data: Buffer,
  hex = sha(data),
  size: number | null = data.length,
): Promise<Error | null> {
  const w = await cache.beginFill(hex);
  if (w === null) throw new Error('fill refused');
  if (size !== null) await w.expectSize(size);
  return new Promise((resolve) => {
    w.on('finish', () => resolve(null)).on('error', resolve);
    w.end(data);
  });
}

describe('BlobCache', () => {
  it('stores a verified fill at its content address and serves it back whole', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    const data = randomBytes(600_000);
    expect(await fill(cache, data)).toBeNull();
    expect(existsSync(blobPath(dir, sha(data)))).toBe(true);
    expect(readdirSync(fillsDir(dir))).toEqual([]);
    expect(await cache.lookup(sha(data))).toBe(data.length);
    const r = await cache.read(sha(data));
    expect(r?.size).toBe(data.length);
    expect((await drain(r!.stream)).equals(data)).toBe(true);
    expect(cache.counters.fillsStored).toBe(1);
  });

  it('discards a fill whose bytes do not match the digest and counts it', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    const data = randomBytes(1000);
    const err = await fill(cache, data, sha(randomBytes(10)));
    expect(err?.message).toMatch(/does not match/);
    expect(cache.counters.verifyFailures).toBe(1);
    expect(cache.entries).toBe(0);
    expect(readdirSync(fillsDir(dir))).toEqual([]);
  });

  it('discards a fill shorter than the length the upstream stated', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    const data = randomBytes(1000);
    expect(await fill(cache, data, sha(data), 1001)).not.toBeNull();
    expect(await cache.lookup(sha(data))).toBeNull();
    expect(readdirSync(fillsDir(dir))).toEqual([]);
  });

  it('removes the temp file and marker of a fill destroyed half way', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    const data = randomBytes(1000);
    const w = (await cache.beginFill(sha(data)))!;
    w.write(data.subarray(0, 500));
    w.on('error', () => undefined);
    w.destroy(new Error('client went away'));
    await expect.poll(() => readdirSync(fillsDir(dir))).toEqual([]);
    expect(cache.counters.fillsFailed).toBe(1);
    expect(cache.fillsInFlight).toBe(0);
    // and the digest can be filled again
    expect(await fill(cache, data)).toBeNull();
  });

  it('allows one fill per digest at a time', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    const data = randomBytes(1000);
    const w = await cache.beginFill(sha(data));
    expect(w).not.toBeNull();
    expect(await cache.beginFill(sha(data))).toBeNull();
    const other = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    expect(await other.beginFill(sha(data))).toBeNull();
    w!.destroy();
  });

  it('lets a reader follow a fill in progress and finish with the verified bytes', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20, pollMs: 5 });
    const data = randomBytes(300_000);
    const w = (await cache.beginFill(sha(data)))!;
    await w.expectSize(data.length);
    w.write(data.subarray(0, 100_000));
    const followed = await cache.follow(sha(data), 5_000);
    expect(followed?.size).toBe(data.length);
    const got = drain(followed!.stream);
    const stored = new Promise((resolve, reject) => w.on('finish', resolve).on('error', reject));
    w.write(data.subarray(100_000, 200_000));
    setTimeout(() => w.end(data.subarray(200_000)), 30);
    expect((await got).equals(data)).toBe(true);
    await stored;
    expect(await cache.lookup(sha(data))).toBe(data.length);
  });

  it('wakes a follower once a whole chunk has landed, not at every write of the fill', async () => {
    // Long poll period: only the fill's own progress wakes the follower.
    const cache = await BlobCache.open({ dir, maxBytes: 8 << 20, pollMs: 10_000 });
    const data = randomBytes(2 << 20);
    const w = (await cache.beginFill(sha(data)))!;
    await w.expectSize(data.length);
    w.write(data.subarray(0, 4096));
    const followed = (await cache.follow(sha(data), 30_000))!;
    const chunks: number[] = [];
    followed.stream.on('data', (c: Buffer) => chunks.push(c.length));
    const ended = new Promise((resolve, reject) => followed.stream.on('end', resolve).on('error', reject));
    const stored = new Promise((resolve, reject) => w.on('finish', resolve).on('error', reject));
    for (let at = 4096; at < data.length; at += 4096) w.write(data.subarray(at, at + 4096));
    w.end();
    await ended;
    await stored;
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(data.length);
    // 511 writes of 4 KiB; the follower reads 256 KiB at a time (8 of them, give or take the first).
    expect(chunks.length).toBeLessThanOrEqual(9);
  });

  it('still catches bytes corrupted on disk during a fill: in the follower, and in the next serve', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 8 << 20, pollMs: 5 });
    const data = randomBytes(600_000);
    const hex = sha(data);
    const w = (await cache.beginFill(hex))!;
    await w.expectSize(data.length);
    await new Promise<void>((resolve, reject) =>
      w.write(data.subarray(0, 300_000), (e) => (e ? reject(e) : resolve())),
    );
    // Something other than the writer changes the file under it; the writer hashed what it was given.
    writeFileSync(partPath(dir, hex, w.token), Buffer.alloc(1000, 7), { flag: 'r+' });
    const followed = (await cache.follow(hex, 5_000))!;
    const got = collect(followed.stream);
    const stored = new Promise((resolve) => w.on('finish', resolve).on('error', resolve));
    w.end(data.subarray(300_000));
    const { data: sent, error } = await got;
    expect(error?.message).toMatch(/does not match its digest/);
    expect(sent.length).toBeLessThan(data.length);
    await stored;
    // The corrupted file landed (the writer's hash was of the bytes it was handed); the first serve
    // that reads it hashes it, fails before the last byte, and removes it.
    const read = (await cache.read(hex))!;
    expect((await collect(read.stream)).error).not.toBeNull();
    expect(existsSync(blobPath(dir, hex))).toBe(false);
    expect(cache.counters.verifyFailures).toBe(1);
  });

  it('fails a follower when the fill it follows is abandoned', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20, pollMs: 5 });
    const data = randomBytes(300_000);
    const w = (await cache.beginFill(sha(data)))!;
    await w.expectSize(data.length);
    w.write(data.subarray(0, 100_000));
    const followed = (await cache.follow(sha(data), 5_000))!;
    const got = collect(followed.stream);
    w.on('error', () => undefined);
    setTimeout(() => w.destroy(new Error('upstream reset')), 20);
    const { data: part, error } = await got;
    expect(error).not.toBeNull();
    expect(part.length).toBeLessThan(data.length);
  });

  it('answers null to a follower when nothing is filling or cached', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    expect(await cache.follow(sha(randomBytes(8)), 1_000)).toBeNull();
  });

  it('aborts the serve of a corrupted file before its last byte, deletes it and counts it', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 22 });
    const data = randomBytes(1_000_000);
    await fill(cache, data);
    const path = blobPath(dir, sha(data));
    const bad = Buffer.from(data);
    bad[10] = bad[10]! ^ 0xff;
    writeFileSync(path, bad);
    const r = (await cache.read(sha(data)))!;
    const { data: got, error } = await collect(r.stream);
    expect(error?.message).toMatch(/does not match/);
    expect(got.length).toBeLessThan(data.length);
    expect(existsSync(path)).toBe(false);
    expect(cache.counters.verifyFailures).toBe(1);
    expect(await cache.read(sha(data))).toBeNull();
  });

  it('catches a truncated file the same way', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 22 });
    const data = randomBytes(10_000);
    await fill(cache, data);
    writeFileSync(blobPath(dir, sha(data)), data.subarray(0, 5000));
    const fresh = await BlobCache.open({ dir, maxBytes: 1 << 22 });
    const { error } = await collect((await fresh.read(sha(data)))!.stream);
    expect(error).not.toBeNull();
    expect(existsSync(blobPath(dir, sha(data)))).toBe(false);
  });

  it('serves a byte range from a cached file, verifying the whole', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 22 });
    const data = randomBytes(700_000);
    await fill(cache, data);
    const r = (await cache.read(sha(data), { start: 300_000, end: 450_123 }))!;
    expect((await drain(r.stream)).equals(data.subarray(300_000, 450_124))).toBe(true);
  });

  it('reuses the memory of chunks given back once written, and still serves the exact bytes', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 24 });
    const data = randomBytes(3_000_000);
    await fill(cache, data);
    for (const range of [null, { start: 100_000, end: 2_900_000 }]) {
      const r = (await cache.read(sha(data), range))!;
      const copies: Buffer[] = [];
      const memory = new Set<ArrayBufferLike>();
      // A consumer like the handler's: copies (the wire), then gives the chunk back a turn later.
      r.stream.on('data', (chunk: Buffer) => {
        copies.push(Buffer.from(chunk));
        memory.add(chunk.buffer);
        setImmediate(() => r.stream.release(chunk));
      });
      r.stream.release(Buffer.alloc(10)); // not the reader's: ignored
      await new Promise((resolve) => r.stream.once('end', resolve));
      const want = range === null ? data : data.subarray(range.start, range.end + 1);
      expect(Buffer.concat(copies).equals(want)).toBe(true);
      expect(memory.size).toBeLessThan(copies.length);
    }
  });

  it('still aborts a corrupted serve before its last byte when chunks are given back', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 24 });
    const data = randomBytes(2_000_000);
    await fill(cache, data);
    const bad = Buffer.from(data);
    bad[1_500_000] = bad[1_500_000]! ^ 0xff;
    writeFileSync(blobPath(dir, sha(data)), bad);
    const r = (await cache.read(sha(data)))!;
    let got = 0;
    r.stream.on('data', (chunk: Buffer) => {
      got += chunk.length;
      setImmediate(() => r.stream.release(chunk));
    });
    const error = await new Promise<Error>((resolve) => r.stream.once('error', resolve));
    expect(error.message).toMatch(/does not match/);
    expect(got).toBeLessThan(data.length);
    expect(cache.counters.verifyFailures).toBe(1);
  });

  it('rebuilds its index from the folder and removes half-written files of dead fills', async () => {
    const first = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    const a = randomBytes(1000);
    await fill(first, a);
    const orphan = partPath(dir, sha(randomBytes(4)), 'deadbeef');
    writeFileSync(orphan, 'half');
    const deadHex = sha(randomBytes(5));
    writeFileSync(markerPath(dir, deadHex), JSON.stringify({ pid: 999_999_999, host: 'x', token: 'ab', size: 4 }));
    utimesSync(markerPath(dir, deadHex), new Date(0), new Date(0));
    writeFileSync(partPath(dir, deadHex, 'ab'), 'half');
    const second = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    expect(second.list().map((e) => e.hex)).toEqual([sha(a)]);
    expect(second.sizeBytes).toBe(1000);
    expect(readdirSync(fillsDir(dir))).toEqual([]);
  });

  it('takes over the marker of a writer that died', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20, staleMs: 60_000 });
    const hex = sha(randomBytes(4));
    const body = { pid: 999_999_999, host: hostname(), token: 'ab', size: null };
    writeFileSync(markerPath(dir, hex), JSON.stringify(body));
    writeFileSync(partPath(dir, hex, 'ab'), 'half');
    const w = await cache.beginFill(hex);
    expect(w).not.toBeNull();
    expect(existsSync(partPath(dir, hex, 'ab'))).toBe(false);
    w!.destroy();
  });

  it('leaves a marker of another host alone while its heartbeat is fresh, and takes it once it expires', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20, staleMs: 60_000 });
    const hex = sha(randomBytes(4));
    writeFileSync(markerPath(dir, hex), JSON.stringify({ pid: 1, host: 'replica-2', token: 'cd', size: null }));
    expect(await cache.beginFill(hex)).toBeNull();
    const old = new Date(Date.now() - 61_000);
    utimesSync(markerPath(dir, hex), old, old);
    const w = await cache.beginFill(hex);
    expect(w).not.toBeNull();
    w!.destroy();
  });

  it('evicts least recently used blobs down to the low watermark, never one being read', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 10_000, lowWatermark: 0.6 });
    const blobs = [0, 1, 2, 3].map(() => randomBytes(3000));
    for (const b of blobs.slice(0, 3)) await fill(cache, b);
    // blob 0 is the oldest but being read; blob 1 was used most recently after it
    const reading = (await cache.read(sha(blobs[0]!)))!;
    await drain((await cache.read(sha(blobs[2]!)))!.stream);
    await fill(cache, blobs[3]!); // 12000 > 10000: evict down to 6000
    expect(cache.sizeBytes).toBe(6000);
    const left = cache.list().map((e) => e.hex);
    expect(left).toContain(sha(blobs[0]!));
    expect(left).toContain(sha(blobs[3]!));
    await expect.poll(() => existsSync(blobPath(dir, sha(blobs[1]!)))).toBe(false);
    expect(cache.counters.evictions).toBe(2);
    expect((await drain(reading.stream)).equals(blobs[0]!)).toBe(true);
  });

  it('prunes to a target on demand and verifies every file', async () => {
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 20 });
    const a = randomBytes(2000);
    const b = randomBytes(2000);
    await fill(cache, a);
    await fill(cache, b);
    writeFileSync(blobPath(dir, sha(b)), randomBytes(2000));
    const verdict = await cache.verifyAll();
    expect(verdict).toEqual({ ok: 1, removed: [sha(b)] });
    expect(await cache.prune(0)).toBe(1);
    expect(cache.entries).toBe(0);
  });
});
