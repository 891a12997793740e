// Proxy authentication under attack and with the password files operators already have: a flood of
// wrong passwords from one address is that address's problem (a valid user elsewhere still logs in),
// and a file made by `htpasswd -B` (apache2-utils) works with curl --proxy-user through a gateway.
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-hash.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const run = promisify(execFile);
let acr: Upstream;
let tagsFile: string;
let dir: string;
let caFile: string;
const started: TestGateway[] = [];

beforeAll(async () => {
  acr = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io'] });
  tagsFile = writeTagsFile();
  dir = mkdtempSync(join(tmpdir(), 'acr-egress-proxy-auth-'));
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, acr.ca);
});

afterAll(async () => {
  for (const g of started) await g.stop();
  await acr?.close();
});

async function gatewayWith(usersFile: string): Promise<TestGateway> {
  const g = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [acr.port], auth: { usersFile } },
      serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
    }),
  );
  started.push(g);
  return g;
}

const target = (): string => `myregistry.azurecr.io:${acr.port}`;

/** curl through the gateway as a real client; the CONNECT status and the body. */
async function curl(g: TestGateway, user: string): Promise<{ connectCode: string; body: string }> {
  const args = ['-sS', '--max-time', '60', '--proxy', g.proxyUrl, '--proxy-user', user, '--cacert', caFile];
  const url = `https://myregistry.azurecr.io:${acr.port}/v2/`;
  try {
    const { stdout } = await run('curl', [...args, '-w', '\n%{http_connect}', url]);
    const cut = stdout.lastIndexOf('\n');
    return { connectCode: stdout.slice(cut + 1), body: stdout.slice(0, cut) };
  } catch (err) {
    const out = (err as { stdout?: string }).stdout ?? '';
    return { connectCode: out.slice(out.lastIndexOf('\n') + 1), body: '' };
  }
}

/** One CONNECT with Basic credentials from `localAddress`; the answer's status code. */
function connectFrom(localAddress: string, port: number, user: string, password: string): Promise<number> {
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  const request = `CONNECT ${target()} HTTP/1.1\r\nHost: ${target()}\r\nProxy-Authorization: Basic ${basic}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    let head = '';
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: string) => {
      head += chunk;
      if (!head.includes('\r\n')) return;
      socket.destroy();
      resolve(Number(head.split(' ')[1]));
    });
  });
}

const FLOOD_DETAILS = [
  'unknown user or wrong password',
  'too many password checks waiting from this client',
  'too many failed logins from this client lately',
];

describe('a flood of wrong passwords from one address', () => {
  it('refuses the flood with 407s while a valid user from another address logs in (curl)', async () => {
    const usersFile = join(dir, 'users-flood');
    writeFileSync(usersFile, `agent:${await hashPassword('agent-password-1')}\n`);
    const g = await gatewayWith(usersFile);
    // 300 distinct wrong passwords from 127.0.0.2, all at once: none of them can be answered from a cache.
    const flood = Array.from({ length: 300 }, (_, i) => connectFrom('127.0.0.2', g.port, 'agent', `guess-${i}`));
    const valid = await curl(g, 'agent:agent-password-1');
    expect(valid).toEqual({ connectCode: '200', body: 'ok myregistry.azurecr.io\n' });
    const statuses = await Promise.all(flood);
    expect(statuses.filter((s) => s !== 407)).toEqual([]);
    await g.waitForRecord((r) => r.user === 'agent' && r.client === '127.0.0.1' && r.decision === 'allowed');
    // The flooder paid for its flood: much of it was refused without hashing, and the record says why.
    await expect.poll(() => g.records().filter((r) => r.client === '127.0.0.2').length).toBe(300);
    const details = g.records().flatMap((r) => (r.client === '127.0.0.2' ? [r.detail] : []));
    expect(new Set(details)).toSatisfy((seen: Set<string | null>) =>
      [...seen].every((d) => d !== null && FLOOD_DETAILS.includes(d)),
    );
    expect(details.filter((d) => d !== 'unknown user or wrong password').length).toBeGreaterThan(100);
    // The flooding address is now refused unhashed, even with the right password; the valid user is not.
    expect(await connectFrom('127.0.0.2', g.port, 'agent', 'another guess')).toBe(407);
    await g.waitForRecord((r) => r.detail === 'too many failed logins from this client lately');
    expect((await curl(g, 'agent:agent-password-1')).connectCode).toBe('200');
  });
});

describe('an htpasswd file made by htpasswd -B (apache2-utils)', () => {
  async function htpasswd(args: string[], password: string): Promise<void> {
    const child = spawn('htpasswd', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(`${password}\n`);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
  }

  it('lets curl --proxy-user through with a bcrypt user and a scrypt user of the same file', async () => {
    const usersFile = join(dir, 'htpasswd');
    await htpasswd(['-B', '-i', '-c', usersFile, 'builder'], 'builder-password');
    await htpasswd(['-B', '-C', '10', '-i', usersFile, 'puller'], 'puller-password');
    appendFileSync(usersFile, `agent:${await hashPassword('agent-password-1')}\n`);
    const g = await gatewayWith(usersFile);
    expect(await curl(g, 'builder:builder-password')).toEqual({
      connectCode: '200',
      body: 'ok myregistry.azurecr.io\n',
    });
    expect((await curl(g, 'puller:puller-password')).connectCode).toBe('200');
    expect((await curl(g, 'agent:agent-password-1')).connectCode).toBe('200');
    expect((await curl(g, 'builder:builder-passwor')).connectCode).toBe('407');
    expect((await curl(g, 'nobody:builder-password')).connectCode).toBe('407');
    await g.waitForRecord((r) => r.user === 'builder' && r.decision === 'allowed');
    await g.waitForRecord((r) => r.user === 'puller' && r.decision === 'allowed');

    // A weaker line (htpasswd -s writes {SHA}) makes a reload fail with its line; the users stay.
    await htpasswd(['-s', '-i', usersFile, 'legacy'], 'legacy-password');
    const reload = await g.gateway.reload();
    expect(reload).toMatchObject({ ok: false });
    expect(JSON.stringify(reload)).toContain(`${usersFile}:4: user legacy: {SHA} (unsalted SHA-1), too weak`);
    expect((await curl(g, 'builder:builder-password')).connectCode).toBe('200');
  });
});
