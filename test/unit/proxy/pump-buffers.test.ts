// The read-buffer discipline of DownstreamReader, with libuv played by hand: one shared buffer for
// quiet tunnels, an own buffer (and a spare) while bulk data flows, never one a pending write holds.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DownstreamReader, READ_BUFFER_BYTES, SHARED_READ_BYTES } from '../../../src/proxy/pump.js';

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
    if (!Buffer.from(q.chunk).equals(q.expected))
      this.bad.push(`write #${this.checked} of ${q.chunk.length} bytes was overwritten`);
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
      steps: [
        full('a', SHARED_READ_BYTES, false),
        full('a', READ_BUFFER_BYTES, true),
        full('a', READ_BUFFER_BYTES, true),
        full('a', 30_000, false),
      ],
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
