// GET /api/v1/stats: totals by decision and reason, top blocked hosts, top allowed hosts by bytes and
// top clients, over the window and filters given.
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import type { Stats } from '../../../src/store/memory-stats.js';
import { auth, fakeDeps, rec } from './fake-deps.js';

const fake = fakeDeps();
const app = createAdminApp(fake.deps);
afterAll(() => app.close());

const ago = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
const blocked = (host: string, reason: 'host_not_allowed' | 'sni_mismatch', client: string, m = 5) =>
  rec({
    time: ago(m),
    durationMs: 0,
    host,
    decision: 'blocked',
    reason,
    client,
    bytesUp: null,
    bytesDown: null,
    rule: null,
    tag: null,
  });
const allowed = (host: string, up: number, down: number, client: string, m = 5) =>
  rec({ time: ago(m), durationMs: 0, host, bytesUp: up, bytesDown: down, client });

fake.store.add(blocked('ancient.example.com', 'host_not_allowed', '10.0.0.9', 300));
fake.store.add(allowed('ancient.azurecr.io', 1, 1, '10.0.0.9', 300));
for (let i = 0; i < 3; i++) fake.store.add(blocked('evil.example.org', 'host_not_allowed', '10.0.0.1'));
fake.store.add(blocked('evil.example.org', 'sni_mismatch', '10.0.0.2'));
fake.store.add(blocked('other.example.net', 'host_not_allowed', '10.0.0.1'));
fake.store.add(allowed('acct.blob.core.windows.net', 100, 900_000, '10.0.0.2'));
fake.store.add(allowed('acct.blob.core.windows.net', 100, 100_000, '10.0.0.3'));
fake.store.add(allowed('myregistry.azurecr.io', 2_000, 30_000, '10.0.0.3'));
fake.store.add(
  rec({
    time: ago(5),
    durationMs: 0,
    host: 'mcr.microsoft.com',
    reason: 'ip_not_in_service_tag',
    report: true,
    bytesUp: 0,
    bytesDown: 0,
    client: '10.0.0.4',
  }),
);

async function stats(query = ''): Promise<Stats> {
  const res = await app.inject({ method: 'GET', url: `/api/v1/stats${query}`, headers: auth() });
  expect(res.statusCode).toBe(200);
  return res.json<Stats>();
}

describe('GET /api/v1/stats', () => {
  it('totals decisions, reasons and bytes over the window', async () => {
    const s = await stats('?since=1h');
    expect(s.records).toBe(9);
    expect(s.decisions).toEqual({ allowed: 4, blocked: 5 });
    expect(s.reportOnly).toBe(1);
    expect(s.reasons).toEqual({ host_not_allowed: 4, sni_mismatch: 1, ip_not_in_service_tag: 1 });
    expect(s.bytes).toEqual({ up: 2_200, down: 1_030_000 });
    expect(Date.parse(s.since as string)).toBeLessThan(Date.parse(s.until));
  });

  it('ranks blocked hosts by count with their reasons', async () => {
    expect((await stats('?since=1h')).topBlockedHosts).toEqual([
      { host: 'evil.example.org', count: 4, reasons: { host_not_allowed: 3, sni_mismatch: 1 } },
      { host: 'other.example.net', count: 1, reasons: { host_not_allowed: 1 } },
    ]);
  });

  it('ranks allowed hosts by bytes', async () => {
    expect((await stats('?since=1h')).topAllowedHosts.map((h) => [h.host, h.count, h.bytes])).toEqual([
      ['acct.blob.core.windows.net', 2, 1_000_200],
      ['myregistry.azurecr.io', 1, 32_000],
      ['mcr.microsoft.com', 1, 0],
    ]);
  });

  it('ranks clients by requests, with their blocks and bytes', async () => {
    expect((await stats('?since=1h&top=2')).topClients).toEqual([
      { client: '10.0.0.1', count: 4, blocked: 4, bytes: 0 },
      { client: '10.0.0.2', count: 2, blocked: 1, bytes: 900_100 },
    ]);
  });

  it('covers the whole store without since, and takes the log filters', async () => {
    expect((await stats()).records).toBe(11);
    const s = await stats('?client=10.0.0.9');
    expect(s.decisions).toEqual({ allowed: 1, blocked: 1 });
    expect(s.since).toBeNull();
  });

  it.each([
    { query: '?top=0', param: 'top' },
    { query: '?top=101', param: 'top' },
    { query: '?since=last-week', param: 'since' },
    { query: '?limit=5', param: 'limit' },
  ])('answers 400 naming $param for $query', async ({ query, param }) => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/stats${query}`, headers: auth() });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain(param);
  });
});
