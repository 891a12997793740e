// Where decision records go: the audit log, the recent store and the metrics, from one call.
import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Decision } from '../policy/decide.js';
import type { AuditLog } from './audit-log.js';
import type { DecisionRecord, RecordMode } from './record.js';
import type { DecisionStore } from './store.js';

export interface RecordInput {
  mode: RecordMode;
  client: string | null;
  host: string | null;
  port: number | null;
  sni?: string | null;
  ip?: string | null;
  decision: Decision;
  startedAt?: number;
  bytesUp?: number | null;
  bytesDown?: number | null;
}

export type RecordSink = (record: DecisionRecord) => void;

// ulid's own PRNG asks the CSPRNG once per character (16 calls, each with OpenSSL's getpid(2) fork
// check, per id); drawing the same bytes from a pool refilled 4 KiB at a time costs one call per 256 ids.
const pool = new Uint8Array(4096);
let poolAt = pool.length;
function pooledRandom(): number {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return (pool[poolAt++] as number) / 256;
}

const nextId = monotonicFactory(pooledRandom);

export function makeRecord(input: RecordInput, now = Date.now()): DecisionRecord {
  const d = input.decision;
  const record: DecisionRecord = {
    time: new Date(input.startedAt ?? now).toISOString(),
    id: nextId(now),
    mode: input.mode,
    client: input.client,
    host: input.host,
    port: input.port,
    sni: input.sni ?? null,
    ip: input.ip ?? null,
    decision: d.allowed ? 'allowed' : 'blocked',
    reason: d.reason,
    rule: d.rule,
    tag: d.tag,
    bytesUp: input.bytesUp ?? null,
    bytesDown: input.bytesDown ?? null,
    durationMs: input.startedAt === undefined ? null : now - input.startedAt,
  };
  if (d.report) record.report = true;
  if (d.tagsUnenforced) record.tagsUnenforced = true;
  if (d.detail !== undefined) record.detail = d.detail;
  return record;
}

export class Recorder {
  #log: AuditLog;
  #store: DecisionStore;
  #sinks: RecordSink[] = [];
  /** This replica's name, stamped on every record so a fleet's records tell where they were made. */
  #instance: string | undefined;

  constructor(log: AuditLog, store: DecisionStore, instance?: string) {
    this.#log = log;
    this.#store = store;
    this.#instance = instance;
  }

  get store(): DecisionStore {
    return this.#store;
  }

  /** Extra consumers (metrics); each sees every record. */
  addSink(sink: RecordSink): void {
    this.#sinks.push(sink);
  }

  record(input: RecordInput): DecisionRecord {
    const rec = makeRecord(input);
    if (this.#instance !== undefined) rec.instance = this.#instance;
    this.#log.write(rec);
    this.#store.add(rec);
    for (const sink of this.#sinks) sink(rec);
    return rec;
  }

  flush(): Promise<void> {
    return this.#log.flush();
  }
}
