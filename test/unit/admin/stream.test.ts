// GET /api/v1/logs/stream: matching records as server-sent events once connected, heartbeats,
// Last-Event-ID replay, and a client that stops reading is dropped instead of buffered.
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdminApp } from '../../../src/admin/app-types.js';
import { createAdminApp } from '../../../src/admin/app.js';
import { auth, DEFAULT_TOKEN, fakeDeps, rec, type Fake } from './fake-deps.js';

let app: AdminApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Opens the stream through inject and collects what it sends. */
async function open(fake: Fake, query = '', headers: Record<string, string> = {}, heartbeatMs = 60_000) {
  app = createAdminApp(fake.deps, { heartbeatMs });
  const res = await app.inject({
    method: 'GET',
    url: `/api/v1/logs/stream${query}`,
    headers: { ...auth(), ...headers },
    payloadAsStream: true,
  });
  let text = '';
  const stream = res.stream();
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return {
    res,
    text: () => text,
    events: () =>
      text
        .split('\n\n')
        .filter((e) => e.includes('data: '))
        .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)) as { id: string; host: string }),
    until: (pred: (t: string) => boolean): Promise<void> =>
      expect.poll(() => pred(text), { timeout: 10_000, interval: 10 }).toBe(true),
  };
}

describe('GET /api/v1/logs/stream', () => {
  it('sends records written after it connected, as decision events with their id', async () => {
    const fake = fakeDeps();
    fake.store.add(rec({ host: 'before.example.com' }));
    const s = await open(fake);
    expect(s.res.statusCode).toBe(200);
    expect(s.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(s.res.headers['cache-control']).toBe('no-cache, no-transform');
    const r = rec({ host: 'after.example.com' });
    fake.store.add(r);
    await s.until((t) => t.includes('after.example.com'));
    expect(s.text()).toContain(`id: ${r.id}\nevent: decision\ndata: ${JSON.stringify(r)}\n\n`);
    expect(s.text()).not.toContain('before.example.com');
  });

  it.each([
    { query: '?decision=blocked', sent: ['evil.example.org'], last: 'm1.azurecr.io' },
    { query: '?host=*.azurecr.io', sent: ['myregistry.azurecr.io'], last: 'm2.azurecr.io' },
    { query: '?client=10.0.1.0/24&decision=allowed', sent: ['acct.blob.core.windows.net'], last: 'm2.azurecr.io' },
    { query: '?reason=host_not_allowed', sent: ['evil.example.org'], last: 'm1.azurecr.io' },
  ])('sends only what matches $query', async ({ query, sent, last }) => {
    const fake = fakeDeps();
    const s = await open(fake, query);
    fake.store.add(rec({ host: 'myregistry.azurecr.io', client: '10.0.0.5' }));
    fake.store.add(
      rec({ host: 'evil.example.org', decision: 'blocked', reason: 'host_not_allowed', client: '10.0.0.5' }),
    );
    fake.store.add(rec({ host: 'acct.blob.core.windows.net', client: '10.0.1.9' }));
    // Markers: once the last one that matches has arrived, everything before it has been through.
    fake.store.add(rec({ host: 'm1.azurecr.io', decision: 'blocked', reason: 'host_not_allowed', client: '10.0.1.5' }));
    fake.store.add(rec({ host: 'm2.azurecr.io', decision: 'allowed', client: '10.0.1.5' }));
    await s.until((t) => t.includes(last));
    expect(
      s
        .events()
        .map((e) => e.host)
        .filter((h) => !/^m[12]\./.test(h)),
    ).toEqual(sent);
  });

  it('sends heartbeat comments', async () => {
    const s = await open(fakeDeps(), '', {}, 20);
    await s.until((t) => (t.match(/: heartbeat/g) ?? []).length >= 2);
  });

  it('replays the matching records written since Last-Event-ID first', async () => {
    const fake = fakeDeps();
    const a = rec({ host: 'a.example.com' });
    const b = rec({ host: 'b.example.com' });
    const c = rec({ host: 'c.example.com', decision: 'blocked', reason: 'host_not_allowed' });
    for (const r of [a, b, c]) fake.store.add(r);
    const s = await open(fake, '?decision=allowed', { 'last-event-id': a.id });
    await s.until((t) => t.includes('b.example.com'));
    expect(s.events().map((e) => e.host)).toEqual(['b.example.com']);
  });

  it('answers 400 naming the parameter before any stream starts', async () => {
    app = createAdminApp(fakeDeps().deps);
    const res = await app.inject({ method: 'GET', url: '/api/v1/logs/stream?decision=maybe', headers: auth() });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/^decision:/);
  });

  it('ends open streams when the app closes', async () => {
    const fake = fakeDeps();
    const s = await open(fake);
    const ended = new Promise<void>((resolve) => s.res.stream().on('end', () => resolve()));
    await s.until((t) => t.includes(': connected'));
    await app?.close();
    app = undefined;
    await expect(ended).resolves.toBeUndefined();
  });
});

describe('a client that does not read', () => {
  it('is dropped once its unsent bytes pass the bound, and the store forgets it', async () => {
    const fake = fakeDeps();
    app = createAdminApp(fake.deps, { maxStreamBufferBytes: 64 * 1024, heartbeatMs: 60_000 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(`GET /api/v1/logs/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${DEFAULT_TOKEN}\r\n\r\n`);
    await new Promise<void>((r) => socket.once('data', () => r()));
    socket.pause(); // stop reading: kernel buffers fill, then the server's write buffer grows
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    const big = 'x'.repeat(4000);
    let sent = 0;
    while (sent < 20_000) {
      for (let i = 0; i < 500; i++, sent++) fake.store.add(rec({ detail: big }));
      const dropped = fake.logLines.some((l) => l.includes('SSE client not reading'));
      if (dropped) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(fake.logLines.some((l) => l.includes('SSE client not reading; dropped'))).toBe(true);
    socket.resume();
    await closed;
    // Further records cost the dropped client nothing: its listener is gone.
    const before = fake.logLines.length;
    fake.store.add(rec());
    expect(fake.logLines.length).toBe(before);
  });
});
