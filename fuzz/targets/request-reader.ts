// Fuzz target: the request reader on a socket. Whatever the bytes, however they are split into
// chunks, with or without a PROXY header and a FIN, it settles once, as the pure parsers say it
// should, keeps exactly the bytes after the head, and leaves no listener behind.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { parseProxyHeader } from '../../src/proxy/proxy-protocol.js';
import { headStartProblem, parseRequestHead } from '../../src/proxy/request-head.js';
import { looksLikeProxyHeader, RequestReader, type HeadOutcome } from '../../src/proxy/request-reader.js';
import { must, type FuzzTarget } from '../lib.js';
import { generatedHead } from './connect-request.js';
import { anyHeader } from './proxy-protocol.js';

const MAX_BYTES = 1024;
// Large enough that the reader never pauses: the fake socket keeps no backlog to resume from.
const MAX_TAIL = 1 << 20;

/** Just enough of a net.Socket for the reader: events, pause and resume. */
class FakeSocket extends EventEmitter {
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
}

interface Case {
  bytes: Buffer;
  /** Chunk sizes, used in turn. */
  sizes: number[];
  /** The peer is trusted to send a PROXY header (the reader gets the parser). */
  trusted: boolean;
  /** The client half-closes after its bytes. */
  fin: boolean;
}

/** What the pure parsers say about the whole input; the reader must agree. */
function expected(c: Case): { kind: HeadOutcome['kind']; client?: string | null; tail?: Buffer } {
  let start = 0;
  let client: string | null | undefined;
  if (c.trusted) {
    const p = parseProxyHeader(c.bytes);
    if (p.kind === 'invalid') return { kind: 'invalid' };
    if (p.kind === 'incomplete') return { kind: 'closed' };
    start = p.consumed;
    client = p.client;
  }
  const h = parseRequestHead(c.bytes.subarray(start), MAX_BYTES);
  if (h.kind === 'invalid') return { kind: 'invalid' };
  if (h.kind === 'incomplete') {
    // Bytes that cannot start a request are refused at once, unless they are an untrusted PROXY header.
    const rest = c.bytes.subarray(start);
    const exempt = !c.trusted && looksLikeProxyHeader(rest);
    return { kind: headStartProblem(rest) !== null && !exempt ? 'invalid' : 'closed' };
  }
  return { kind: 'request', client, tail: c.bytes.subarray(start + h.head.length) };
}

async function invariants(c: Case): Promise<void> {
  const socket = new FakeSocket();
  const reader = new RequestReader(
    socket as unknown as Socket,
    MAX_BYTES,
    MAX_TAIL,
    c.trusted ? parseProxyHeader : null,
  );
  let settled = 0;
  const outcome = reader.read(600_000).then((o) => {
    settled++;
    return o;
  });
  for (let at = 0, i = 0; at < c.bytes.length; i++) {
    const size = Math.max(1, c.sizes[i % c.sizes.length]!);
    socket.emit('data', c.bytes.subarray(at, at + size));
    at += size;
  }
  if (c.fin) socket.emit('end');
  socket.emit('close');
  const got = await outcome;
  const want = expected(c);
  must(settled === 1, `settled ${settled} times`);
  must(got.kind === want.kind, `reader said ${JSON.stringify(got)}, the parsers ${JSON.stringify(want)}`);
  if (got.kind === 'request') {
    must(reader.proxied?.client === want.client || (!c.trusted && reader.proxied === null), 'another client');
    const tail = reader.take();
    must(tail.equals(want.tail!), `kept ${tail.length} bytes after the head, not ${want.tail!.length}`);
  }
  for (const event of ['data', 'end', 'close'])
    must(socket.listenerCount(event) === 0, `a '${event}' listener left on the socket`);
}

const tail = fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b));
const noise = fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b));
const bytes = fc.oneof(
  fc
    .tuple(fc.option(anyHeader, { nil: null }), generatedHead, tail)
    .map(([p, h, t]) => Buffer.concat([p?.bytes ?? Buffer.alloc(0), h.bytes, t])),
  fc.tuple(fc.option(anyHeader, { nil: null }), noise).map(([p, n]) => Buffer.concat([p?.bytes ?? Buffer.alloc(0), n])),
  // Cut short: the connection ends mid-header or mid-head.
  fc.tuple(fc.option(anyHeader, { nil: null }), generatedHead, fc.nat()).map(([p, h, at]) => {
    const all = Buffer.concat([p?.bytes ?? Buffer.alloc(0), h.bytes]);
    return all.subarray(0, at % all.length);
  }),
);

export const requestReaderTarget: FuzzTarget<Case> = {
  name: 'request-reader',
  ext: 'bin',
  async: true,
  // Byte 0: bit 0 trusted, bit 1 FIN; byte 1: chunk size; then the bytes.
  encode: (c) => Buffer.concat([Buffer.from([(c.trusted ? 1 : 0) | (c.fin ? 2 : 0), c.sizes[0]! & 0xff]), c.bytes]),
  decode: (b) => ({ trusted: (b[0]! & 1) === 1, fin: (b[0]! & 2) === 2, sizes: [b[1] || 1], bytes: b.subarray(2) }),
  invariants,
  properties: [
    {
      name: 'settles once as the parsers say, any chunking, PROXY header or not',
      cases: fc.record({
        bytes,
        sizes: fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 5 }),
        trusted: fc.boolean(),
        fin: fc.boolean(),
      }),
    },
  ],
};
