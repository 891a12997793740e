// Carries records to the store without ever making a tunnel wait: a bounded queue written in
// batches. While the store is down or slow the queue grows up to its bound and is written once the
// store answers again; records beyond the bound are dropped, counted, and remembered as a gap.
import type { Gap, RecordStore, StoredRecord } from './types.js';

export interface WriterOptions {
  /** Most records held in memory waiting for the store. */
  queueMax: number;
  /** Most records per INSERT. */
  batchSize: number;
  /** A partial batch waits at most this long; also the most a SIGKILL can lose. */
  flushMs: number;
  instance: string;
  /** Longest wait between attempts while the store fails. */
  maxBackoffMs?: number;
  onError?: (err: unknown) => void;
  onRecovered?: () => void;
}

export interface WriterState {
  queued: number;
  written: number;
  dropped: number;
  lastError: string | null;
  lastErrorAt: string | null;
  lastWriteAt: string | null;
  healthy: boolean;
  gaps: Gap[];
}

/** The state of a store with no writer (the memory back end): nothing queued, nothing lost. */
export function idleWriterState(): WriterState {
  return {
    queued: 0,
    written: 0,
    dropped: 0,
    lastError: null,
    lastErrorAt: null,
    lastWriteAt: null,
    healthy: true,
    gaps: [],
  };
}

/** Gaps remembered in memory; older ones are still in the store (acr_store_gaps). */
const MAX_GAPS = 100;

export class StoreWriter {
  readonly #store: RecordStore;
  readonly #o: Required<Omit<WriterOptions, 'onError' | 'onRecovered'>> & WriterOptions;
  #queue: StoredRecord[] = [];
  #written = 0;
  #dropped = 0;
  #lastError: string | null = null;
  #lastErrorAt: string | null = null;
  #lastWriteAt: string | null = null;
  #failures = 0;
  #gaps: Gap[] = [];
  /** The gap still growing (records dropped since the queue last had room). */
  #open: Gap | null = null;
  /** Gaps not yet written to the store. */
  #unsavedGaps = new Set<Gap>();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #closed = false;

  constructor(store: RecordStore, options: WriterOptions) {
    this.#store = store;
    this.#o = { maxBackoffMs: 30_000, ...options };
  }

  /** Never blocks and never throws: the caller is a tunnel closing. */
  enqueue(record: StoredRecord): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#o.queueMax) {
      this.#dropped++;
      if (this.#open === null) {
        this.#open = { from: record.time, to: record.time, dropped: 0, instance: this.#o.instance };
        this.#gaps.push(this.#open);
        if (this.#gaps.length > MAX_GAPS) this.#gaps.shift();
      }
      this.#open.dropped++;
      if (record.time > this.#open.to) this.#open.to = record.time;
      if (record.time < this.#open.from) this.#open.from = record.time;
      this.#unsavedGaps.add(this.#open);
      return;
    }
    this.#open = null;
    this.#queue.push(record);
    if (this.#queue.length >= this.#o.batchSize && this.#failures === 0) this.#kick(0);
    else this.#kick(this.#o.flushMs);
  }

  get dropped(): number {
    return this.#dropped;
  }

  state(): WriterState {
    return {
      queued: this.#queue.length,
      written: this.#written,
      dropped: this.#dropped,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      lastWriteAt: this.#lastWriteAt,
      healthy: this.#failures === 0,
      gaps: this.#gaps.map((g) => ({ ...g })),
    };
  }

  /** Gaps this process knows of that overlap [fromMs, toMs]. */
  gapsBetween(fromMs: number | null, toMs: number | null): Gap[] {
    return this.#gaps
      .filter((g) => (fromMs === null || Date.parse(g.to) >= fromMs) && (toMs === null || Date.parse(g.from) <= toMs))
      .map((g) => ({ ...g }));
  }

  #kick(delayMs: number): void {
    if (this.#running !== null || this.#closed) return;
    if (this.#timer !== null) {
      if (delayMs > 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.#drain().finally(() => {
        this.#running = null;
        if (this.#queue.length > 0 || this.#unsavedGaps.size > 0) this.#kick(this.#retryDelay());
      });
    }, delayMs);
    this.#timer.unref();
  }

  #retryDelay(): number {
    if (this.#failures === 0) return this.#queue.length >= this.#o.batchSize ? 0 : this.#o.flushMs;
    return Math.min(this.#o.maxBackoffMs, this.#o.flushMs * 2 ** Math.min(this.#failures - 1, 10));
  }

  /** Writes batches (the last one partial) until the queue is empty or the store fails. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#unsavedGaps.size > 0) {
      const batch = this.#queue.slice(0, this.#o.batchSize);
      try {
        await this.#store.write(batch);
        if (this.#unsavedGaps.size > 0) {
          const gaps = [...this.#unsavedGaps];
          this.#unsavedGaps.clear();
          await this.#store.addGaps(gaps).catch((err: unknown) => {
            for (const g of gaps) this.#unsavedGaps.add(g);
            throw err;
          });
        }
      } catch (err) {
        this.#failures++;
        this.#lastError = err instanceof Error ? err.message : String(err);
        this.#lastErrorAt = new Date().toISOString();
        this.#o.onError?.(err);
        return;
      }
      // Only now: a failed batch stays at the front and is written again (ids make that idempotent).
      this.#queue.splice(0, batch.length);
      this.#written += batch.length;
      this.#lastWriteAt = new Date().toISOString();
      if (this.#failures > 0) {
        this.#failures = 0;
        this.#o.onRecovered?.();
      }
    }
  }

  /** Writes what is queued (one attempt per batch while the store answers); for a clean stop and tests. */
  async flush(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    while (this.#running !== null) await this.#running;
    this.#running = this.#drain();
    try {
      await this.#running;
    } finally {
      this.#running = null;
    }
    if (this.#queue.length > 0 || this.#unsavedGaps.size > 0) this.#kick(this.#retryDelay());
  }

  /** Flushes once more, then stops taking records. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
  }
}
