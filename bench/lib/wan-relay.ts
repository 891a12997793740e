// A userland WAN stand-in on loopback: a TCP relay that adds a fixed delay each way and caps the
// rate of each direction, shared by every connection through it (one site's uplink). It counts the
// bytes that cross it, which is what the layer cache is meant to save.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface WanOptions {
  /** One-way delay, ms. */
  readonly delayMs: number;
  /** Cap per direction, bytes per second. */
  readonly bytesPerSecond: number;
}

/** One direction of the link: chunks leave in order, no faster than the cap, delayMs late. */
class Direction {
  bytes = 0;
  #nextFree = 0;
  readonly #o: WanOptions;
  constructor(o: WanOptions) {
    this.#o = o;
  }

  /** When a chunk of this size, sent now, arrives at the other end. */
  due(length: number): number {
    this.bytes += length;
    const start = Math.max(performance.now(), this.#nextFree);
    this.#nextFree = start + (length / this.#o.bytesPerSecond) * 1000;
    return this.#nextFree + this.#o.delayMs;
  }
}

/** One connection's one direction: a FIFO drained by a single timer, so chunks never reorder. */
class Pipe {
  readonly #queue: { at: number; chunk: Buffer | null }[] = [];
  #timer: NodeJS.Timeout | null = null;
  #queued = 0;

  constructor(
    readonly link: Direction,
    readonly from: Socket,
    readonly to: Socket,
  ) {}

  push(chunk: Buffer | null): void {
    const at = chunk === null ? this.#lastAt() : this.link.due(chunk.length);
    this.#queue.push({ at, chunk });
    if (chunk !== null) {
      this.#queued += chunk.length;
      if (this.#queued > 1 << 20) this.from.pause();
    }
    this.#arm();
  }

  #lastAt(): number {
    return this.#queue.at(-1)?.at ?? performance.now();
  }

  #arm(): void {
    if (this.#timer !== null || this.#queue.length === 0) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        const now = performance.now();
        while (this.#queue.length > 0 && this.#queue[0]!.at <= now + 0.5) {
          const { chunk } = this.#queue.shift()!;
          if (chunk === null) {
            this.to.end();
            continue;
          }
          this.#queued -= chunk.length;
          if (!this.to.destroyed) this.to.write(chunk);
        }
        if (this.#queued <= 1 << 19) this.from.resume();
        this.#arm();
      },
      Math.max(0, this.#queue[0]!.at - performance.now()),
    );
  }
}

export class WanRelay {
  readonly down: Direction;
  readonly up: Direction;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();

  constructor(o: WanOptions) {
    this.down = new Direction(o);
    this.up = new Direction(o);
  }

  /** Bytes that crossed toward the site (downloads) and away from it. */
  get bytesDown(): number {
    return this.down.bytes;
  }

  get bytesUp(): number {
    return this.up.bytes;
  }

  /** Relays listenIp:port to targetIp:port through the link. */
  async add(listenIp: string, targetIp: string, port: number): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect({ host: targetIp, port });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      const up = new Pipe(this.up, client, upstream);
      const down = new Pipe(this.down, upstream, client);
      client.on('data', (c: Buffer) => up.push(c));
      upstream.on('data', (c: Buffer) => down.push(c));
      client.on('end', () => up.push(null));
      upstream.on('end', () => down.push(null));
      // A reset ends the other side once what was already on the wire has arrived.
      client.on('close', () => up.push(null));
      upstream.on('close', () => down.push(null));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, listenIp, () => resolve());
    });
    this.#servers.push(server);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all(this.#servers.map((s) => new Promise((r) => s.close(r))));
  }
}
