// Captures the ClientHello real TLS clients send (Node's tls, openssl s_client) to a listener that
// never answers, and builds synthetic hellos for the shapes real clients never send.

import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { parseClientHello } from '../../src/proxy/client-hello.js';

const CAPTURE_TIMEOUT_MS = 5000;

/**
 * Listens on 127.0.0.1, lets `startClient` connect, and returns the bytes received once they hold
 * a complete ClientHello (or anything the parser answers definitely), the client closes, or the
 * timeout passes with some bytes. `startClient` returns a function that stops the client.
 */
async function captureFirstFlight(
  startClient: (port: number) => () => void,
  timeoutMs = CAPTURE_TIMEOUT_MS,
): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  let stopClient = (): void => {};
  try {
    const received = new Promise<Buffer>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const finish = (): void => {
        clearTimeout(timer);
        if (buf.length > 0) resolve(buf);
        else reject(new Error('the client sent nothing'));
      };
      const timer = setTimeout(finish, timeoutMs);
      server.once('connection', (socket) => {
        socket.on('error', () => {});
        socket.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          if (parseClientHello(buf).status !== 'incomplete') {
            socket.destroy();
            finish();
          }
        });
        socket.on('close', finish);
      });
    });
    stopClient = startClient(port);
    return await received;
  } finally {
    stopClient();
    server.close();
  }
}

export function captureNodeTlsHello(options: Omit<tls.ConnectionOptions, 'host' | 'port'>): Promise<Buffer> {
  return captureFirstFlight((port) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    // The capture listener hangs up mid-handshake on purpose.
    socket.on('error', () => {});
    return () => socket.destroy();
  });
}

/** Runs `openssl s_client -connect 127.0.0.1:PORT ...args` with stdin closed. */
export function captureOpensslHello(args: readonly string[]): Promise<Buffer> {
  return captureFirstFlight((port) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { stdio: 'ignore' });
    child.on('error', () => {});
    return () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    };
  });
}

export function hasOpenssl(): boolean {
  const result = spawnSync('openssl', ['version'], { stdio: 'ignore' });
  return result.error === undefined && result.status === 0;
}

// ---- synthetic hellos -------------------------------------------------------------------------

const CONTENT_TYPE_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 1;

interface Extension {
  type: number;
  data: Uint8Array;
}

export interface ClientHelloSpec {
  /** Host name for the server_name extension; null leaves the extension out. */
  sni?: string | null;
  /** ALPN protocols; empty or absent leaves the extension out. */
  alpn?: readonly string[];
  /** Appended after the built-in extensions, in order (so a type 0 here duplicates the SNI). */
  extraExtensions?: readonly Extension[];
  /**
   * Fields written verbatim, length prefix included, to build broken hellos. `extensions` replaces
   * the whole extensions block; an empty buffer gives an SSLv3-style hello with no block.
   */
  raw?: { sessionId?: Uint8Array; cipherSuites?: Uint8Array; compression?: Uint8Array; extensions?: Uint8Array };
}

function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** Data prefixed with its 1-byte length. */
export function vec8(data: Uint8Array): Buffer {
  return Buffer.concat([u8(data.length), data]);
}

/** Data prefixed with its 2-byte length. */
export function vec16(data: Uint8Array): Buffer {
  return Buffer.concat([u16(data.length), data]);
}

function encodeExtension({ type, data }: Extension): Buffer {
  return Buffer.concat([u16(type), vec16(data)]);
}

/** server_name extension data with one host_name entry per name (strings are written as UTF-8). */
export function serverNameData(names: ReadonlyArray<string | Uint8Array>): Buffer {
  const entries = names.map((name) => Buffer.concat([u8(0), vec16(Buffer.from(name))]));
  return vec16(Buffer.concat(entries));
}

export function alpnData(protocols: readonly string[]): Buffer {
  return vec16(Buffer.concat(protocols.map((p) => vec8(Buffer.from(p)))));
}

// What a TLS 1.3 client sends besides SNI and ALPN; the parser skips them, the realism is for free.
const COMMON_EXTENSIONS: readonly Extension[] = [
  { type: 0x000a, data: vec16(u16(0x001d)) }, // supported_groups: x25519
  { type: 0x000d, data: vec16(Buffer.concat([u16(0x0804), u16(0x0403)])) }, // signature_algorithms
  { type: 0x002b, data: vec8(Buffer.concat([u16(0x0304), u16(0x0303)])) }, // supported_versions
  { type: 0x0033, data: vec16(Buffer.concat([u16(0x001d), vec16(Buffer.alloc(32, 0x33))])) }, // key_share
];

export function clientHelloBody(spec: ClientHelloSpec = {}): Buffer {
  const sni = spec.sni === undefined ? 'myregistry.azurecr.io' : spec.sni;
  const extensions: Extension[] = [];
  if (sni !== null) extensions.push({ type: 0x0000, data: serverNameData([sni]) });
  if (spec.alpn !== undefined && spec.alpn.length > 0) extensions.push({ type: 0x0010, data: alpnData(spec.alpn) });
  extensions.push(...COMMON_EXTENSIONS, ...(spec.extraExtensions ?? []));
  const raw = spec.raw ?? {};
  return Buffer.concat([
    u16(0x0303), // legacy_version
    Buffer.alloc(32, 0x11), // random
    raw.sessionId ?? vec8(Buffer.alloc(32, 0x22)),
    raw.cipherSuites ?? vec16(Buffer.concat([0x1301, 0x1302, 0x1303, 0xc02f].map(u16))),
    raw.compression ?? vec8(Buffer.from([0])),
    raw.extensions ?? vec16(Buffer.concat(extensions.map(encodeExtension))),
  ]);
}

export function handshakeMessage(type: number, body: Uint8Array): Buffer {
  return Buffer.concat([u8(type), u24(body.length), body]);
}

/**
 * Frames a handshake payload into TLS records whose payload sizes cycle through `sizes`
 * (e.g. [1, 7, 100] gives records of 1, 7, 100, 1, 7, ... bytes).
 */
export function frameRecords(payload: Uint8Array, sizes: readonly number[] = [16384]): Buffer {
  const parts: Buffer[] = [];
  for (let off = 0, i = 0; off < payload.length; i++) {
    const size = Math.min(sizes[i % sizes.length]!, payload.length - off);
    parts.push(
      Buffer.from([CONTENT_TYPE_HANDSHAKE, 0x03, 0x01]),
      u16(size),
      Buffer.from(payload.subarray(off, off + size)),
    );
    off += size;
  }
  return Buffer.concat(parts);
}

/** The handshake bytes carried by a run of well-formed records (the inverse of frameRecords). */
function handshakePayload(records: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let off = 0; off + 5 <= records.length;) {
    const length = records.readUInt16BE(off + 3);
    parts.push(records.subarray(off + 5, off + 5 + length));
    off += 5 + length;
  }
  return Buffer.concat(parts);
}

/** The same hello split into records of the given sizes. */
export function reframe(hello: Buffer, sizes: readonly number[]): Buffer {
  return frameRecords(handshakePayload(hello), sizes);
}

/** Record offsets of a framed hello, to patch the header of the n-th record. */
export function recordOffsets(records: Buffer): number[] {
  const offsets: number[] = [];
  for (let off = 0; off + 5 <= records.length; off += 5 + records.readUInt16BE(off + 3)) offsets.push(off);
  return offsets;
}

export function buildClientHello(spec: ClientHelloSpec = {}): Buffer {
  return frameRecords(handshakeMessage(HANDSHAKE_CLIENT_HELLO, clientHelloBody(spec)));
}
