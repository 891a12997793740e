// The recent-decisions store: a bounded ring of records, newest last, with subscribers for live views.
import type { DecisionRecord } from './record.js';

export type RecordListener = (record: DecisionRecord) => void;

export class DecisionStore {
  readonly capacity: number;
  #ring: (DecisionRecord | undefined)[];
  #next = 0;
  #size = 0;
  #listeners = new Set<RecordListener>();

  constructor(capacity: number) {
    this.capacity = Math.max(0, capacity);
    this.#ring = new Array<DecisionRecord | undefined>(this.capacity);
  }

  get size(): number {
    return this.#size;
  }

  add(record: DecisionRecord): void {
    if (this.capacity > 0) {
      this.#ring[this.#next] = record;
      this.#next = (this.#next + 1) % this.capacity;
      if (this.#size < this.capacity) this.#size++;
    }
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch {
        // A broken listener must not stop the others or the proxy.
      }
    }
  }

  /** Records newest first. */
  *newestFirst(): Generator<DecisionRecord> {
    for (let i = 1; i <= this.#size; i++) {
      const rec = this.#ring[(this.#next - i + this.capacity) % this.capacity];
      if (rec) yield rec;
    }
  }

  subscribe(listener: RecordListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
