// The audit log's writer: a queue of lines, one write at a time, retried with back-off on a fresh
// descriptor while it fails, bounded, and written once more (one attempt) when the process exits.
import { close as closeFd, mkdir, open, openSync, write, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditLog, AuditLogOptions, AuditLogStatus } from './audit-log.js';
import type { DecisionRecord } from './record.js';

const AUDIT_DEFAULTS = {
  /** Records kept in memory while the log cannot be written; later ones are dropped and counted. */
  maxQueued: 100_000,
  batchBytes: 4096,
  flushIntervalMs: 1000,
  /** At most this much per write, so a long backlog is written in steps. */
  maxWriteBytes: 1024 * 1024,
  retryMinMs: 100,
  retryMaxMs: 5000,
  /** How long close() keeps trying before it counts what is left as lost. */
  closeTimeoutMs: 5000,
} as const;

interface Waiter {
  readonly upTo: number;
  resolve(ok: boolean): void;
  timer?: NodeJS.Timeout;
}

const errorText = (err: NodeJS.ErrnoException): string => err.code ?? err.message;

/** Writers not yet closed, written once more when the process exits without a clean stop. */
const live = new Set<AuditFileWriter>();
let exitHooked = false;

export class AuditFileWriter implements AuditLog {
  #file: string | null;
  #fd: number | null = null;
  #reopen = false;
  #log: AuditLogOptions['log'];
  #maxQueued: number;
  #closeTimeoutMs: number;
  #queue: string[] = [];
  #queuedBytes = 0;
  /** The batch being written (or that failed and will be retried), and how many records it holds. */
  #batch: Buffer | null = null;
  #batchRecords = 0;
  #busy = false;
  #retry: NodeJS.Timeout | null = null;
  #backoff: number = AUDIT_DEFAULTS.retryMinMs;
  #flushAll = false;
  #failing = false;
  #burst = { errors: 0, dropped: 0 };
  #writeErrors = 0;
  #dropped = 0;
  #lastError: string | null = null;
  /** Records accepted, and of those how many are written: a flush waits for the count it saw. */
  #accepted = 0;
  #written = 0;
  #waiters: Waiter[] = [];
  #closed = false;
  #timer: NodeJS.Timeout;

