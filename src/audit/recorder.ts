// Where decision records go: the audit log, the recent store and the metrics, from one call; and
// whether new tunnels may open while the audit log cannot be written (log.failClosed).
import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import { refuse, type Decision } from '../policy/decide.js';
import type { AuditLog, AuditLogStatus } from './audit-log.js';
import type { DecisionRecord, RecentRecords, RecordMode, RequestFields } from './record.js';

export interface RecordInput {
  mode: RecordMode;
  client: string | null;
  /** The authenticated proxy user, when there is one. */
  user?: string | null;
  host: string | null;
  port: number | null;
  sni?: string | null;
  ip?: string | null;
  decision: Decision;
  startedAt?: number;
  bytesUp?: number | null;
  bytesDown?: number | null;
  /** A decision id taken earlier with newRecordId() (an inspected tunnel's requests point at it). */
  id?: string;
  /** 'parent' when proxy.parent carried the tunnel. */
  via?: 'parent';
  /** Present on a request record (one HTTP request inside an inspected tunnel): `kind: "request"`. */
  request?: RequestFields;
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

/** A decision id now, for a record written later (an inspected tunnel's record, written at its close). */
export function newRecordId(now = Date.now()): string {
  return nextId(now);
}

export function makeRecord(input: RecordInput, now = Date.now()): DecisionRecord {
  const d = input.decision;
  const record: DecisionRecord = {
    time: new Date(input.startedAt ?? now).toISOString(),
    id: input.id ?? nextId(now),
    mode: input.mode,
    client: input.client,
    user: input.user ?? null,
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
  if (input.user != null) record.user = input.user;
  if (d.report) record.report = true;
  if (d.tagsUnenforced) record.tagsUnenforced = true;
  if (d.detail !== undefined) record.detail = d.detail;
  if (input.via !== undefined) record.via = input.via;
  if (input.request !== undefined) Object.assign(record, { kind: 'request' }, input.request);
  return record;
}

export class Recorder {
  #log: AuditLog;
  #store: RecentRecords;
  #sinks: RecordSink[] = [];
  /** This replica's name, stamped on every record so a fleet's records tell where they were made. */
  #instance: string | undefined;

  /** log.failClosed: refuse new tunnels while the audit log cannot be written (see auditGate). */
  failClosed: boolean;

  constructor(log: AuditLog, store: RecentRecords, options: { failClosed?: boolean; instance?: string } = {}) {
    this.#log = log;
    this.#store = store;
    this.failClosed = options.failClosed ?? false;
    this.#instance = options.instance;
  }

  /** False while the audit log cannot be written (records wait in a bounded queue). */
  available(): boolean {
    return this.#log.available();
  }

  /** Write errors, dropped and queued records: for metrics and readiness. */
  auditStatus(): AuditLogStatus {
    return this.#log.status();
  }

  /** Extra consumers (metrics); each sees every record. */
  addSink(sink: RecordSink): void {
    this.#sinks.push(sink);
  }

  record(input: RecordInput): DecisionRecord {
    return this.#emit(makeRecord(input));
  }

  /** Stamps the replica, then the audit log (the record of truth), the ring and every sink. */
  #emit(rec: DecisionRecord): DecisionRecord {
    if (this.#instance !== undefined) rec.instance = this.#instance;
    this.#log.write(rec);
    this.#store.add(rec);
    for (const sink of this.#sinks) sink(rec);
    return rec;
  }

  /** Resolves true once every record so far is written, false if that took longer than timeoutMs. */
  flush(timeoutMs?: number): Promise<boolean> {
    return this.#log.flush(timeoutMs);
  }
}

const UNAUDITED = refuse('audit_unavailable', 'the audit log cannot be written and log.failClosed is true');

/**
 * The one fail-closed check, made by the proxy before it dials: a refusal while the audit log
 * cannot be written and log.failClosed is on, else null. Reads two fields; no I/O.
 */
export function auditGate(deps: { readonly recorder: Pick<Recorder, 'failClosed' | 'available'> }): Decision | null {
  return deps.recorder.failClosed && !deps.recorder.available() ? UNAUDITED : null;
}
