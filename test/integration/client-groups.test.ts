// Client groups on real sockets: two clients on 127.0.0.2 and 127.0.0.3 (the client socket bound to
// that address) in different groups reach only their own registry; a third in no group reaches none.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsGet, tlsOver } from '../helpers/raw.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let acr: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  acr = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io', 'otherregistry.azurecr.io'] });
  gw = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [acr.port], drainTimeoutMs: 500 },
      registries: [{ name: 'myregistry' }, { name: 'otherregistry' }],
      serviceTags: { enforce: true, source: writeTagsFile(), cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        overrides: { 'myregistry.azurecr.io': ['127.0.0.2'], 'otherregistry.azurecr.io': ['127.0.0.2'] },
      },
      clientGroups: [
        { name: 'site-a', cidrs: ['127.0.0.2/32'], registries: ['myregistry'] },
        { name: 'site-b', cidrs: ['127.0.0.3/32'], registries: ['otherregistry'] },
      ],
    }),
  );
});

afterAll(async () => {
  await gw?.stop();
  await acr?.close();
});

interface Answer {
  status: number;
  reason: string | undefined;
  /** The refusal body (read to the close), or empty for a 200. */
  body: string;
  socket: Socket;
}

/** CONNECT from a given loopback source address: a 200 with its open socket, or a refusal read to its end. */
function connectFrom(localAddress: string, authority: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: gw.port, localAddress });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${JSON.stringify(buf.toString('latin1'))}`));
    }, 10_000);
    const answer = (): Answer | null => {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return null;
      const head = buf.subarray(0, end).toString('latin1');
      const reason = /\r\nX-Acr-Egress-Reason: ([a-z_]+)/i.exec(head)?.[1];
      return { status: Number(head.split(' ')[1]), reason, body: buf.subarray(end + 4).toString(), socket };
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const a = answer();
      if (a === null || a.status !== 200) return; // a refusal is read to its close
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(a);
    };
    socket.on('data', onData);
    socket.on('close', () => {
      clearTimeout(timer);
      const a = answer();
      if (a === null) reject(new Error('closed without an answer'));
      else resolve(a);
    });
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
  });
}

describe('client groups on real sockets', () => {
  it.each([
    ['127.0.0.2', 'myregistry.azurecr.io'],
    ['127.0.0.3', 'otherregistry.azurecr.io'],
  ])('lets %s reach its own registry %s', async (from, host) => {
    const a = await connectFrom(from, `${host}:${acr.port}`);
    expect(a.status).toBe(200);
    const tls = await tlsOver(a.socket, host, acr.ca);
    expect(await httpsGet(tls, host, '/v2/')).toContain(`ok ${host}`);
    await gw.waitForRecord((r) => r.client === from && r.host === host && r.decision === 'allowed');
  });

  it.each([
    ['127.0.0.2', 'otherregistry.azurecr.io', 'group site-a may not use registry:otherregistry:login'],
    ['127.0.0.3', 'myregistry.azurecr.io', 'group site-b may not use registry:myregistry:login'],
    ['127.0.0.4', 'myregistry.azurecr.io', 'client 127.0.0.4 matches no client group'],
  ])('refuses %s to %s: %s', async (from, host, detail) => {
    const a = await connectFrom(from, `${host}:${acr.port}`);
    expect(a.status).toBe(403);
    expect(a.reason).toBe('client_not_allowed');
    expect(a.body).toContain(detail);
    const rec = await gw.waitForRecord((r) => r.client === from && r.host === host);
    expect(rec).toMatchObject({ decision: 'blocked', reason: 'client_not_allowed', detail });
  });
});
