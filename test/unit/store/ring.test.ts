// The recent-decisions store: bounded ring, newest-first order, posting lists kept in step with
// evictions, listeners isolated from each other.
import { describe, expect, it } from 'vitest';
import { DecisionStore, SeqList } from '../../../src/store/ring.js';
import { rec } from '../admin/fake-deps.js';

describe('DecisionStore', () => {
  it('keeps at most capacity records and answers newest first', () => {
    const store = new DecisionStore(3);
    const recs = [1, 2, 3, 4, 5].map((n) => rec({ host: `h${n}.example.com` }));
    for (const r of recs) store.add(r);
    expect(store.size).toBe(3);
    expect([...store.newestFirst()].map((r) => r.host)).toEqual(['h5.example.com', 'h4.example.com', 'h3.example.com']);
    expect(store.firstSeq).toBe(2);
    expect(store.nextSeq).toBe(5);
    expect(store.at(1)).toBeUndefined();
    expect(store.at(4)).toBe(recs[4]);
  });

  it('drops evicted records from every posting list and forgets values no record has any more', () => {
    const store = new DecisionStore(2);
    store.add(
      rec({ host: 'a.example.com', decision: 'blocked', reason: 'host_not_allowed', client: '10.0.0.1', rule: null }),
    );
    store.add(rec({ host: 'b.example.com' }));
    store.add(rec({ host: 'b.example.com' }));
    expect(store.postings('host', 'a.example.com')).toBeUndefined();
    expect(store.postings('reason', 'host_not_allowed')).toBeUndefined();
    expect(store.postings('client', '10.0.0.1')).toBeUndefined();
    expect(store.postings('decision', 'blocked')).toBeUndefined();
    expect(store.postings('host', 'b.example.com')?.length).toBe(2);
    expect(store.postings('decision', 'allowed')?.length).toBe(2);
    expect([...store.values('host')].map(([h]) => h)).toEqual(['b.example.com']);
  });

  it('does not index null fields', () => {
    const store = new DecisionStore(10);
    store.add(rec({ reason: null, rule: null, client: null, host: null }));
    expect([...store.values('reason')]).toEqual([]);
    expect([...store.values('rule')]).toEqual([]);
    expect([...store.values('client')]).toEqual([]);
    expect([...store.values('host')]).toEqual([]);
  });

  it('with capacity 0 keeps nothing but still tells listeners', () => {
    const store = new DecisionStore(0);
    const seen: string[] = [];
    store.subscribe((r) => seen.push(r.id));
    const r = rec();
    store.add(r);
    expect(store.size).toBe(0);
    expect([...store.newestFirst()]).toEqual([]);
    expect(seen).toEqual([r.id]);
  });

  it('keeps telling the other listeners when one throws, and stops after unsubscribe', () => {
    const store = new DecisionStore(10);
    const seen: string[] = [];
    store.subscribe(() => {
      throw new Error('broken');
    });
    const off = store.subscribe((r) => seen.push(r.id));
    const a = rec();
    store.add(a);
    off();
    store.add(rec());
    expect(seen).toEqual([a.id]);
  });

  it('finds the first seq at or after an id by binary search over ascending ids', () => {
    const store = new DecisionStore(5);
    const recs = Array.from({ length: 8 }, () => rec());
    for (const r of recs) store.add(r);
    expect(store.seqOfId(recs[5]!.id)).toBe(5);
    expect(store.seqOfId(recs[0]!.id)).toBe(3); // evicted: clamps to the oldest kept
    expect(store.seqOfId('0'.repeat(26))).toBe(3);
    expect(store.seqOfId('Z'.repeat(26))).toBe(8);
  });

  it('keeps start and end times per record for scans', () => {
    const store = new DecisionStore(4);
    store.add(rec({ time: '2026-01-01T00:00:00.000Z', durationMs: 1500 }));
    store.add(rec({ time: '2026-01-01T00:00:01.000Z', durationMs: null }));
    expect(store.startMs(0)).toBe(Date.parse('2026-01-01T00:00:00.000Z'));
    expect(store.endMs(0)).toBe(Date.parse('2026-01-01T00:00:01.500Z'));
    expect(store.endMs(1)).toBe(Date.parse('2026-01-01T00:00:01.000Z'));
  });

  it('grows its time arrays past their first allocation and wraps them with the ring', () => {
    const store = new DecisionStore(3000);
    for (let i = 0; i < 4000; i++)
      store.add(rec({ time: new Date(1_000_000 + i * 1000).toISOString(), durationMs: 0 }));
    expect(store.size).toBe(3000);
    expect(store.startMs(3999)).toBe(1_000_000 + 3999 * 1000);
    expect(store.startMs(1000)).toBe(1_000_000 + 1000 * 1000);
  });
});

describe('SeqList', () => {
  it('keeps absolute positions across removals and compaction', () => {
    const list = new SeqList();
    for (let i = 0; i < 5000; i++) list.push(i * 2);
    for (let i = 0; i < 4000; i++) list.shift();
    expect(list.start).toBe(4000);
    expect(list.end).toBe(5000);
    expect(list.length).toBe(1000);
    expect(list.at(4000)).toBe(8000);
    expect(list.at(4999)).toBe(9998);
  });

  it.each([
    { bound: 0, expected: -1 },
    { bound: 1, expected: 0 },
    { bound: 4, expected: 1 },
    { bound: 5, expected: 2 },
    { bound: 100, expected: 2 },
  ])('lastBelow($bound) over [0, 2, 4] is position $expected', ({ bound, expected }) => {
    const list = new SeqList();
    for (const s of [0, 2, 4]) list.push(s);
    expect(list.lastBelow(bound)).toBe(expected);
  });
});
