// The tunnel data path: the read-buffer discipline of DownstreamReader (shared buffer for quiet
// tunnels, own buffer for bulk, never reused while a write holds it) driven by hand, then real
// loopback sockets: large transfers both ways under backpressure, half-close both ways, idle timeout.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../../../src/proxy/dial.js';
import { DownstreamReader, pump, READ_BUFFER_BYTES, SHARED_READ_BYTES, type PumpEnd } from '../../../src/proxy/pump.js';

// ---- the buffer discipline, with libuv played by hand ---------------------------------------------

/**
 * A client socket stand-in. While `pending`, writes do not complete: each chunk is kept by reference,
 * as libuv keeps a pointer to unwritten bytes, and checked only when the queue drains. Otherwise a
 * write completes at once and its bytes are checked right then.
 */
class HoldingClient {
  pending = false;
  checked = 0;
  readonly bad: string[] = [];
  #queue: { chunk: Uint8Array; expected: Buffer }[] = [];
  #expected: Buffer = Buffer.alloc(0);
  get writableLength(): number {
    return this.#queue.reduce((sum, q) => sum + q.chunk.length, 0);
  }
  expect(bytes: Buffer): void {
    this.#expected = bytes;
  }
  write(chunk: Uint8Array): boolean {
    const entry = { chunk, expected: Buffer.from(this.#expected) };
    if (this.pending) {
      this.#queue.push(entry);
      return false;
    }
    this.#check(entry);
    return true;
  }
  /** The queue drains: every held chunk must still hold the bytes it was written with. */
  drain(): void {
    for (const q of this.#queue.splice(0)) this.#check(q);
  }
  #check(q: { chunk: Uint8Array; expected: Buffer }): void {
    this.checked++;
    if (!Buffer.from(q.chunk).equals(q.expected)) this.bad.push(`write #${this.checked} of ${q.chunk.length} bytes was overwritten`);
  }
  once(): this {
    return this;
  }
  asSocket(): Socket {
    return this as unknown as Socket;
  }
}

interface Tunnel {
  reader: DownstreamReader;
  client: HoldingClient;
  /** The buffer the socket reads into next: Node installs whatever `buffer()` last returned. */
  next: Buffer;
}

function attached(): Tunnel {
  const reader = new DownstreamReader();
  const client = new HoldingClient();
  // net.connect asks for the first buffer when it creates the handle, before the tunnel is spliced.
  const next = reader.onread.buffer();
  reader.attach(client.asSocket(), { resume: () => undefined } as unknown as Socket);
  return { reader, client, next };
}

/** One read as libuv and Node do it: fill the installed buffer (up to n bytes), call back, install the next. */
function read(t: Tunnel, want: number): Buffer {
  const buf = t.next;
  const n = Math.min(want, buf.length);
  const bytes = randomBytes(n);
  bytes.copy(buf, 0);
  t.client.expect(bytes);
  t.reader.onread.callback(n, buf);
  t.next = t.reader.onread.buffer();
  return buf;
}

/** Identity without vitest diffing two 256 KiB buffers on failure. */
function same(a: Buffer, b: Buffer): boolean {
  return a === b;
}

function expectIntact(...clients: HoldingClient[]): void {
  for (const c of clients) {
    c.drain();
    expect(c.bad).toEqual([]);
  }
  expect(clients.reduce((sum, c) => sum + c.checked, 0)).toBeGreaterThan(0);
}

describe('DownstreamReader buffers', () => {
  it('gives every quiet tunnel the same shared buffer, so an idle tunnel holds no buffer of its own', () => {
    const a = attached();
    const b = attached();
    expect(same(a.next, b.next)).toBe(true);
    expect(a.next.length).toBe(SHARED_READ_BYTES);
    read(a, 100);
    expect(same(a.next, b.next)).toBe(true);
  });

  it('moves a tunnel to its own buffer after a read fills the shared one, and back at the first short read', () => {
    const a = attached();
    const shared = read(a, SHARED_READ_BYTES);
    const own = a.next;
    expect(same(own, shared)).toBe(false);
    expect(own.length).toBe(READ_BUFFER_BYTES);
    read(a, READ_BUFFER_BYTES);
    expect(same(a.next, own)).toBe(true); // bulk reads reuse the own buffer while no write holds it
    read(a, 10);
    expect(same(a.next, shared)).toBe(true);
  });

  it('hands the buffer of a tunnel that went quiet to the next tunnel that needs one', () => {
    const a = attached();
    read(a, SHARED_READ_BYTES);
    const own = read(a, READ_BUFFER_BYTES);
    read(a, 10);
    const b = attached();
    read(b, SHARED_READ_BYTES);
    expect(same(b.next, own)).toBe(true);
  });

  it('recycles the buffer a finished write held: a bulk tunnel alternating slow and fast writes uses two buffers', () => {
    const a = attached();
    read(a, SHARED_READ_BYTES);
    const seen = new Set<Buffer>();
    for (let i = 0; i < 20; i++) {
      a.client.drain();
      a.client.pending = i % 2 === 0;
      seen.add(read(a, READ_BUFFER_BYTES));
    }
    expect(seen.size).toBe(2);
    expectIntact(a.client);
  });

  type Step = { who: 'a' | 'b'; n: number; pending: boolean };
  const small = (who: 'a' | 'b', pending: boolean): Step => ({ who, n: 1000, pending });
  const full = (who: 'a' | 'b', n: number, pending: boolean): Step => ({ who, n, pending });
  const cases: { name: string; steps: Step[] }[] = [
    {
      name: 'keeps a pending write from the shared buffer intact while another tunnel reads into it',
      steps: [small('a', true), small('b', false), small('b', true), small('a', true)],
    },
    {
      name: 'keeps a pending bulk write intact: a lent buffer is never read into again',
      steps: [full('a', SHARED_READ_BYTES, false), full('a', READ_BUFFER_BYTES, true), full('a', READ_BUFFER_BYTES, true), full('a', 30_000, false)],
    },
    {
      name: 'keeps writes intact when reads go on while older writes are still queued',
      steps: [
        full('a', SHARED_READ_BYTES, false),
        full('a', READ_BUFFER_BYTES, true),
        full('a', READ_BUFFER_BYTES, true),
        full('a', 5000, true),
        full('a', READ_BUFFER_BYTES, false),
        full('a', READ_BUFFER_BYTES, true),
        full('a', READ_BUFFER_BYTES, false),
      ],
    },
    {
      name: 'never pools a buffer a pending write holds when its tunnel goes quiet',
      steps: [
        full('a', SHARED_READ_BYTES, false),
        full('a', READ_BUFFER_BYTES, true),
        small('a', true),
        full('b', SHARED_READ_BYTES, false),
        full('b', READ_BUFFER_BYTES, false),
        full('b', READ_BUFFER_BYTES, true),
        full('b', READ_BUFFER_BYTES, false),
      ],
    },
    {
      name: 'keeps every write intact across bulk, quiet and shared phases of two tunnels',
      steps: [
        full('a', SHARED_READ_BYTES, true),
        small('b', true),
        full('a', READ_BUFFER_BYTES, true),
        small('a', true),
        small('a', true),
        small('a', true),
        small('a', true),
        small('b', true),
        small('a', true),
        full('b', SHARED_READ_BYTES, true),
        full('b', READ_BUFFER_BYTES, false),
        small('a', false),
      ],
    },
  ];
  it.each(cases)('$name', ({ steps }) => {
    const t = { a: attached(), b: attached() };
    for (const s of steps) {
      const c = t[s.who].client;
      if (!s.pending) c.drain(); // the client caught up: its queue is flushed first
      c.pending = s.pending;
      read(t[s.who], s.n);
    }
    expectIntact(t.a.client, t.b.client);
  });

  it('keeps bytes a server sends before the tunnel starts, and delivers them first', () => {
    const reader = new DownstreamReader();
    const buf = reader.onread.buffer();
    Buffer.from('hello').copy(buf);
    // (nothing reads into buf again before attach: reading stops when the callback returns false)
    expect(reader.onread.callback(5, buf)).toBe(false); // stops reading until attached
    buf.fill(0);
    const client = new HoldingClient();
    client.expect(Buffer.from('hello'));
    let resumed = false;
    reader.attach(client.asSocket(), { resume: () => (resumed = true) } as unknown as Socket);
    expect(client.checked).toBe(1);
    expect(client.bad).toEqual([]);
    expect(resumed).toBe(true);
    expect(reader.stats.bytesDown).toBe(5);
  });
});

// ---- real sockets ---------------------------------------------------------------------------------

interface Rig {
  proxyPort: number;
  /** The proxy side of each tunnel, for watching how much it queues. */
  tunnels: { client: Socket; upstream: Socket; reader: DownstreamReader; end: Promise<PumpEnd> }[];
  close(): Promise<void>;
}

const open: Rig[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.close();
});

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A proxy that splices every accepted socket to upstreamPort with dial() + pump(), as the handlers do. */
async function startRig(upstreamPort: number, idleTimeoutMs = 30_000): Promise<Rig> {
  const tunnels: Rig['tunnels'] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    sockets.add(client);
    client.pause();
    client.on('error', () => undefined);
    const reader = new DownstreamReader();
    void dial('127.0.0.1', upstreamPort, 2_000, reader).then((d) => {
      if (!d.ok) return client.destroy();
      sockets.add(d.socket);
      tunnels.push({ client, upstream: d.socket, reader, end: pump(client, d.socket, reader, Buffer.alloc(0), idleTimeoutMs) });
    });
  });
  const proxyPort = await listen(server);
  const rig: Rig = {
    proxyPort,
    tunnels,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  open.push(rig);
  return rig;
}

