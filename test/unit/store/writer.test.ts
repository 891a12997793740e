// The store writer with a store that fails on command: batches in order, nothing lost while the
// store is down (within the bound), drops past the bound counted as one gap, retries that succeed.
import { describe, expect, it, vi } from 'vitest';
import { LogFilter } from '../../../src/store/query.js';
import { DecisionStore } from '../../../src/store/ring.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import type { Gap, StoredRecord } from '../../../src/store/types.js';
import { StoreWriter } from '../../../src/store/writer.js';
import { rec } from '../admin/fake-deps.js';

class FlakyStore extends MemoryStore {
  down = false;
  batches: number[] = [];
  savedGaps: Gap[] = [];
  constructor() {
    super(new DecisionStore(10_000));
  }
  override async write(records: readonly StoredRecord[]): Promise<void> {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    this.batches.push(records.length);
    return super.write(records);
  }
  override async addGaps(gaps: readonly Gap[]): Promise<void> {
    if (this.down) throw new Error('down');
    this.savedGaps.push(...gaps);
  }
  async ids(): Promise<string[]> {
    return (await this.logs(LogFilter.all(), { limit: 100_000 })).items.map((r) => r.id).reverse();
  }
}

const options = { queueMax: 10, batchSize: 4, flushMs: 10_000, instance: 'gw-test', maxBackoffMs: 10 };

describe('StoreWriter', () => {
  it('writes in batches of batchSize, in order', async () => {
    const store = new FlakyStore();
    const w = new StoreWriter(store, options);
    const records = Array.from({ length: 9 }, () => rec());
    for (const r of records) w.enqueue(r);
    await w.flush();
    expect(await store.ids()).toEqual(records.map((r) => r.id));
    expect(store.batches.reduce((a, b) => a + b, 0)).toBe(9);
    expect(Math.max(...store.batches)).toBeLessThanOrEqual(4);
    expect(w.state()).toMatchObject({ queued: 0, written: 9, dropped: 0, healthy: true, gaps: [] });
    await w.close();
  });

  it('keeps records queued while the store is down and writes them all once it is back', async () => {
    const store = new FlakyStore();
    const errors: unknown[] = [];
    const w = new StoreWriter(store, { ...options, onError: (e) => errors.push(e) });
    store.down = true;
    const records = Array.from({ length: 8 }, () => rec());
    for (const r of records) w.enqueue(r);
    await w.flush();
    expect(w.state()).toMatchObject({ queued: 8, healthy: false, lastError: 'connect ECONNREFUSED 127.0.0.1:5432' });
    expect(errors.length).toBeGreaterThan(0);
    store.down = false;
    await w.flush();
    expect(await store.ids()).toEqual(records.map((r) => r.id));
    expect(w.state()).toMatchObject({ queued: 0, written: 8, dropped: 0, healthy: true });
    await w.close();
  });

  it('past queueMax drops the newest records, counts them, and reports one gap for the run of drops', async () => {
    const store = new FlakyStore();
    const w = new StoreWriter(store, options);
    store.down = true;
    const base = Date.parse('2026-11-28T21:00:00.000Z');
    const records = Array.from({ length: 15 }, (_, i) => rec({ time: new Date(base + i * 1000).toISOString() }));
    for (const r of records) w.enqueue(r);
    expect(w.state().dropped).toBe(5);
    expect(w.state().gaps).toEqual([
      { from: '2026-11-28T21:00:10.000Z', to: '2026-11-28T21:00:14.000Z', dropped: 5, instance: 'gw-test' },
    ]);
    expect(w.gapsBetween(base, base + 5000)).toEqual([]);
    expect(w.gapsBetween(base + 12_000, null)).toHaveLength(1);
    store.down = false;
    await w.flush();
    expect(await store.ids()).toEqual(records.slice(0, 10).map((r) => r.id));
    expect(store.savedGaps.map((g) => g.dropped)).toEqual([5]);
    await w.close();
  });

  it('retries by itself after a failure (backoff), without a flush', async () => {
    // The writer's flush and back-off are its own timers: fake ones make each attempt a step.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const store = new FlakyStore();
      const w = new StoreWriter(store, { ...options, flushMs: 10 });
      store.down = true;
      w.enqueue(rec());
      await vi.advanceTimersByTimeAsync(50);
      expect(w.state()).toMatchObject({ queued: 1, written: 0, healthy: false });
      store.down = false;
      await vi.advanceTimersByTimeAsync(options.maxBackoffMs);
      expect(w.state()).toMatchObject({ queued: 0, written: 1, healthy: true });
      await w.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('takes no records after close', async () => {
    const store = new FlakyStore();
    const w = new StoreWriter(store, options);
    await w.close();
    w.enqueue(rec());
    expect(w.state().queued).toBe(0);
  });
});
