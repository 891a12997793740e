// The tunnel data path over real loopback sockets: large transfers both ways under backpressure,
// half-close both ways, many quiet tunnels at once, idle timeout. (The buffer discipline itself is
// driven by hand in pump-buffers.test.ts.)
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dial } from '../../../src/proxy/dial.js';
import { DownstreamReader, pump, READ_BUFFER_BYTES, type PumpEnd } from '../../../src/proxy/pump.js';

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
      tunnels.push({
        client,
        upstream: d.socket,
        reader,
        end: pump(client, d.socket, reader, Buffer.alloc(0), idleTimeoutMs),
      });
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
  open.push({
    proxyPort: 0,
    tunnels: [],
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  });
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

function firstTunnel(rig: Rig): Promise<Rig['tunnels'][number]> {
  return vi.waitFor(
    () => {
      const t = rig.tunnels[0];
      if (t === undefined) throw new Error('no tunnel yet');
      return t;
    },
    { timeout: 10_000, interval: 5 },
  );
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
    for (const { id, text } of results)
      expect(text).toBe(Array.from({ length: 50 }, (_, i) => `t${id}:${i};`).join(''));
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
