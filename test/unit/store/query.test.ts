// Filters, plans and cursor pages over the store: every filter alone, against a naive scan for random
// stores and filters, and pages that stay put while records arrive.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogFilter, newerThan, parseTime, queryLogs, type LogFilterParams } from '../../../src/store/query.js';
import type { DecisionRecord } from '../../../src/audit/record.js';
import { DecisionStore } from '../../../src/store/ring.js';
import { rec } from '../admin/fake-deps.js';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');

function filter(params: LogFilterParams, now = NOW): LogFilter {
  const f = LogFilter.parse(params, now);
  if (!(f instanceof LogFilter)) throw new Error(`${f.param}: ${f.message}`);
  return f;
}

function all(store: DecisionStore, f: LogFilter): DecisionRecord[] {
  return queryLogs(store, f, { limit: 1_000_000 }).items;
}

describe('parseTime', () => {
  it.each([
    { value: '15m', expected: NOW - 15 * 60_000 },
    { value: '2h', expected: NOW - 2 * 3_600_000 },
    { value: '7d', expected: NOW - 7 * 86_400_000 },
    { value: '30s', expected: NOW - 30_000 },
    { value: '1w', expected: NOW - 604_800_000 },
    { value: '2026-05-31T10:00:00Z', expected: Date.parse('2026-05-31T10:00:00Z') },
    { value: '2026-05-31T10:00:00.123+02:00', expected: Date.parse('2026-05-31T08:00:00.123Z') },
    { value: '2026-05-31', expected: Date.parse('2026-05-31') },
  ])('reads $value', ({ value, expected }) => {
    expect(parseTime(value, NOW)).toBe(expected);
  });

  it.each(['', '15', 'm', '-5m', '1y', 'May 3', 'yesterday', '2026-13-45', '15 m'])('refuses %j', (value) => {
    expect(parseTime(value, NOW)).toBeNull();
  });
});

describe('LogFilter.parse', () => {
  it.each([
    { params: { decision: 'denied' }, param: 'decision' },
    { params: { reason: 'nope' }, param: 'reason' },
    { params: { host: '*.' }, param: 'host' },
    { params: { host: 'a.*.com' }, param: 'host' },
    { params: { client: '10.0.0.0/33' }, param: 'client' },
    { params: { client: 'example.com' }, param: 'client' },
    { params: { rule: '' }, param: 'rule' },
    { params: { mode: 'socks' }, param: 'mode' },
    { params: { since: 'yesterday' }, param: 'since' },
    { params: { until: '5 minutes' }, param: 'until' },
    { params: { since: '1h', until: '2h' }, param: 'since' },
  ])('names $param in the problem for $params', ({ params, param }) => {
    const f = LogFilter.parse(params, NOW);
    expect(f).not.toBeInstanceOf(LogFilter);
    expect((f as { param: string }).param).toBe(param);
  });
});

