// The one finish() of a client connection: what it holds is given back once, the socket always
// closes (at once, or after its refusal has been answered), and the record is written once.
import { connect, createServer, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RecordInput } from '../../../src/audit/recorder.js';
import { allow, refuse } from '../../../src/policy/decide.js';
import { ClientConnection } from '../../../src/proxy/client-connection.js';
import type { ProxyDeps } from '../../../src/proxy/context.js';

let server: Server;
let port: number;
const accepted: Socket[] = [];
const waiting: ((s: Socket) => void)[] = [];

beforeAll(async () => {
  server = createServer({ allowHalfOpen: true }, (s) => {
    const w = waiting.shift();
    if (w) w(s);
    else accepted.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

afterAll(() => server.close());

async function pair(): Promise<{ client: Socket; socket: Socket }> {
  const socketP = new Promise<Socket>((resolve) => waiting.push(resolve));
  const client = connect({ host: '127.0.0.1', port });
  client.on('error', () => undefined);
  return { client, socket: await socketP };
}

function fakeDeps(records: RecordInput[]): ProxyDeps {
  return {
    recorder: { record: (r: RecordInput) => records.push(r) },
    log: pino({ level: 'silent' }),
  } as unknown as ProxyDeps;
}

const closed = (s: Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));

describe('ClientConnection', () => {
  it('gives back what it holds once and destroys the socket, however often finish() runs', async () => {
    const { client, socket } = await pair();
    const conn = new ClientConnection(fakeDeps([]), socket, 'connect', 'request');
    const release = vi.fn();
    conn.hold(release);
    conn.finish();
    conn.finish();
    expect(release).toHaveBeenCalledTimes(1);
    expect(socket.destroyed).toBe(true);
    await closed(client);
  });

  it('destroys an upstream it still holds', async () => {
    const { client, socket } = await pair();
    const up = await pair();
    const conn = new ClientConnection(fakeDeps([]), socket, 'connect', 'deciding');
    conn.upstream = up.client;
    conn.finish();
    expect(up.client.destroyed).toBe(true);
    up.socket.destroy();
    await closed(client);
  });

  it('answers a refusal before the 200, records it once, and lets the client read the answer', async () => {
    const { client, socket } = await pair();
    const records: RecordInput[] = [];
    const conn = new ClientConnection(fakeDeps(records), socket, 'connect', 'deciding');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      client.on('data', (c: Buffer) => (text += c.toString('latin1')));
      client.on('end', () => resolve(text));
    });
    conn.refuse(refuse('port_not_allowed', 'port 22 is not in proxy.ports'));
    conn.record(allow(null));
    conn.finish();
    expect(await answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\nX-Acr-Egress-Reason: port_not_allowed/);
    expect(records).toHaveLength(1);
    expect(records[0]?.decision.reason).toBe('port_not_allowed');
    client.end();
    await closed(socket);
  });

  it('closes without an answer once the 200 is out', async () => {
    const { client, socket } = await pair();
    const records: RecordInput[] = [];
    const conn = new ClientConnection(fakeDeps(records), socket, 'connect', 'client_hello');
    conn.refuse(refuse('not_tls', 'plain HTTP in the tunnel'));
    conn.finish();
    expect(socket.destroyed).toBe(true);
    expect(records[0]).toMatchObject({ bytesUp: 0, bytesDown: 0 });
    await closed(client);
  });

  it('leaves a handed-over socket to its new owner', async () => {
    const { client, socket } = await pair();
    const conn = new ClientConnection(fakeDeps([]), socket, 'connect', 'request');
    conn.handOver();
    conn.finish();
    expect(socket.destroyed).toBe(false);
    socket.destroy();
    await closed(client);
  });
});
