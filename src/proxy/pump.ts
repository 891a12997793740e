// Moves bytes between a client socket and an upstream socket, counting them, with no per-chunk
// allocation for bulk downloads and no read buffer at all held by a quiet tunnel (see below).
import type { Socket } from 'node:net';

/** A tunnel's own read buffer once it carries bulk data (upstream -> client: the registry's layers). */
export const READ_BUFFER_BYTES = 256 * 1024;
/** The one process-wide buffer every quiet tunnel reads into. */
export const SHARED_READ_BYTES = 16 * 1024;
/** Free bulk buffers kept for the next tunnel that needs one (at most 4 MiB held while unused). */
const POOL_MAX = 16;

/*
 * Why one buffer can serve every quiet tunnel.
 *
 * With `onread`, libuv reads straight into the buffer our `buffer()` last returned for that socket,
 * and Node calls `callback(n, buf)` synchronously right after that read(2), before any other socket
 * is read. A buffer may therefore be shared by any number of sockets as long as no reference to its
 * bytes outlives the callback. The callback guarantees that for the shared buffer by writing a copy
 * (`Buffer.from`), never the buffer itself: a write that does not complete synchronously (a slow
 * client; libuv keeps a pointer to the unwritten bytes) or that is queued behind one, holds only the
 * copy. So the shared buffer is dead between callbacks and the next read of any socket may overwrite
 * it. Copies cost little here: they only happen for reads of at most SHARED_READ_BYTES.
 *
 * A read that fills the shared buffer means bulk data is waiting: the tunnel switches to its own
 * READ_BUFFER_BYTES buffer, which is written without a copy. While a write still points into that
 * buffer (`client.writableLength > 0` after the write: queued, or partly written and pending), the
 * buffer is lent to the write and the next read goes into another one; a lent buffer is never read
 * into again until it is known to be free. Writes complete in order, so "nothing was queued before
 * this write" proves every earlier write done, and the last lent buffer becomes the spare: a bulk
 * tunnel behind a slow client alternates between two buffers instead of allocating one per chunk.
 *
 * The first read that would have fitted in the shared buffer (the tail of a response, a quiet
 * connection) sends the tunnel back to it, and its free buffers go to a small process-wide pool
 * for the next bulk phase of any tunnel. A pooled buffer is neither lent (lent ones are only
 * released once every earlier write is done) nor installed in a socket (the own buffer is released
 * in `buffer()`, whose return value replaces it in the socket). So an idle tunnel, even one that
 * just carried a layer, holds no read buffer: 20,000 of them share 16 KiB (a 64 KiB buffer per tunnel,
 * as before, was 1.3 GB of allocations at 20,000, resident wherever reads had touched them).
 * Buffers come from allocUnsafe: pages a read never reaches are never touched, so never resident.
 */
let shared: Buffer | null = null;

function sharedBuffer(): Buffer {
  shared ??= Buffer.allocUnsafe(SHARED_READ_BYTES);
  return shared;
}

const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafe(READ_BUFFER_BYTES);
}

/** Only for buffers no socket reads into and no pending write points into (see above). */
function giveBack(buf: Buffer | null): void {
  if (buf !== null && pool.length < POOL_MAX) pool.push(buf);
}

export type PumpEnd = 'closed' | 'idle_timeout' | 'client_error' | 'upstream_error' | 'aborted';

export interface PumpStats {
  bytesUp: number;
  bytesDown: number;
}

/**
 * The downstream half of a tunnel, created before the upstream socket so that its `onread` options
 * can be passed to net.connect. Data that arrives before `attach()` (a server speaking first) is kept.
 */
export class DownstreamReader {
  #bulk = false;
  /** The tunnel's own read buffer in bulk mode; null when it must be (re)chosen. */
  #own: Buffer | null = null;
  /** The own buffer the newest pending client write points into. */
  #lent: Buffer | null = null;
  /** An own buffer known to be free: the one before #lent, once the writes before the newest are done. */
  #spare: Buffer | null = null;
  #client: Socket | null = null;
  #upstream: Socket | null = null;
  #early: Buffer[] = [];
  readonly stats: PumpStats = { bytesUp: 0, bytesDown: 0 };

