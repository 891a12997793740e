// Moves bytes between a client socket and an upstream socket, counting them without copying.
// Downstream (upstream -> client, the registry's layers) reads into a reused per-tunnel buffer via
// net.Socket's `onread`: the buffer is handed on only while a write holding it is still pending.
import type { Socket } from 'node:net';

export const READ_BUFFER_BYTES = 64 * 1024;

export type PumpEnd = 'closed' | 'idle_timeout' | 'client_error' | 'upstream_error' | 'aborted';

export interface PumpStats {
  bytesUp: number;
  bytesDown: number;
}

/**
 * The downstream half of a tunnel, created before the upstream socket so that its `onread` options
 * can be passed to net.connect. Data that arrives before `start()` (a server speaking first) is kept.
 */
export class DownstreamReader {
  #buf: Buffer | null = null;
  #lent = false;
  #client: Socket | null = null;
  #upstream: Socket | null = null;
  #early: Buffer[] = [];
  readonly stats: PumpStats = { bytesUp: 0, bytesDown: 0 };

  /** Options for net.connect({ onread }). */
  readonly onread = {
    buffer: (): Buffer => {
      if (this.#buf === null || this.#lent) {
        this.#buf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
        this.#lent = false;
      }
      return this.#buf;
    },
    callback: (n: number, buf: Uint8Array): boolean => {
      const client = this.#client;
      if (client === null) {
        // Not spliced yet: keep a copy and stop reading until the tunnel starts.
        this.#early.push(Buffer.from(buf.subarray(0, n)));
        return false;
      }
      this.stats.bytesDown += n;
      const ok = client.write(buf.subarray(0, n));
      // A write that did not complete synchronously still points into buf: hand buf over to it.
      if (client.writableLength > 0) this.#lent = true;
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
 */
export function pump(client: Socket, upstream: Socket, reader: DownstreamReader, first: Buffer, idleTimeoutMs: number): Promise<PumpEnd> {
  return new Promise((resolve) => {
    const stats = reader.stats;
    let clientEnded = false;
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
    client.on('end', () => {
      clientEnded = true;
      upstream.end();
    });
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
    const onIdle = (): void => finish('idle_timeout');
    client.setTimeout(idleTimeoutMs, onIdle);
    upstream.setTimeout(idleTimeoutMs, onIdle);
    if (first.length > 0) {
      stats.bytesUp += first.length;
      upstream.write(first);
    }
    reader.attach(client, upstream);
    client.resume();
  });
}
