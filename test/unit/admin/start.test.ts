// startAdmin: off when listen is null, refuses a non-loopback listener without a token, and answers
// over a real loopback socket.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isLoopbackHost, startAdmin, type RunningAdmin } from '../../../src/admin/start.js';
import { isAcrEgressError } from '../../../src/errors.js';
import { DEFAULT_TOKEN, fakeDeps, testLoaded } from './fake-deps.js';

let running: RunningAdmin | null = null;
afterEach(async () => {
  await running?.app.close();
  running = null;
});

const noTokens = testLoaded({ token: null, tokens: [] });

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.5', false],
    ['admin.example.com', false],
  ])('%s is loopback: %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('startAdmin', () => {
  it('does nothing when admin.listen is null', async () => {
    expect(await startAdmin(fakeDeps().deps, null)).toBeNull();
  });

  it.each(['0.0.0.0:9128', '[::]:9128', '10.0.0.5:9128', 'admin.example.com:9128'])(
    'refuses %s without a token, before binding',
    async (listen) => {
      const err = await startAdmin(fakeDeps({ loaded: noTokens }).deps, listen).catch((e: unknown) => e);
      expect(isAcrEgressError(err, 'ADMIN_UNSAFE_BIND')).toBe(true);
      expect((err as Error).message).toMatch(
        /not a loopback address, and no admin token is configured: set admin\.token/,
      );
    },
  );

  it('answers anonymously on loopback without a token', async () => {
    running = await startAdmin(fakeDeps({ loaded: noTokens }).deps, '127.0.0.1:0');
    expect(running?.address.address).toBe('127.0.0.1');
    const res = await fetch(`http://127.0.0.1:${running?.address.port}/api/v1/logs`);
    expect(res.status).toBe(200);
  });

  it('needs the token on loopback when one is configured', async () => {
    running = await startAdmin(fakeDeps().deps, '127.0.0.1:0');
    const base = `http://127.0.0.1:${running?.address.port}`;
    expect((await fetch(`${base}/api/v1/logs`)).status).toBe(401);
    expect((await fetch(`${base}/api/v1/logs`, { headers: { authorization: `Bearer ${DEFAULT_TOKEN}` } })).status).toBe(
      200,
    );
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('fails with LISTEN_FAILED when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const err = await startAdmin(fakeDeps().deps, `127.0.0.1:${port}`).catch((e: unknown) => e);
    await new Promise((r) => blocker.close(r));
    expect(isAcrEgressError(err, 'LISTEN_FAILED')).toBe(true);
    expect((err as Error).message).toContain('EADDRINUSE');
  });

  it('fails with LISTEN_FAILED for a listen value that is not host:port', async () => {
    const err = await startAdmin(fakeDeps().deps, 'nonsense').catch((e: unknown) => e);
    expect(isAcrEgressError(err, 'LISTEN_FAILED')).toBe(true);
  });
});