  /** Options for net.connect({ onread }). */
  readonly onread = {
    buffer: (): Buffer => {
      if (!this.#bulk) {
        // The socket reads into the shared buffer from now on; a lent buffer lives on in its write.
        giveBack(this.#own);
        giveBack(this.#spare);
        this.#own = this.#lent = this.#spare = null;
        return sharedBuffer();
      }
      if (this.#own === null) {
        this.#own = this.#spare ?? takeBuffer();
        this.#spare = null;
      }
      return this.#own;
    },
    callback: (n: number, buf: Uint8Array): boolean => {
      const client = this.#client;
      if (client === null) {
        // Not spliced yet: keep a copy and stop reading until the tunnel starts.
        this.#early.push(Buffer.from(buf.subarray(0, n)));
        return false;
      }
      this.stats.bytesDown += n;
      let ok: boolean;
      if (buf === shared) {
        ok = client.write(Buffer.from(buf.subarray(0, n)));
        if (n === buf.length) this.#bulk = true;
      } else {
        // Nothing queued before this write means every earlier write is done: the last lent buffer is free.
        const earlierDone = client.writableLength === 0;
        ok = client.write(buf.subarray(0, n));
        if (earlierDone && this.#lent !== null) {
          this.#spare = this.#lent;
          this.#lent = null;
        }
        // A write that did not complete synchronously still points into buf: hand buf over to it.
        if (client.writableLength > 0) {
          this.#lent = this.#own;
          this.#own = null;
        }
        if (n < SHARED_READ_BYTES) this.#bulk = false;
      }
      if (!ok) {
        client.once('drain', this.#resume);
        return false;
      }
      return true;
    },
  };

  #resume = (): void => {
    this.#upstream?.resume();
  };

  attach(client: Socket, upstream: Socket): void {
    this.#client = client;
    this.#upstream = upstream;
    for (const chunk of this.#early) {
      this.stats.bytesDown += chunk.length;
      client.write(chunk);
    }
    const hadEarly = this.#early.length > 0;
    this.#early = [];
    if (hadEarly) upstream.resume();
  }
}

/**
 * Splices client and upstream until both directions have ended, either side fails, or neither side
 * moves for idleTimeoutMs. `first` (the buffered ClientHello) is sent upstream before anything else.
 * Upstream (client -> upstream) uses 'data' events: the accepted client socket cannot take `onread`,
 * and each chunk Node hands over is a fresh buffer the write may keep.
 */
export function pump(
  client: Socket,
  upstream: Socket,
  reader: DownstreamReader,
  first: Buffer,
  idleTimeoutMs: number,
): Promise<PumpEnd> {
  return new Promise((resolve) => {
    const stats = reader.stats;
    let upstreamEnded = false;
    let done = false;
    const finish = (how: PumpEnd): void => {
      if (done) return;
      done = true;
      client.off('data', onClientData);
      client.destroy();
      upstream.destroy();
      resolve(how);
    };
    const onClientData = (chunk: Buffer): void => {
      stats.bytesUp += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    };
    upstream.on('drain', () => client.resume());
    client.on('data', onClientData);
    client.on('end', () => upstream.end());
    upstream.on('end', () => {
      upstreamEnded = true;
      client.end();
    });
    client.on('error', () => finish('client_error'));
    upstream.on('error', () => finish('upstream_error'));
    // The client closing ends the tunnel. An upstream that ended cleanly has already passed its EOF to
    // the client (client.end() flushes what is queued first), so only an unclean upstream close ends it here.
    client.on('close', () => finish('closed'));
    upstream.on('close', () => {
      if (!upstreamEnded) finish('upstream_error');
    });
    // Bytes in either direction touch the client socket (a read or a write), so its timer alone
    // tells an idle tunnel: one timer per tunnel, not two.
    client.setTimeout(idleTimeoutMs, () => finish('idle_timeout'));
    if (first.length > 0) {
      stats.bytesUp += first.length;
      upstream.write(first);
    }
    reader.attach(client, upstream);
    client.resume();
  });
}