  constructor(file: string | null, options: AuditLogOptions) {
    this.#file = file;
    this.#log = options.log;
    this.#maxQueued = options.maxQueued ?? AUDIT_DEFAULTS.maxQueued;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? AUDIT_DEFAULTS.closeTimeoutMs;
    this.#timer = setInterval(() => this.#kick(), AUDIT_DEFAULTS.flushIntervalMs);
    this.#timer.unref();
    live.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.once('exit', () => {
        for (const w of live) w.lastWrite();
      });
    }
  }

  /**
   * At process exit, one synchronous attempt to write what is queued (a batch still in flight is
   * left to its own write). Never retried, and skipped on a failing disk: exit must not hang.
   */
  lastWrite(): void {
    if (this.#failing || this.#closed || this.#pending() === 0) return;
    try {
      const fd = this.#fd !== null && !this.#reopen ? this.#fd : this.#file === null ? 1 : openSync(this.#file, 'a');
      // A batch that is not in flight (stdout was full) goes first, to keep the order.
      if (this.#batch !== null && !this.#busy) writeSync(fd, this.#batch);
      writeSync(fd, this.#queue.join(''));
    } catch {
      // Nothing more can be done while exiting; the records are lost.
    }
  }

  write(record: DecisionRecord): void {
    if (this.#closed || this.#pending() >= this.#maxQueued) {
      this.#drop(1);
      return;
    }
    // The line is the decision record tagged `"kind":"decision"`, which tells it apart from
    // operational log lines when both go to one stream (stdout).
    const line = `${JSON.stringify({ kind: 'decision', ...record })}\n`;
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#accepted++;
    if (this.#queuedBytes >= AUDIT_DEFAULTS.batchBytes) this.#pump();
  }

  flush(timeoutMs = Infinity): Promise<boolean> {
    if (this.#pending() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = { upTo: this.#accepted, resolve };
      this.#waiters.push(waiter);
      // Not unref'd: a close waiting on a failing disk keeps the process up until its deadline.
      if (Number.isFinite(timeoutMs)) waiter.timer = setTimeout(() => this.#settle(waiter, false), timeoutMs);
      this.#kick();
    });
  }

  reopen(file?: string | null): void {
    if (file !== undefined) this.#file = file;
    if (this.#busy) this.#reopen = true;
    else this.#closeFd();
    // A retry waiting on a failing file tries the new one now.
    if (this.#retry !== null) {
      clearTimeout(this.#retry);
      this.#retry = null;
      this.#backoff = AUDIT_DEFAULTS.retryMinMs;
      this.#kick();
    }
  }

  available(): boolean {
    return !this.#failing;
  }

  status(): AuditLogStatus {
    return {
      available: !this.#failing,
      queued: this.#pending(),
      writeErrors: this.#writeErrors,
      dropped: this.#dropped,
      lastError: this.#lastError,
    };
  }

  async close(timeoutMs = this.#closeTimeoutMs): Promise<{ lost: number }> {
    if (this.#closed) return { lost: 0 };
    await this.flush(timeoutMs);
    this.#closed = true;
    live.delete(this);
    clearInterval(this.#timer);
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
    for (const w of [...this.#waiters]) this.#settle(w, false);
    const lost = this.#pending();
    if (lost > 0) {
      this.#queue = [];
      this.#batch = null;
      this.#batchRecords = 0;
      this.#dropped += lost;
      this.#log?.error(
        { file: this.#file, lost, lastError: this.#lastError },
        `audit log closed with ${lost} record(s) unwritten: they are lost`,
      );
    }
    // A write still in flight (a hung disk) closes the file when it returns; never wait on it here.
    if (!this.#busy) this.#closeFd();
    return { lost };
  }

  #pending(): number {
    return this.#queue.length + this.#batchRecords;
  }

  /** Writes everything queued now (timer, flush, close), unless a write or a retry is already due. */
  #kick(): void {
    if (this.#pending() === 0) return;
    this.#flushAll = true;
    this.#pump();
  }

  #pump(): void {
    if (this.#busy || this.#retry !== null || this.#closed) return;
    if (this.#batch === null) {
      if (this.#queue.length === 0) return;
      let bytes = 0;
      let n = 0;
      while (n < this.#queue.length && (n === 0 || bytes < AUDIT_DEFAULTS.maxWriteBytes))
        bytes += (this.#queue[n++] as string).length;
      this.#batch = Buffer.from(this.#queue.splice(0, n).join(''));
      this.#batchRecords = n;
      this.#queuedBytes -= bytes;
    }
    this.#busy = true;
    this.#withFd((err, fd) => {
      if (err !== null) return this.#failed(err);
      const batch = this.#batch as Buffer;
      write(fd, batch, 0, batch.length, null, (werr, n) => {
        if (werr !== null) return this.#failed(werr);
        this.#wrote(n);
      });
    });
  }

  /** The file descriptor to write to: stdout, or the file, (re)opened after a reopen or a failure. */
  #withFd(cb: (err: NodeJS.ErrnoException | null, fd: number) => void): void {
    if (this.#reopen) {
      this.#reopen = false;
      this.#closeFd();
    }
    if (this.#fd !== null) return cb(null, this.#fd);
    const file = this.#file;
    if (file === null) {
      this.#fd = 1;
      return cb(null, 1);
    }
    mkdir(dirname(file), { recursive: true }, () => {
      open(file, 'a', (err, fd) => {
        if (err !== null) return cb(err, -1);
        this.#fd = fd;
        cb(null, fd);
      });
    });
  }

  #closeFd(): void {
    const fd = this.#fd;
    this.#fd = null;
    if (fd !== null && fd > 2) closeFd(fd, () => undefined);
  }

  #wrote(n: number): void {
    this.#busy = false;
    if (this.#closed) return this.#closeFd();
    const batch = this.#batch as Buffer;
    if (n < batch.length) {
      this.#batch = batch.subarray(n); // a short write: the rest goes next, lines stay whole
    } else {
      this.#batch = null;
      this.#written += this.#batchRecords;
      this.#batchRecords = 0;
    }
    if (this.#failing) this.#recovered();
    this.#backoff = AUDIT_DEFAULTS.retryMinMs;
    for (const w of [...this.#waiters]) if (this.#written >= w.upTo) this.#settle(w, true);
    if (this.#pending() === 0) {
      this.#flushAll = false;
      this.#burst.dropped = 0; // the backlog is gone: a later overflow is a new burst, logged again
      return;
    }
    if (this.#batch !== null || this.#flushAll || this.#queuedBytes >= AUDIT_DEFAULTS.batchBytes) this.#pump();
  }

  #failed(err: NodeJS.ErrnoException): void {
    this.#busy = false;
    if (this.#closed) return this.#closeFd();
    // A pipe on stdout that is full is back-pressure, not a failure.
    const again = err.code === 'EAGAIN' && this.#file === null;
    if (!again) {
      this.#writeErrors++;
      this.#burst.errors++;
      this.#lastError = errorText(err);
      if (!this.#failing) {
        this.#failing = true;
        this.#log?.error(
          { file: this.#file, error: this.#lastError, queued: this.#pending() },
          'audit log write failed: records are kept in memory and retried (logged once per burst)',
        );
      }
      // The next try opens the file afresh: a deleted, rotated or remounted file gets a new descriptor.
      if (this.#file !== null) this.#reopen = true;
    }
    const delay = again ? 10 : this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, AUDIT_DEFAULTS.retryMaxMs);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#pump();
    }, delay);
    this.#retry.unref();
  }

  #recovered(): void {
    this.#failing = false;
    this.#log?.warn(
      { file: this.#file, errors: this.#burst.errors, dropped: this.#burst.dropped, queued: this.#pending() },
      'audit log writable again: queued records are being written',
    );
    this.#burst = { errors: 0, dropped: 0 };
    this.#flushAll = true;
  }

  #drop(n: number): void {
    this.#dropped += n;
    if (this.#burst.dropped === 0 && !this.#closed) {
      this.#log?.error(
        { file: this.#file, queued: this.#pending(), max: this.#maxQueued },
        'audit queue full: further records are dropped and counted until writing resumes',
      );
    }
    this.#burst.dropped += n;
  }

  #settle(waiter: Waiter, ok: boolean): void {
    const i = this.#waiters.indexOf(waiter);
    if (i === -1) return;
    this.#waiters.splice(i, 1);
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.resolve(ok);
  }
}
