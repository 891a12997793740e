// The audit log: one JSON line per decision record, appended by a small writer of our own that no
// disk failure can stop or freeze. Lines are batched (4 KiB or one second, whichever comes first):
// one thread-pool write per record was the largest single cost of a short tunnel (docs/benchmarks.md).
//
// Why not pino's destination (sonic-boom): on ENOSPC it emitted 'error' with its unwritten bytes
// out of reach, and its exit hook retried the write forever, so a full disk froze the gateway. Here
// the records stay ours: a bounded queue (AUDIT_DEFAULTS.maxQueued records) kept while writing
// fails, retried with back-off on a freshly opened file, counted as dropped beyond the bound, and
// moved to a new file on reopen (logrotate) or on a new `log.file`. close() waits a bounded time.
import type { Logger } from 'pino';
import { AuditFileWriter } from './audit-writer.js';
import type { DecisionRecord } from './record.js';

export interface AuditLogOptions {
  /** The operational log: one line when a burst of failures starts, one when writing works again. */
  log?: Pick<Logger, 'error' | 'warn' | 'info'>;
  maxQueued?: number;
  closeTimeoutMs?: number;
}

export interface AuditLogStatus {
  /** False from a failed write until a write succeeds again. */
  readonly available: boolean;
  /** Records waiting to be written. */
  readonly queued: number;
  readonly writeErrors: number;
  readonly dropped: number;
  readonly lastError: string | null;
}

export interface AuditLog {
  write(record: DecisionRecord): void;
  /** Resolves once everything written before the call is on disk (true), or after timeoutMs (false). */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Closes the file and opens `file` (default: the same path) for the next write: logrotate, reload. */
  reopen(file?: string | null): void;
  available(): boolean;
  status(): AuditLogStatus;
  /** Writes what it can within the timeout; what is still queued then is lost, counted and logged. */
  close(timeoutMs?: number): Promise<{ lost: number }>;
}

export function createAuditLog(file: string | null, options: AuditLogOptions = {}): AuditLog {
  return new AuditFileWriter(file, options);
}