async function startUpstream(onSocket: (s: Socket) => void): Promise<{ port: number; server: Server }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onSocket(s);
  });
  const port = await listen(server);
  open.push({ proxyPort: 0, tunnels: [], close: async () => {
    for (const s of sockets) s.destroy();
    server.close();
    await once(server, 'close');
  } });
  return { port, server };
}

function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads a socket to its end, pausing now and then so that the writer meets backpressure. */
function readSlowly(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let since = 0;
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      since += c.length;
      if (since >= 1024 * 1024) {
        since = 0;
        s.pause();
        setTimeout(() => s.resume(), 15);
      }
    });
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

async function writeAll(s: Socket, data: Buffer, end: boolean): Promise<void> {
  for (let at = 0; at < data.length; at += 256 * 1024) {
    if (!s.write(data.subarray(at, at + 256 * 1024))) await once(s, 'drain');
  }
  if (end) s.end();
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The largest writableLength a socket reaches right after any write. */
function watchQueue(s: Socket): () => number {
  let max = 0;
  const write = s.write.bind(s) as (...args: unknown[]) => boolean;
  (s as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
    const ok = write(...args);
    max = Math.max(max, s.writableLength);
    return ok;
  };
  return () => max;
}

async function firstTunnel(rig: Rig): Promise<Rig['tunnels'][number]> {
  while (rig.tunnels.length === 0) await new Promise((r) => setTimeout(r, 5));
  return rig.tunnels[0] as Rig['tunnels'][number];
}

const SIZE = 24 * 2 ** 20;
const QUEUE_BOUND = READ_BUFFER_BYTES + 64 * 1024; // one chunk past the high-water mark, not megabytes

describe('pump over real sockets', () => {
  it('carries 24 MiB each way at once byte-identical, holding back a fast side for a slow reader', async () => {
    const down = randomBytes(SIZE);
    const up = randomBytes(SIZE);
    let upstreamGot: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    const { port } = await startUpstream((s) => {
      upstreamGot = readSlowly(s);
      void writeAll(s, down, true);
    });
    const rig = await startRig(port);
    const client = await connectTo(rig.proxyPort);
    const clientGot = readSlowly(client);
    const tunnel = await firstTunnel(rig);
    const clientQueue = watchQueue(tunnel.client);
    const upstreamQueue = watchQueue(tunnel.upstream);
    await writeAll(client, up, true);
    expect(sha(await clientGot)).toBe(sha(down));
    expect(sha(await upstreamGot)).toBe(sha(up));
    expect(await tunnel.end).toBe('closed');
    expect(tunnel.reader.stats).toEqual({ bytesUp: SIZE, bytesDown: SIZE });
    expect(clientQueue()).toBeLessThanOrEqual(QUEUE_BOUND);
    expect(upstreamQueue()).toBeLessThanOrEqual(QUEUE_BOUND);
  });

  it('lets the upstream answer after the client half-closed (client FIN first)', async () => {
    const { port } = await startUpstream((s) => {
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(c));
      s.once('end', () => s.end(`reply to ${Buffer.concat(got).toString()}`));
    });
    const rig = await startRig(port);
    const client = await connectTo(rig.proxyPort);
    const reply = readSlowly(client);
    client.end('question');
    expect((await reply).toString()).toBe('reply to question');
    expect(await (await firstTunnel(rig)).end).toBe('closed');
  });

  it('lets the client keep sending after the upstream half-closed (upstream FIN first)', async () => {
    let upstreamGot: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    const { port } = await startUpstream((s) => {
      upstreamGot = readSlowly(s);
      s.end('greeting');
    });
    const rig = await startRig(port);
    const client = await connectTo(rig.proxyPort);
    expect((await readSlowly(client)).toString()).toBe('greeting');
    client.end('still talking');
    expect((await upstreamGot).toString()).toBe('still talking');
    expect(await (await firstTunnel(rig)).end).toBe('closed');
  });

  it('keeps 40 quiet tunnels with interleaved small messages apart', async () => {
    const { port } = await startUpstream((s) => {
      s.once('data', (id: Buffer) => {
        let i = 0;
        const tick = (): void => {
          if (i === 50) return void s.end();
          s.write(`${id.toString()}:${i++};`);
          setImmediate(tick);
        };
        tick();
      });
    });
    const rig = await startRig(port);
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, id) => {
        const c = await connectTo(rig.proxyPort);
        const got = readSlowly(c);
        c.write(`t${id}`);
        return { id, text: (await got).toString() };
      }),
    );
    for (const { id, text } of results) expect(text).toBe(Array.from({ length: 50 }, (_, i) => `t${id}:${i};`).join(''));
  });

  it('ends a tunnel where neither side moves with idle_timeout', async () => {
    const { port } = await startUpstream(() => undefined);
    const rig = await startRig(port, 200);
    const client = await connectTo(rig.proxyPort);
    const eof = readSlowly(client);
    expect(await (await firstTunnel(rig)).end).toBe('idle_timeout');
    expect((await eof).length).toBe(0);
  });
});
