// Who the client is: the PROXY protocol header of a trusted balancer (v1 and v2, built by hand here)
// names the client every check and record uses; proxy users authenticate with Basic credentials
// (curl --proxy-user), are in every record, and are re-read on reload. Passwords appear nowhere.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-hash.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { connectThrough, httpsGet, tlsOver, type RawAnswer } from '../helpers/raw.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const run = promisify(execFile);
let acr: Upstream;
let tagsFile: string;
const started: TestGateway[] = [];

beforeAll(async () => {
  acr = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io'] });
  tagsFile = writeTagsFile();
});

afterAll(async () => {
  for (const g of started) await g.stop();
  await acr?.close();
});

async function gatewayWith(proxy: Record<string, unknown>): Promise<TestGateway> {
  const g = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [acr.port], ...proxy },
      serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
    }),
  );
  started.push(g);
  return g;
}

const target = (): string => `myregistry.azurecr.io:${acr.port}`;

/** Sends `bytes` from `localAddress` and parses the answer head (rawConnect with a source address). */
function rawFrom(localAddress: string, port: number, bytes: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port, localAddress });
    let buf = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(bytes));
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const head = buf.subarray(0, end).toString('latin1');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number((statusLine ?? '').split(' ')[1]), headers, head, socket });
    };
    socket.on('data', onData);
  });
}

function connectRequest(): Buffer {
  return Buffer.from(`CONNECT ${target()} HTTP/1.1\r\nHost: ${target()}\r\n\r\n`);
}

function proxyV1(client: string, clientPort = 40000): Buffer {
  return Buffer.from(`PROXY TCP4 ${client} 127.0.0.1 ${clientPort} 3128\r\n`, 'latin1');
}

