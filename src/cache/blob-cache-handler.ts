// The cache's side of an inspected request: which requests it may serve, and what to answer once
// the registry has answered the client's own request. The rule it keeps: a cached byte goes out
// only in answer to a registry 200 or redirect on that same request; every other answer is relayed
// as it came and the cache is not consulted. Independent of how the request reached the registry:
// the caller forwards it, hands over the answer, and lends fetchLocation for following a redirect.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { BlobCache, BlobRead } from './blob-cache.js';
import { parseRange } from './byte-range.js';
import { digestHex } from './layout.js';
import { relay, type UpstreamAnswer } from './relay.js';
import { VerifyingPass } from './verifying-pass.js';

export type CacheResult = 'hit' | 'miss' | 'bypass';

export interface CacheHandlerOptions {
  /** Blobs smaller than this pass through uncached (cache.minBlobBytes). */
  readonly minBlobBytes: number;
  /** How long a request waits for another fill of the same digest to state its size. */
  readonly followTimeoutMs?: number;
}

/** Follows a redirect's Location through the same checks as a client's CONNECT would pass. */
export type FetchLocation = (url: URL) => Promise<UpstreamAnswer>;

export interface CacheTotals {
  hit: number;
  miss: number;
  bypass: number;
  /** Bytes sent to clients from disk, and bytes fetched upstream into the cache. */
  bytesDisk: number;
  bytesUpstream: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** How many sizes of small blobs the handler remembers (about 100 bytes each). */
const SMALL_SIZES = 10_000;

export class BlobCacheHandler {
  readonly cache: BlobCache;
  readonly totals: CacheTotals = { hit: 0, miss: 0, bypass: 0, bytesDisk: 0, bytesUpstream: 0 };
  readonly #o: Required<CacheHandlerOptions>;
  /**
   * Sizes of blobs below minBlobBytes learned by following a redirect (a registry's redirect does not
   * say the size). Small blobs are never stored, so without this every request would follow again;
   * with it, a known small blob gets the registry's answer unchanged whoever asks and whenever.
   */
  readonly #smallSizes = new Map<string, number>();

  constructor(cache: BlobCache, options: CacheHandlerOptions) {
    this.cache = cache;
    this.#o = { followTimeoutMs: 30_000, ...options };
  }

