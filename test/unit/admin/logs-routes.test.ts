// GET /api/v1/logs and /api/v1/logs.ndjson over HTTP: every filter, record shape preserved, pages that
// stay put while records arrive, and a 400 naming the parameter for every kind of bad input.
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import type { DecisionRecord } from '../../../src/audit/record.js';
import { auth, fakeDeps, rec } from './fake-deps.js';

const fake = fakeDeps();
const app = createAdminApp(fake.deps);
afterAll(() => app.close());

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
const seeded: DecisionRecord[] = [
  rec({
    time: minutesAgo(180),
    durationMs: 0,
    host: 'old.example.com',
    decision: 'blocked',
    reason: 'host_not_allowed',
    rule: null,
    client: '10.9.0.1',
  }),
  rec({ time: minutesAgo(50), durationMs: 1200, host: 'myregistry.azurecr.io', client: '10.0.0.5' }),
  rec({
    time: minutesAgo(40),
    durationMs: 0,
    host: 'evil.example.org',
    decision: 'blocked',
    reason: 'host_not_allowed',
    rule: null,
    tag: null,
    client: '10.0.0.6',
  }),
  rec({
    time: minutesAgo(30),
    durationMs: 30,
    host: 'acct.blob.core.windows.net',
    rule: 'registry:myregistry:blob',
    tag: 'Storage.EastUS',
    client: '10.0.1.1',
  }),
  rec({
    time: minutesAgo(20),
    durationMs: 0,
    host: 'myregistry.azurecr.io',
    decision: 'blocked',
    reason: 'sni_mismatch',
    sni: 'other.azurecr.io',
    client: '10.0.0.5',
    detail: 'SNI "other.azurecr.io" is not the CONNECT host myregistry.azurecr.io',
  }),
  rec({
    time: minutesAgo(10),
    durationMs: 5,
    host: 'mcr.microsoft.com',
    rule: 'mcr:login',
    reason: 'ip_not_in_service_tag',
    report: true,
    client: '2001:db8::7',
    mode: 'transparent',
  }),
  rec({
    time: minutesAgo(5),
    durationMs: 5,
    host: 'x.data.mcr.microsoft.com',
    rule: 'mcr:data',
    tagsUnenforced: true,
    tag: null,
    client: '10.0.0.5',
  }),
];
for (const r of seeded) fake.store.add(r);

async function get(url: string) {
  return app.inject({ method: 'GET', url, headers: auth() });
}
async function hosts(query: string): Promise<string[]> {
  const res = await get(`/api/v1/logs?${query}`);
  expect(res.statusCode).toBe(200);
  return res.json<{ items: DecisionRecord[] }>().items.map((r) => r.host as string);
}