describe('each filter alone', () => {
  const store = new DecisionStore(100);
  const t = (min: number) => new Date(NOW - min * 60_000).toISOString();
  const recs = [
    rec({ time: t(120), durationMs: 0, host: 'myregistry.azurecr.io', client: '10.0.0.5' }),
    rec({
      time: t(90),
      durationMs: 0,
      host: 'evil.example.org',
      decision: 'blocked',
      reason: 'host_not_allowed',
      rule: null,
      client: '10.0.1.7',
    }),
    rec({
      time: t(60),
      durationMs: 0,
      host: 'acct.blob.core.windows.net',
      rule: 'registry:myregistry:blob',
      client: '10.0.0.6',
    }),
    rec({
      time: t(30),
      durationMs: 0,
      host: 'a.b.blob.core.windows.net',
      decision: 'blocked',
      reason: 'ip_not_in_service_tag',
      rule: 'registry:myregistry:blob',
      client: '2001:db8::5',
    }),
    rec({
      time: t(10),
      durationMs: 0,
      host: 'blob.core.windows.net',
      decision: 'blocked',
      reason: 'host_not_allowed',
      rule: null,
      client: '192.168.1.1',
      mode: 'transparent',
    }),
    rec({
      time: t(1),
      durationMs: 0,
      host: 'myregistry.azurecr.io',
      decision: 'allowed',
      reason: 'sni_mismatch',
      report: true,
      client: '10.0.0.5',
      mode: 'http',
    }),
  ];
  for (const r of recs) store.add(r);
  const hosts = (params: LogFilterParams) => all(store, filter(params)).map((r) => `${r.host}`);

  it.each<{ name: string; params: LogFilterParams; expected: string[] }>([
    {
      name: 'decision=blocked',
      params: { decision: 'blocked' },
      expected: ['blob.core.windows.net', 'a.b.blob.core.windows.net', 'evil.example.org'],
    },
    {
      name: 'decision=allowed (report-mode allows included)',
      params: { decision: 'allowed' },
      expected: ['myregistry.azurecr.io', 'acct.blob.core.windows.net', 'myregistry.azurecr.io'],
    },
    {
      name: 'reason=host_not_allowed',
      params: { reason: 'host_not_allowed' },
      expected: ['blob.core.windows.net', 'evil.example.org'],
    },
    { name: 'reason on a report-mode allow', params: { reason: 'sni_mismatch' }, expected: ['myregistry.azurecr.io'] },
    {
      name: 'exact host',
      params: { host: 'myregistry.azurecr.io' },
      expected: ['myregistry.azurecr.io', 'myregistry.azurecr.io'],
    },
    {
      name: 'exact host is case- and trailing-dot-insensitive',
      params: { host: 'MyRegistry.AzureCR.io.' },
      expected: ['myregistry.azurecr.io', 'myregistry.azurecr.io'],
    },
    {
      name: '*.suffix matches names under it, not the suffix itself',
      params: { host: '*.blob.core.windows.net' },
      expected: ['a.b.blob.core.windows.net', 'acct.blob.core.windows.net'],
    },
    { name: '*.suffix needs a label boundary', params: { host: '*.ample.org' }, expected: [] },
    {
      name: 'client address',
      params: { client: '10.0.0.5' },
      expected: ['myregistry.azurecr.io', 'myregistry.azurecr.io'],
    },
    {
      name: 'client CIDR',
      params: { client: '10.0.0.0/24' },
      expected: ['myregistry.azurecr.io', 'acct.blob.core.windows.net', 'myregistry.azurecr.io'],
    },
    { name: 'client IPv6 CIDR', params: { client: '2001:db8::/32' }, expected: ['a.b.blob.core.windows.net'] },
    {
      name: 'client IPv6 address in another spelling',
      params: { client: '2001:0db8:0:0::5' },
      expected: ['a.b.blob.core.windows.net'],
    },
    {
      name: 'rule',
      params: { rule: 'registry:myregistry:blob' },
      expected: ['a.b.blob.core.windows.net', 'acct.blob.core.windows.net'],
    },
    { name: 'mode', params: { mode: 'transparent' }, expected: ['blob.core.windows.net'] },
    {
      name: 'since 45m',
      params: { since: '45m' },
      expected: ['myregistry.azurecr.io', 'blob.core.windows.net', 'a.b.blob.core.windows.net'],
    },
    {
      name: 'until 45m',
      params: { until: '45m' },
      expected: ['acct.blob.core.windows.net', 'evil.example.org', 'myregistry.azurecr.io'],
    },
    {
      name: 'since and until as ISO',
      params: { since: t(95), until: t(55) },
      expected: ['acct.blob.core.windows.net', 'evil.example.org'],
    },
    { name: 'a value no record has', params: { host: 'nothing.example.com' }, expected: [] },
    {
      name: 'filters combine with AND',
      params: { decision: 'blocked', client: '10.0.0.0/16' },
      expected: ['evil.example.org'],
    },
  ])('$name', ({ params, expected }) => {
    expect(hosts(params)).toEqual(expected);
  });
});

describe('plan', () => {
  it('walks the smallest posting list', () => {
    const store = new DecisionStore(1000);
    for (let i = 0; i < 500; i++)
      store.add(
        rec({
          decision: 'blocked',
          reason: 'host_not_allowed',
          host: i === 7 ? 'rare.example.com' : 'common.example.com',
        }),
      );
    const p = filter({ decision: 'blocked', host: 'rare.example.com' }).plan(store);
    expect(p).toMatchObject({ kind: 'lists', cost: 1 });
  });

  it('scans instead of merging very many host lists', () => {
    const store = new DecisionStore(1000);
    for (let i = 0; i < 100; i++) store.add(rec({ host: `a${i}.blob.core.windows.net` }));
    expect(filter({ host: '*.blob.core.windows.net' }).plan(store).kind).toBe('scan');
    expect(all(store, filter({ host: '*.blob.core.windows.net' }))).toHaveLength(100);
  });
});