/** A v2 header: signature, version 2 + command (1 PROXY, 0 LOCAL), family, length, addresses. */
function proxyV2(client: string | null): Buffer {
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  if (client === null) return Buffer.concat([signature, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const body = Buffer.alloc(12);
  client.split('.').forEach((o, i) => body.writeUInt8(Number(o), i));
  [127, 0, 0, 1].forEach((o, i) => body.writeUInt8(o, 4 + i));
  body.writeUInt16BE(40000, 8);
  body.writeUInt16BE(3128, 10);
  return Buffer.concat([signature, Buffer.from([0x21, 0x11, 0x00, 12]), body]);
}

describe('PROXY protocol (proxy.proxyProtocol.trusted: 127.0.0.1)', () => {
  let g: TestGateway;
  beforeAll(async () => {
    // Only the clients the balancer names are allowed: the peer itself (127.0.0.1) is not.
    g = await gatewayWith({ proxyProtocol: { trusted: ['127.0.0.1/32'] }, clients: ['203.0.113.0/24'] });
  });

  it('takes the client from a v1 header of a trusted peer, for the checks and the record', async () => {
    const a = await rawFrom('127.0.0.1', g.port, Buffer.concat([proxyV1('203.0.113.7'), connectRequest()]));
    expect(a.status).toBe(200);
    const tls = await tlsOver(a.socket, 'myregistry.azurecr.io', acr.ca);
    expect(await httpsGet(tls, 'myregistry.azurecr.io')).toContain('ok myregistry.azurecr.io');
    const rec = await g.waitForRecord((r) => r.client === '203.0.113.7' && r.bytesDown !== null);
    expect(rec.decision).toBe('allowed');
  });

  it('takes the client from a v2 header, sent byte by byte with the request', async () => {
    const bytes = Buffer.concat([proxyV2('203.0.113.8'), connectRequest()]);
    const s = connect({ host: '127.0.0.1', port: g.port, localAddress: '127.0.0.1' });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    const answer = new Promise<string>((resolve) => s.once('data', (c: Buffer) => resolve(c.toString('latin1'))));
    for (const b of bytes) {
      s.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
    s.destroy();
    await g.waitForRecord((r) => r.client === '203.0.113.8');
  });

  it('checks the peer itself for a v2 LOCAL header (the balancer speaking for itself)', async () => {
    const a = await rawFrom('127.0.0.1', g.port, Buffer.concat([proxyV2(null), connectRequest()]));
    a.socket.destroy();
    expect(a.headers['x-acr-egress-reason']).toBe('client_not_allowed');
  });

  it('refuses a trusted peer that sends no header, with 400 bad_request', async () => {
    const a = await rawFrom('127.0.0.1', g.port, connectRequest());
    a.socket.destroy();
    expect(a.status).toBe(400);
    expect(a.headers['x-acr-egress-reason']).toBe('bad_request');
    await g.waitForRecord((r) => /PROXY protocol/.test(r.detail ?? '') && r.client === '127.0.0.1');
  });

  it('refuses a malformed header from a trusted peer', async () => {
    const a = await rawFrom(
      '127.0.0.1',
      g.port,
      Buffer.concat([Buffer.from('PROXY TCP4 nonsense\r\n'), connectRequest()]),
    );
    a.socket.destroy();
    expect(a.status).toBe(400);
  });

  it.each([
    { version: 'v1', header: () => proxyV1('203.0.113.7') },
    { version: 'v2', header: () => proxyV2('203.0.113.7') },
  ])('refuses a $version header from an untrusted peer and records the peer', async ({ header }) => {
    const a = await rawFrom('127.0.0.5', g.port, Buffer.concat([header(), connectRequest()]));
    a.socket.destroy();
    expect(a.status).toBe(400);
    const rec = await g.waitForRecord(
      (r) => r.client === '127.0.0.5' && /not in proxy\.proxyProtocol\.trusted/.test(r.detail ?? ''),
    );
    expect(rec).toMatchObject({ decision: 'blocked', reason: 'bad_request' });
  });
});

describe('proxy authentication (proxy.auth.usersFile)', () => {
  const password = 'correct-horse-battery';
  let g: TestGateway;
  let usersFile: string;
  let caFile: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-users-'));
    usersFile = join(dir, 'users');
    writeFileSync(usersFile, `agent:${await hashPassword(password)}\n`);
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, acr.ca);
    g = await gatewayWith({ auth: { usersFile } });
  });

  async function curl(extra: string[]): Promise<{ stdout: string; connectCode: string }> {
    const args = ['-sS', '--max-time', '10', '--proxy', g.proxyUrl, '--cacert', caFile, ...extra];
    const url = `https://myregistry.azurecr.io:${acr.port}/v2/`;
    try {
      const { stdout } = await run('curl', [...args, '-w', '\n%{http_connect}', url]);
      const [body, code] = [stdout.slice(0, stdout.lastIndexOf('\n')), stdout.slice(stdout.lastIndexOf('\n') + 1)];
      return { stdout: body, connectCode: code };
    } catch (err) {
      const out = (err as { stdout?: string }).stdout ?? '';
      return { stdout: '', connectCode: out.slice(out.lastIndexOf('\n') + 1) };
    }
  }

  it('answers 407 with Proxy-Authenticate and proxy_auth_required without credentials (curl)', async () => {
    expect((await curl([])).connectCode).toBe('407');
    const a = await connectThrough(g.port, target());
    expect(a.status).toBe(407);
    expect(a.headers['proxy-authenticate']).toBe('Basic realm="acr-egress"');
    expect(a.headers['x-acr-egress-reason']).toBe('proxy_auth_required');
    await g.waitForRecord((r) => r.reason === 'proxy_auth_required' && r.detail === 'no Proxy-Authorization header');
  });

  it('answers 407 to a wrong password', async () => {
    expect((await curl(['--proxy-user', 'agent:wrong'])).connectCode).toBe('407');
    await g.waitForRecord((r) => r.reason === 'proxy_auth_required' && /wrong password/.test(r.detail ?? ''));
  });

  it('opens the tunnel for curl --proxy-user and records the user', async () => {
    const got = await curl(['--proxy-user', `agent:${password}`]);
    expect(got.connectCode).toBe('200');
    expect(got.stdout).toBe('ok myregistry.azurecr.io\n');
    const rec = await g.waitForRecord((r) => r.user === 'agent' && r.bytesDown !== null);
    expect(rec).toMatchObject({ decision: 'allowed', rule: 'registry:myregistry:login' });
  });

  it('re-reads the users file on reload: a new user works, a removed one gets 407', async () => {
    writeFileSync(usersFile, `builder:${await hashPassword('another-secret')}\n`);
    expect(await g.gateway.reload()).toMatchObject({ ok: true });
    expect((await curl(['--proxy-user', 'builder:another-secret'])).connectCode).toBe('200');
    expect((await curl(['--proxy-user', `agent:${password}`])).connectCode).toBe('407');
    await g.waitForRecord((r) => r.user === 'builder');
  });

  it('keeps the running users when the file turns invalid on reload', async () => {
    writeFileSync(usersFile, 'not a users line\n');
    expect(await g.gateway.reload()).toMatchObject({ ok: false });
    expect((await curl(['--proxy-user', 'builder:another-secret'])).connectCode).toBe('200');
  });

  it('never writes a password, or its base64, to the audit log', async () => {
    await g.gateway.recorder.flush();
    const log = readFileSync(g.logFile, 'utf8');
    for (const secret of [password, 'another-secret', 'wrong']) {
      expect(log).not.toContain(secret === 'wrong' ? 'agent:wrong' : secret);
      expect(log).not.toContain(Buffer.from(`agent:${secret}`).toString('base64'));
    }
  });
});

describe('bad identity config', () => {
  it('refuses to start with a trusted entry that is not a CIDR, naming its path', async () => {
    await expect(gatewayWith({ proxyProtocol: { trusted: ['10.0.0.0/33'] } })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      details: [expect.stringMatching(/^proxy\.proxyProtocol\.trusted: /)],
    });
  });

  it('refuses to start when the users file cannot be read', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'acr-egress-users-')), 'nope');
    await expect(gatewayWith({ auth: { usersFile: missing } })).rejects.toMatchObject({ code: 'CONFIG_UNREADABLE' });
  });
});
