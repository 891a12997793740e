// The recent-decisions store: a bounded ring of records in arrival order, with per-field posting
// lists (decision, reason, host, client, rule) so that filtered queries skip what cannot match.
import type { DecisionRecord } from '../audit/record.js';

export type RecordListener = (record: DecisionRecord) => void;

export type IndexedField = 'decision' | 'reason' | 'host' | 'client' | 'rule';

const INDEXED_FIELDS: readonly IndexedField[] = ['decision', 'reason', 'host', 'client', 'rule'];

/**
 * The sequence numbers of the records holding one value, oldest first. Positions are absolute (they
 * survive removals at the front), so a reader can hold one while the list is trimmed.
 */
export class SeqList {
  #items: number[] = [];
  /** Items dropped from #items by compaction: position p lives at #items[p - #offset]. */
  #offset = 0;
  #head = 0;

  /** Position of the oldest live item. */
  get start(): number {
    return this.#offset + this.#head;
  }

  /** One past the position of the newest item. */
  get end(): number {
    return this.#offset + this.#items.length;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The seq at an absolute position in start..end-1. */
  at(position: number): number {
    return this.#items[position - this.#offset] as number;
  }

  push(seq: number): void {
    this.#items.push(seq);
  }

  shift(): void {
    this.#head++;
    // Compact once the dead front outweighs the live part: amortised O(1) per removal.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#offset += this.#head;
      this.#head = 0;
    }
  }

  /** Position of the newest item whose seq is below `bound`, or start - 1 when there is none. */
  lastBelow(bound: number): number {
    let lo = this.start;
    let hi = this.end; // answer in [lo - 1, hi - 1]
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid) < bound) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}

function keyOf(record: DecisionRecord, field: IndexedField): string | null {
  return record[field];
}

export class DecisionStore {
  readonly capacity: number;
  #ring: DecisionRecord[] = [];
  /** Per slot: start (`time`) and end (start + durationMs) in epoch ms, so scans never parse dates. */
  #startMs = new Float64Array(0);
  #endMs = new Float64Array(0);
  /** Seq of the next record: every record ever added has seq 0, 1, 2, ... in arrival order. */
  #next = 0;
  #indexes = new Map<IndexedField, Map<string, SeqList>>(INDEXED_FIELDS.map((f) => [f, new Map()]));
  #listeners = new Set<RecordListener>();

  constructor(capacity: number) {
    this.capacity = Math.max(0, Math.floor(capacity));
  }

  get size(): number {
    return Math.min(this.#next, this.capacity);
  }

  /** Seq of the oldest record kept. */
  get firstSeq(): number {
    return this.#next - this.size;
  }

  /** One past the seq of the newest record. */
  get nextSeq(): number {
    return this.#next;
  }

  add(record: DecisionRecord): void {
    if (this.capacity > 0) this.#keep(record);
    else this.#next++;
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch {
        // A broken listener must not stop the others or the proxy.
      }
    }
  }

  #keep(record: DecisionRecord): void {
    const seq = this.#next++;
    const slot = seq % this.capacity;
    if (seq >= this.capacity) this.#evict(this.#ring[slot] as DecisionRecord);
    if (slot >= this.#startMs.length) this.#grow(slot + 1);
    this.#ring[slot] = record;
    const start = Date.parse(record.time);
    this.#startMs[slot] = Number.isNaN(start) ? 0 : start;
    this.#endMs[slot] = (Number.isNaN(start) ? 0 : start) + (record.durationMs ?? 0);
    for (const [field, index] of this.#indexes) {
      const key = keyOf(record, field);
      if (key === null || key === undefined) continue;
      let list = index.get(key);
      if (list === undefined) {
        list = new SeqList();
        index.set(key, list);
      }
      list.push(seq);
    }
  }

  /** The record leaving the ring is the oldest of every list it is in, so it is at their fronts. */
  #evict(old: DecisionRecord): void {
    for (const [field, index] of this.#indexes) {
      const key = keyOf(old, field);
      if (key === null || key === undefined) continue;
      const list = index.get(key);
      if (list === undefined) continue;
      list.shift();
      if (list.length === 0) index.delete(key);
    }
  }

  #grow(min: number): void {
    const size = Math.min(this.capacity, Math.max(min, this.#startMs.length * 2, 1024));
    const start = new Float64Array(size);
    const end = new Float64Array(size);
    start.set(this.#startMs);
    end.set(this.#endMs);
    this.#startMs = start;
    this.#endMs = end;
  }

  /** The record with this seq, or undefined when it has left the ring (or never was). */
  at(seq: number): DecisionRecord | undefined {
    if (seq < this.firstSeq || seq >= this.#next) return undefined;
    return this.#ring[seq % this.capacity];
  }

  /** Epoch ms of the record's `time` (when the request arrived). */
  startMs(seq: number): number {
    return this.#startMs[seq % this.capacity] as number;
  }

  /** Epoch ms when the record was written; non-decreasing in seq (records are added as they end). */
  endMs(seq: number): number {
    return this.#endMs[seq % this.capacity] as number;
  }

  /** The posting list of one value of one field, or undefined when no record kept has it. */
  postings(field: IndexedField, key: string): SeqList | undefined {
    return this.#indexes.get(field)?.get(key);
  }

  /** Every value of a field present in the store, with its posting list. */
  values(field: IndexedField): IterableIterator<[string, SeqList]> {
    return (this.#indexes.get(field) as Map<string, SeqList>).entries();
  }

  /**
   * The first seq whose record id is not below `id` (ids are ULIDs from a monotonic factory, so they
   * ascend with seq): every seq below the answer holds an older record.
   */
  seqOfId(id: string): number {
    let lo = this.firstSeq;
    let hi = this.#next;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if ((this.at(mid) as DecisionRecord).id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Records newest first. */
  *newestFirst(): Generator<DecisionRecord> {
    for (let seq = this.#next - 1; seq >= this.firstSeq; seq--) {
      const rec = this.at(seq);
      if (rec) yield rec;
    }
  }

  subscribe(listener: RecordListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