describe('cursor pages', () => {
  it('walks every match exactly once, newest first', () => {
    const store = new DecisionStore(1000);
    for (let i = 0; i < 250; i++)
      store.add(
        rec({ decision: i % 3 === 0 ? 'blocked' : 'allowed', reason: i % 3 === 0 ? 'host_not_allowed' : null }),
      );
    const f = filter({ decision: 'blocked' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = queryLogs(store, f, { limit: 10, cursor });
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(all(store, f).map((r) => r.id));
    expect(seen).toHaveLength(84);
  });

  it('stays stable while new records arrive between pages', () => {
    const store = new DecisionStore(10_000);
    for (let i = 0; i < 100; i++) store.add(rec());
    const snapshot = all(store, LogFilter.all()).map((r) => r.id);
    const seen: string[] = [];
    let page = queryLogs(store, LogFilter.all(), { limit: 7 });
    for (;;) {
      seen.push(...page.items.map((r) => r.id));
      for (let i = 0; i < 5; i++) store.add(rec()); // concurrent inserts
      if (page.nextCursor === null) break;
      page = queryLogs(store, LogFilter.all(), { limit: 7, cursor: page.nextCursor });
    }
    expect(seen).toEqual(snapshot);
  });

  it('continues from where the cursor was even after that record left the ring', () => {
    const store = new DecisionStore(20);
    for (let i = 0; i < 20; i++) store.add(rec());
    const first = queryLogs(store, LogFilter.all(), { limit: 15 });
    for (let i = 0; i < 10; i++) store.add(rec()); // evicts the cursor's record
    const next = queryLogs(store, LogFilter.all(), { limit: 15, cursor: first.nextCursor });
    const older = next.items.map((r) => r.id);
    expect(older.every((id) => id < (first.nextCursor as string))).toBe(true);
    expect(older).toHaveLength(0); // the 5 that were older than the cursor are gone too
  });

  it('answers nextCursor null on a page that is not full', () => {
    const store = new DecisionStore(10);
    store.add(rec());
    expect(queryLogs(store, LogFilter.all(), { limit: 2 }).nextCursor).toBeNull();
  });
});

describe('newerThan', () => {
  it('gives the matching records after an id, oldest first, at most limit', () => {
    const store = new DecisionStore(100);
    const recs = Array.from({ length: 10 }, (_, i) => rec({ decision: i % 2 ? 'blocked' : 'allowed' }));
    for (const r of recs) store.add(r);
    const f = filter({ decision: 'blocked' });
    expect(newerThan(store, f, recs[4]!.id, 100).map((r) => r.id)).toEqual([recs[5]!.id, recs[7]!.id, recs[9]!.id]);
    expect(newerThan(store, f, recs[4]!.id, 2).map((r) => r.id)).toEqual([recs[7]!.id, recs[9]!.id]);
  });
});

describe('indexed queries agree with a plain scan', () => {
  const hosts = [
    'myregistry.azurecr.io',
    'a.blob.core.windows.net',
    'b.blob.core.windows.net',
    'evil.example.org',
    'x.y.example.org',
  ];
  const clients = ['10.0.0.1', '10.0.0.2', '10.1.0.1', '192.168.5.5', '2001:db8::1'];
  const reasons = [null, 'host_not_allowed', 'sni_mismatch', 'dns_failure'] as const;
  const rules = [null, 'registry:myregistry:login', 'registry:myregistry:blob'];
  const recordArb = fc.record({
    host: fc.constantFrom(...hosts),
    client: fc.constantFrom(...clients),
    reason: fc.constantFrom(...reasons),
    rule: fc.constantFrom(...rules),
    minutesAgo: fc.integer({ min: 0, max: 300 }),
  });
  const filterArb = fc.record(
    {
      decision: fc.constantFrom('allowed', 'blocked'),
      reason: fc.constantFrom('host_not_allowed', 'sni_mismatch', 'dns_failure'),
      host: fc.constantFrom(...hosts, '*.blob.core.windows.net', '*.example.org', '*.core.windows.net'),
      client: fc.constantFrom(...clients, '10.0.0.0/16', '10.0.0.0/8', '2001:db8::/32'),
      rule: fc.constantFrom('registry:myregistry:login', 'registry:myregistry:blob'),
      since: fc.constantFrom('30m', '2h'),
      until: fc.constantFrom('10m', '1h'),
    },
    { requiredKeys: [] },
  );

  it('for random stores (with evictions), filters and page sizes', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 120 }),
        filterArb,
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 80 }),
        (specs, params, limit, capacity) => {
          const store = new DecisionStore(capacity);
          // Times ascend with arrival like the real recorder (records are added as they end).
          const sorted = [...specs].sort((a, b) => b.minutesAgo - a.minutesAgo);
          for (const s of sorted) {
            store.add(
              rec({
                host: s.host,
                client: s.client,
                reason: s.reason,
                decision: s.reason === null ? 'allowed' : 'blocked',
                rule: s.rule,
                time: new Date(NOW - s.minutesAgo * 60_000).toISOString(),
                durationMs: 0,
              }),
            );
          }
          const parsed = LogFilter.parse(params, NOW);
          if (!(parsed instanceof LogFilter)) return; // since after until
          const naive = [...store.newestFirst()].filter((r) => parsed.matches(r, Date.parse(r.time)));
          const paged: DecisionRecord[] = [];
          let cursor: string | null = null;
          do {
            const page = queryLogs(store, parsed, { limit, cursor });
            paged.push(...page.items);
            cursor = page.nextCursor;
          } while (cursor !== null);
          expect(paged.map((r) => r.id)).toEqual(naive.map((r) => r.id));
        },
      ),
      { numRuns: 300 },
    );
  });
});
