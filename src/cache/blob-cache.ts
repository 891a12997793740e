// The disk cache of verified blobs under cache.dir, independent of sockets: an in-memory index
// rebuilt from the folder at start, reads that verify as they serve, one fill per digest (in this
// process through a map, across processes through the fill marker), readers that follow a fill in
// progress, and LRU eviction by last use between a high (maxBytes) and a low watermark.
import { EventEmitter } from 'node:events';
import { mkdir, open, readdir, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { FillMarker, readMarker } from './fill-marker.js';
import { FillWriter, type FillOutcome } from './fill-writer.js';
import { HashingReader, type ByteRange } from './hashing-reader.js';
import { blobDir, blobPath, fillsDir, HEX, markerPath, partPath } from './layout.js';

export interface BlobCacheOptions {
  readonly dir: string;
  readonly maxBytes: number;
  /** Eviction stops once the total is at or below this share of maxBytes. */
  readonly lowWatermark?: number;
  /** A fill marker not refreshed for this long belongs to a dead writer. */
  readonly staleMs?: number;
  /** How often a reader following another process's fill looks for more bytes. */
  readonly pollMs?: number;
}

export interface CacheEntry {
  readonly hex: string;
  readonly size: number;
  readonly lastUsed: number;
}

export interface CacheCounters {
  evictions: number;
  verifyFailures: number;
  fillsStored: number;
  fillsFailed: number;
}

export interface BlobRead {
  readonly size: number;
  readonly stream: HashingReader;
}

interface Entry {
  size: number;
  lastUsed: number;
  /** Breaks ties between uses within one millisecond. */
  seq: number;
  readers: number;
}

const TOUCH_MS = 60_000;

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class BlobCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly counters: CacheCounters = { evictions: 0, verifyFailures: 0, fillsStored: 0, fillsFailed: 0 };
  readonly #low: number;
  readonly #staleMs: number;
  readonly #pollMs: number;
  readonly #index = new Map<string, Entry>();
  readonly #fills = new Map<string, FillWriter>();
  /** 'progress:<hex>' and 'end:<hex>' wake readers following an in-process fill without polling. */
  readonly #events = new EventEmitter().setMaxListeners(0);
  #size = 0;
  #seq = 0;

  private constructor(o: BlobCacheOptions) {
    this.dir = o.dir;
    this.maxBytes = o.maxBytes;
    this.#low = Math.floor(o.maxBytes * (o.lowWatermark ?? 0.9));
    this.#staleMs = o.staleMs ?? 30_000;
    this.#pollMs = o.pollMs ?? 50;
  }

  /** Opens (creating) the folder and rebuilds the index; half-written files of dead fills are removed. */
  static async open(o: BlobCacheOptions): Promise<BlobCache> {
    const cache = new BlobCache(o);
    await mkdir(blobDir(o.dir), { recursive: true });
    await mkdir(fillsDir(o.dir), { recursive: true });
    await cache.#rebuild();
    return cache;
  }

  get sizeBytes(): number {
    return this.#size;
  }

  get entries(): number {
    return this.#index.size;
  }

  get fillsInFlight(): number {
    return this.#fills.size;
  }

  list(): CacheEntry[] {
    return [...this.#index].map(([hex, e]) => ({ hex, size: e.size, lastUsed: e.lastUsed }));
  }

  async #rebuild(): Promise<void> {
    const root = blobDir(this.dir);
    for (const prefix of await readdir(root)) {
      if (!/^[a-f0-9]{2}$/.test(prefix)) continue;
      for (const name of await readdir(join(root, prefix)).catch(() => [] as string[])) {
        if (!HEX.test(name) || !name.startsWith(prefix)) continue;
        const st = await stat(join(root, prefix, name)).catch(() => null);
        if (st?.isFile()) this.#add(name, st.size, st.mtimeMs);
      }
    }
    const fills = fillsDir(this.dir);
    for (const name of await readdir(fills)) {
      const m = /^([a-f0-9]{64})\.(?:([a-f0-9]+)\.part|fill)$/.exec(name);
      if (m === null) {
        // Leftovers of a marker update or take-over that died half way.
        if (/\.(tmp|stale)$/.test(name)) await unlink(join(fills, name)).catch(() => undefined);
        continue;
      }
      const hex = m[1] as string;
      const marker = await readMarker(this.dir, hex, this.#staleMs);
      if (m[2] === undefined) {
        if (marker?.stale) await unlink(markerPath(this.dir, hex)).catch(() => undefined);
      } else if (marker === null || marker.stale || marker.body.token !== m[2]) {
        await unlink(partPath(this.dir, hex, m[2])).catch(() => undefined);
      }
    }
    await this.#evict();
  }

  #add(hex: string, size: number, lastUsed: number): void {
    const old = this.#index.get(hex);
    if (old !== undefined) this.#size -= old.size;
    this.#index.set(hex, { size, lastUsed, seq: ++this.#seq, readers: old?.readers ?? 0 });
    this.#size += size;
  }

  #drop(hex: string): void {
    const e = this.#index.get(hex);
    if (e === undefined) return;
    this.#size -= e.size;
    this.#index.delete(hex);
  }

  /** The cached blob's size, or null. Finds files another process sharing the folder stored. */
  async lookup(hex: string): Promise<number | null> {
    const e = this.#index.get(hex);
    if (e !== undefined) return e.size;
    const st = await stat(blobPath(this.dir, hex)).catch(() => null);
    if (!st?.isFile()) return null;
    this.#add(hex, st.size, Date.now());
    return st.size;
  }

  /**
   * Opens a cached blob for serving, whole or a range; null when it is not (or no longer) there.
   * The stream errors on a digest mismatch, after which the file is gone and the failure counted.
   */
  async read(hex: string, range: ByteRange | null = null): Promise<BlobRead | null> {
    const path = blobPath(this.dir, hex);
    let file;
    try {
      file = await open(path, 'r');
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err;
      this.#drop(hex);
      return null;
    }
    const size = (await file.stat()).size;
    const previous = this.#index.get(hex)?.lastUsed ?? 0;
    this.#add(hex, size, Date.now());
    const entry = this.#index.get(hex) as Entry;
    if (entry.lastUsed - previous > TOUCH_MS) {
      const now = new Date();
      utimes(path, now, now).catch(() => undefined); // last use survives a restart and is seen by replicas
    }
    entry.readers++;
    const stream = new HashingReader({
      file,
      hex,
      size,
      range,
      waitForMore: () => Promise.resolve(false),
      onEnd: (outcome) => {
        entry.readers--;
        if (outcome === 'mismatch') {
          this.counters.verifyFailures++;
          this.#drop(hex);
          unlink(path).catch(() => undefined);
        }
      },
    });
    return { size, stream };
  }

  /**
   * Starts filling a digest, or answers null when another fill of it is in progress here or in a
   * process sharing the folder (then follow() reads it), or when it is already cached.
   */
  async beginFill(hex: string): Promise<FillWriter | null> {
    if (this.#fills.has(hex) || this.#index.has(hex)) return null;
    const marker = await FillMarker.claim(this.dir, hex, this.#staleMs);
    if (marker === null) return null;
    if (this.#fills.has(hex) || (await this.lookup(hex)) !== null) {
      await marker.release();
      return null;
    }
    const file = await open(marker.part, 'wx').catch(async (err: unknown) => {
      await marker.release();
      throw err;
    });
    const writer = new FillWriter({
      dir: this.dir,
      hex,
      file,
      marker,
      onEnd: (outcome: FillOutcome, size: number) => {
        this.#fills.delete(hex);
        if (outcome === 'stored') {
          this.counters.fillsStored++;
          this.#add(hex, size, Date.now());
          void this.#evict();
        } else {
          this.counters.fillsFailed++;
          if (outcome === 'mismatch') this.counters.verifyFailures++;
        }
        this.#events.emit(`end:${hex}`);
      },
    });
    writer.on('progress', () => this.#events.emit(`progress:${hex}`));
    this.#fills.set(hex, writer);
    return writer;
  }

  /**
   * Reads a blob another fill is writing, as it grows; resolves once that fill states its size.
   * Null when no fill is in progress and nothing is cached, or the fill fails before stating a size.
   * The stream errors if the fill fails later or the bytes do not match the digest.
   */
  async follow(hex: string, timeoutMs: number): Promise<BlobRead | null> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const marker = await readMarker(this.dir, hex, this.#staleMs);
      if (marker === null) return this.read(hex);
      if (marker.stale) return null;
      const size = marker.body.size;
      if (size === null) {
        await this.#wait(hex);
        continue;
      }
      let file;
      try {
        file = await open(partPath(this.dir, hex, marker.body.token), 'r');
      } catch (err) {
        if (isCode(err, 'ENOENT')) continue; // renamed into place or abandoned: look again
        throw err;
      }
      const token = marker.body.token;
      const stream = new HashingReader({
        file,
        hex,
        size,
        range: null,
        waitForMore: (position, wanted) => this.#stillFilling(hex, token, deadline, position + wanted),
        onEnd: () => undefined,
      });
      return { size, stream };
    }
    return null;
  }

  /**
   * After a wait (for the fill to reach `until` bytes, when it runs in this process): true while the
   * fill is alive or has landed in place (the open file is the final one). A fill of this process
   * with the same token is alive without reading its marker: followers catch up with the writer at
   * every chunk, and a marker read (two file-system calls) each time cost more than the bytes.
   */
  async #stillFilling(hex: string, token: string, deadline: number, until: number): Promise<boolean> {
    await this.#wait(hex, until);
    if (Date.now() > deadline) return false;
    if (this.#fills.get(hex)?.token === token) return true;
    const marker = await readMarker(this.dir, hex, this.#staleMs);
    if (marker !== null) return !marker.stale && marker.body.token === token;
    return (await this.lookup(hex)) !== null;
  }

  /**
   * Waits for an in-process fill to have written `until` bytes (or to end), at most 4 poll periods;
   * for a fill in another process, one poll period. Waking each follower at every write of the
   * filler instead made each of them read, hash and send the file in slivers.
   */
  #wait(hex: string, until = 0): Promise<void> {
    const writer = this.#fills.get(hex);
    if (writer === undefined) return sleep(this.#pollMs);
    if (writer.written >= until && until > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const progress = (): void => {
        if (writer.written >= until) done();
      };
      const done = (): void => {
        this.#events.off(`progress:${hex}`, progress);
        this.#events.off(`end:${hex}`, done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, this.#pollMs * 4);
      this.#events.on(`progress:${hex}`, progress);
      this.#events.once(`end:${hex}`, done);
    });
  }

  /** Removes least recently used blobs nobody reads until the total is at the low watermark. */
  async #evict(target = this.#low, force = this.#size > this.maxBytes): Promise<number> {
    if (!force) return 0;
    // Chosen and dropped from the index at once, so concurrent calls never pick the same file twice.
    const victims: string[] = [];
    const order = [...this.#index].sort((a, b) => a[1].lastUsed - b[1].lastUsed || a[1].seq - b[1].seq);
    for (const [hex, e] of order) {
      if (this.#size <= target) break;
      if (e.readers > 0 || this.#fills.has(hex)) continue;
      this.#drop(hex);
      victims.push(hex);
    }
    this.counters.evictions += victims.length;
    await Promise.all(victims.map((hex) => unlink(blobPath(this.dir, hex)).catch(() => undefined)));
    return victims.length;
  }

  /** Evicts down to targetBytes now (the CLI's prune); answers how many blobs went. */
  prune(targetBytes: number): Promise<number> {
    return this.#evict(targetBytes, true);
  }

  /** Hashes every cached blob; mismatching ones are removed and counted. */
  async verifyAll(): Promise<{ ok: number; removed: string[] }> {
    const removed: string[] = [];
    let ok = 0;
    for (const hex of [...this.#index.keys()]) {
      const r = await this.read(hex);
      if (r === null) continue;
      try {
        for await (const chunk of r.stream) void chunk;
        ok++;
      } catch {
        removed.push(hex);
      }
    }
    return { ok, removed };
  }
}