describe('GET /api/v1/logs', () => {
  it('answers every record newest first, field for field as stored', async () => {
    const res = await get('/api/v1/logs');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ items: [...seeded].reverse(), nextCursor: null });
  });

  it.each([
    { filter: 'decision=blocked', expected: ['myregistry.azurecr.io', 'evil.example.org', 'old.example.com'] },
    {
      filter: 'decision=allowed',
      expected: [
        'x.data.mcr.microsoft.com',
        'mcr.microsoft.com',
        'acct.blob.core.windows.net',
        'myregistry.azurecr.io',
      ],
    },
    { filter: 'reason=host_not_allowed', expected: ['evil.example.org', 'old.example.com'] },
    { filter: 'reason=ip_not_in_service_tag', expected: ['mcr.microsoft.com'] },
    { filter: 'host=myregistry.azurecr.io', expected: ['myregistry.azurecr.io', 'myregistry.azurecr.io'] },
    { filter: 'host=*.microsoft.com', expected: ['x.data.mcr.microsoft.com', 'mcr.microsoft.com'] },
    { filter: `host=${encodeURIComponent('*.core.windows.net')}`, expected: ['acct.blob.core.windows.net'] },
    {
      filter: 'client=10.0.0.5',
      expected: ['x.data.mcr.microsoft.com', 'myregistry.azurecr.io', 'myregistry.azurecr.io'],
    },
    {
      filter: `client=${encodeURIComponent('10.0.0.0/24')}`,
      expected: ['x.data.mcr.microsoft.com', 'myregistry.azurecr.io', 'evil.example.org', 'myregistry.azurecr.io'],
    },
    { filter: `client=${encodeURIComponent('2001:db8::/32')}`, expected: ['mcr.microsoft.com'] },
    { filter: 'rule=mcr:login', expected: ['mcr.microsoft.com'] },
    { filter: 'mode=transparent', expected: ['mcr.microsoft.com'] },
    {
      filter: 'since=1h',
      expected: [
        'x.data.mcr.microsoft.com',
        'mcr.microsoft.com',
        'myregistry.azurecr.io',
        'acct.blob.core.windows.net',
        'evil.example.org',
        'myregistry.azurecr.io',
      ],
    },
    { filter: 'since=35m&until=15m', expected: ['myregistry.azurecr.io', 'acct.blob.core.windows.net'] },
    { filter: `until=${encodeURIComponent(minutesAgo(100))}`, expected: ['old.example.com'] },
    { filter: 'decision=blocked&since=1h&client=10.0.0.0/8', expected: ['myregistry.azurecr.io', 'evil.example.org'] },
    { filter: 'limit=2', expected: ['x.data.mcr.microsoft.com', 'mcr.microsoft.com'] },
  ])('filters by $filter', async ({ filter, expected }) => {
    expect(await hosts(filter)).toEqual(expected);
  });

  it('pages with cursors that stay stable while records arrive', async () => {
    const local = fakeDeps();
    const localApp = createAdminApp(local.deps);
    for (let i = 0; i < 60; i++) local.store.add(rec({ host: `h${i}.example.com` }));
    const expected = [...local.store.newestFirst()].map((r) => r.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await localApp.inject({
        method: 'GET',
        url: `/api/v1/logs?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
        headers: auth(),
      });
      const page: { items: DecisionRecord[]; nextCursor: string | null } = res.json();
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
      for (let i = 0; i < 3; i++) local.store.add(rec({ host: 'new.example.com' })); // arrive between pages
    } while (cursor !== null);
    expect(seen).toEqual(expected);
    await localApp.close();
  });

  it.each([
    { query: 'limit=0', param: 'limit' },
    { query: 'limit=1001', param: 'limit' },
    { query: 'limit=ten', param: 'limit' },
    { query: 'decision=maybe', param: 'decision' },
    { query: 'reason=because', param: 'reason' },
    { query: 'mode=socks', param: 'mode' },
    { query: 'since=yesterday', param: 'since' },
    { query: 'until=soon', param: 'until' },
    { query: 'since=1h&until=2h', param: 'since' },
    { query: 'client=999.1.1.1', param: 'client' },
    { query: 'client=10.0.0.0/40', param: 'client' },
    { query: 'host=a*b.com', param: 'host' },
    { query: 'host=', param: 'host' },
    { query: 'cursor=not-a-cursor', param: 'cursor' },
    { query: 'hosts=example.com', param: 'hosts' },
    { query: 'host=a.com&host=b.com', param: 'host' },
  ])('answers 400 naming $param for ?$query', async ({ query, param }) => {
    const res = await get(`/api/v1/logs?${query}`);
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: string; message: string }>();
    expect(body.error).toBe('bad_request');
    expect(body.message).toContain(param);
  });
});

describe('GET /api/v1/logs.ndjson', () => {
  it('exports the matching records as JSON lines, newest first', async () => {
    const res = await get('/api/v1/logs.ndjson?decision=blocked');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = res.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as DecisionRecord);
    expect(lines).toEqual(seeded.filter((r) => r.decision === 'blocked').reverse());
    expect(res.headers['x-next-cursor']).toBeUndefined();
  });

  it('gives X-Next-Cursor when the limit cut the export short, and the cursor continues it', async () => {
    const first = await get('/api/v1/logs.ndjson?limit=4');
    expect(first.body.trimEnd().split('\n')).toHaveLength(4);
    const cursor = first.headers['x-next-cursor'] as string;
    expect(cursor).toBe(seeded[3]!.id);
    const rest = await get(`/api/v1/logs.ndjson?cursor=${cursor}`);
    expect(
      rest.body
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as DecisionRecord).id),
    ).toEqual(
      seeded
        .slice(0, 3)
        .reverse()
        .map((r) => r.id),
    );
  });

  it('answers an empty body when nothing matches', async () => {
    const res = await get('/api/v1/logs.ndjson?host=nothing.example.com');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });

  it('answers 400 naming the parameter', async () => {
    const res = await get('/api/v1/logs.ndjson?since=later');
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/^since:/);
  });
});