  /**
   * Whether the cache takes part in a request: a GET of a sha256 blob. Null leaves the request to
   * the plain relay (HEAD, manifests, uploads, other digests). Looks at nothing but method and route.
   */
  plan(method: string, blobDigest: string | null, headers: IncomingHttpHeaders): CachePlan | null {
    if (method !== 'GET' || blobDigest === null) return null;
    const hex = digestHex(blobDigest);
    if (hex === null) return null;
    const range = typeof headers.range === 'string' ? headers.range : null;
    return new CachePlan(this, hex, blobDigest, range, this.#o);
  }

  count(result: CacheResult): CacheResult {
    this.totals[result]++;
    return result;
  }

  /** A blob's size if it is known to be below minBlobBytes: from the cache or a followed redirect. */
  smallSize(hex: string, cached: number | null = null): number | null {
    const size = cached ?? this.#smallSizes.get(hex) ?? null;
    return size !== null && size < this.#o.minBlobBytes ? size : null;
  }

  learnSmall(hex: string, size: number): void {
    if (size >= this.#o.minBlobBytes || this.#smallSizes.has(hex)) return;
    if (this.#smallSizes.size >= SMALL_SIZES) this.#smallSizes.delete(this.#smallSizes.keys().next().value as string);
    this.#smallSizes.set(hex, size);
  }
}

export class CachePlan {
  readonly #h: BlobCacheHandler;
  readonly #hex: string;
  readonly #digest: string;
  readonly #range: string | null;
  readonly #o: Required<CacheHandlerOptions>;
  /** Body bytes this request's client got through the cache: from disk, teed, or relayed. */
  bytesSent = 0;

  constructor(
    h: BlobCacheHandler,
    hex: string,
    digest: string,
    range: string | null,
    o: Required<CacheHandlerOptions>,
  ) {
    this.#h = h;
    this.#hex = hex;
    this.#digest = digest;
    this.#range = range;
    this.#o = o;
  }

  /** Answers the client once the registry has answered its request; resolves with the record's `cache`. */
  async respond(answer: UpstreamAnswer, res: ServerResponse, fetchLocation: FetchLocation): Promise<CacheResult> {
    const h = this.#h;
    try {
      if (REDIRECTS.has(answer.status)) return h.count(await this.#onRedirect(answer, res, fetchLocation));
      if (answer.status === 200 && this.#range === null && h.smallSize(this.#hex) === null)
        return h.count(await this.#tee(answer, res, null));
    } catch (err) {
      // The cache's disk failed (open, claim, follow) before this client got anything: it still gets
      // the registry's answer, untouched, and the record says the cache took no part.
      if (res.headersSent || answer.body.readableFlowing !== null) throw err;
    }
    this.#relay(answer, res); // 401, 403, 404, 429, 5xx, a 206: the registry's own answer
    return h.count('bypass');
  }

  async #onRedirect(answer: UpstreamAnswer, res: ServerResponse, fetchLocation: FetchLocation): Promise<CacheResult> {
    const h = this.#h;
    const cache = h.cache;
    const cached = await cache.lookup(this.#hex);
    // Below minBlobBytes, once the size is known: the registry's answer as it came, every time.
    if (h.smallSize(this.#hex, cached) !== null) return this.#pass(answer, res);
    const size = cached;
    if (this.#range !== null) {
      const range = size === null ? null : parseRange(this.#range, size);
      if (range === null) return this.#pass(answer, res); // the client follows the redirect itself, uncached
      const read = await cache.read(this.#hex, range);
      if (read === null) return this.#pass(answer, res);
      answer.body.resume();
      return this.#serve(read, res, 206, { 'content-range': `bytes ${range.start}-${range.end}/${read.size}` });
    }
    if (size !== null) {
      const read = await cache.read(this.#hex);
      if (read !== null) {
        answer.body.resume();
        return this.#serve(read, res, 200, {});
      }
    }
    let location: URL;
    try {
      location = new URL(answer.headers.location ?? '');
    } catch {
      return this.#pass(answer, res);
    }
    const writer = await cache.beginFill(this.#hex);
    if (writer === null) {
      // Another fill of this digest is under way (here or in a replica): read it as it grows.
      const followed = await cache.follow(this.#hex, this.#o.followTimeoutMs);
      // Null: that fill ended without stating a size. It found a small blob (learned above) or it
      // failed; either way this client gets the registry's redirect and follows it itself.
      if (followed === null) return this.#pass(answer, res);
      answer.body.resume();
      return this.#serve(followed, res, 200, {});
    }
    // A fill that found the blob small may have ended between the check above and this claim.
    if (h.smallSize(this.#hex) !== null) {
      writer.destroy();
      return this.#pass(answer, res);
    }
    let stored: UpstreamAnswer;
    try {
      stored = await fetchLocation(location);
    } catch {
      writer.destroy();
      return this.#pass(answer, res); // the client may still follow it; its CONNECT is checked as always
    }
    const length = Number(stored.headers['content-length'] ?? NaN);
    if (stored.status === 200 && Number.isSafeInteger(length) && length < this.#o.minBlobBytes) {
      // Small: learned before the claim ends, so requests waiting on it find the size (no race),
      // and this client too gets the registry's redirect, like every later one.
      h.learnSmall(this.#hex, length);
      writer.destroy();
      stored.body.destroy();
      return this.#pass(answer, res);
    }
    answer.body.resume();
    if (stored.status !== 200) {
      writer.destroy();
      this.#relay(stored, res); // what the client would have seen following the redirect itself
      return 'bypass'; // no blob byte came through the gateway, none went into the cache
    }
    return this.#tee(stored, res, writer);
  }

  /** Relays the registry's answer as it came: the cache took no part in this response. */
  #pass(answer: UpstreamAnswer, res: ServerResponse): CacheResult {
    this.#relay(answer, res);
    return 'bypass';
  }

  /** Streams a 200 body to the client and into the cache at once (small blobs: to the client only). */
  async #tee(
    source: UpstreamAnswer,
    res: ServerResponse,
    claimed: Awaited<ReturnType<BlobCache['beginFill']>>,
  ): Promise<CacheResult> {
    // Listening from the start: the body may fail while a fill is being claimed.
    let failed: Error | null = null;
    const onEarlyError = (err: Error): void => void (failed = err);
    source.body.once('error', onEarlyError);
    const length = Number(source.headers['content-length'] ?? NaN);
    const small = Number.isSafeInteger(length) && length < this.#o.minBlobBytes;
    if (small) this.#h.learnSmall(this.#hex, length);
    const writer = small ? null : (claimed ?? (await this.#h.cache.beginFill(this.#hex)));
    if (small) claimed?.destroy();
    if (writer === null) {
      source.body.off('error', onEarlyError);
      if (failed !== null) res.destroy(failed);
      else this.#relay(source, res);
      return small ? 'bypass' : 'miss';
    }
    writer.on('error', () => undefined); // a failed fill never disturbs the client's download
    try {
      if (Number.isSafeInteger(length)) await writer.expectSize(length);
    } catch {
      writer.destroy();
      source.body.off('error', onEarlyError);
      if (failed !== null) res.destroy(failed);
      else this.#relay(source, res);
      return 'miss';
    }
    source.body.off('error', onEarlyError);
    if (failed !== null || source.body.destroyed) {
      writer.destroy();
      res.destroy(failed ?? undefined);
      return 'miss';
    }
    const totals = this.#h.totals;
    source.body.on('data', (chunk: Buffer) => {
      totals.bytesUpstream += chunk.length;
      this.bytesSent += chunk.length;
    });
    source.body.once('error', (err) => {
      writer.destroy(err);
      res.destroy(err);
    });
    res.writeHead(200, {
      ...(Number.isSafeInteger(length) ? { 'content-length': String(length) } : {}),
      'content-type': 'application/octet-stream',
      'docker-content-digest': this.#digest,
    });
    const verified = new VerifyingPass(this.#hex);
    verified.once('error', (err) => res.destroy(err));
    source.body.pipe(verified).pipe(res);
    source.body.pipe(writer);
    return 'miss';
  }

  #relay(answer: UpstreamAnswer, res: ServerResponse): void {
    answer.body.on('data', (chunk: Buffer) => (this.bytesSent += chunk.length));
    relay(answer, res);
  }

  #serve(read: BlobRead, res: ServerResponse, status: number, extra: Record<string, string>): CacheResult {
    if (res.destroyed) {
      // The client left while the cache looked or waited for a fill: nothing went out from disk,
      // and the reader gives its file (and its hold against eviction) back now.
      read.stream.destroy();
      return 'bypass';
    }
    const totals = this.#h.totals;
    const length = extra['content-range'] === undefined ? read.size : rangeLength(extra['content-range']);
    res.writeHead(status, {
      'content-length': String(length),
      'content-type': 'application/octet-stream',
      'docker-content-digest': this.#digest,
      'accept-ranges': 'bytes',
      ...extra,
    });
    const stream = read.stream;
    // pipe() with one difference: each chunk goes back to the reader once written, for its next
    // read to reuse (HashingReader.release says why).
    stream.on('data', (chunk: Buffer) => {
      totals.bytesDisk += chunk.length;
      this.bytesSent += chunk.length;
      if (!res.write(chunk, () => stream.release(chunk))) stream.pause();
    });
    res.on('drain', () => stream.resume());
    stream.once('end', () => res.end());
    // A mismatch found while serving aborts the response before its last byte (hashing-reader.ts).
    stream.once('error', () => res.destroy());
    res.once('close', () => stream.destroy());
    return 'hit';
  }
}

function rangeLength(contentRange: string): number {
  const m = /^bytes (\d+)-(\d+)\//.exec(contentRange);
  return m === null ? 0 : Number(m[2]) - Number(m[1]) + 1;
}
