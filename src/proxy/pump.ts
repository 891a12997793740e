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
 * The rule that lets one buffer serve every quiet tunnel (the reasoning and its history:
 * docs/benchmarks.md, "One read buffer for every quiet tunnel"):
 * - `onread` reads into the buffer `buffer()` last returned and calls `callback` synchronously, so
 *   no reference to the shared buffer may outlive the callback: its bytes are written as a copy.
 * - A read that fills the shared buffer switches the tunnel to its own READ_BUFFER_BYTES buffer,
 *   written without a copy. While a write still points into it (`client.writableLength > 0`) it is
 *   lent and never read into; once nothing was queued before a write, the last lent one is the spare.
 * - The first short read sends the tunnel back to the shared buffer; its free own buffers go to the
 *   pool. A pooled buffer is never lent and never installed in a socket.
 * - Buffers come from allocUnsafe: pages no read reaches are never resident.
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

export type PumpEnd = 'closed' | 'idle_timeout' | 'client_error' | 'upstream_error';

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
