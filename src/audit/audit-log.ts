// The audit log: one JSON line per decision record, written by pino through an asynchronous
// destination so that logging never blocks the data path, and flushed on a clean stop. Lines are
// batched (4 KiB or one second, whichever comes first): one thread-pool write per record was the
// largest single cost of a short tunnel (docs/benchmarks.md).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import type { DecisionRecord } from './record.js';

export interface AuditLog {
  write(record: DecisionRecord): void;
  /** Writes out everything buffered; safe to call more than once. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createAuditLog(file: string | null): AuditLog {
  if (file !== null) mkdirSync(dirname(file), { recursive: true });
  const dest = pino.destination({ dest: file ?? 1, sync: false, minLength: 4096 });
  let closed = false;
  let unflushed = false;
  const timer = setInterval(() => {
    if (!unflushed || closed) return;
    unflushed = false;
    dest.flush();
  }, 1000);
  timer.unref();
  const flush = (): Promise<void> =>
    new Promise((resolve) => {
      if (closed) return resolve();
      dest.flush((err) => {
        void err;
        resolve();
      });
    });
  return {
    write(record) {
      if (closed) return;
      // No level, time or pid: the line is the decision record (docs/interface.md) tagged
      // `"kind":"decision"`, which tells it apart from operational log lines when both go to one stream.
      // Written straight to pino's destination: pino's own serializer walking the record took 8 of the
      // 16 µs a record cost (bench/record.bench.ts); JSON.stringify gives the same bytes.
      dest.write(`{"kind":"decision",${JSON.stringify(record).slice(1)}\n`);
      unflushed = true;
    },
    flush,
    async close() {
      if (closed) return;
      await flush();
      closed = true;
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        if (file === null) return resolve(); // never close stdout
        dest.once('close', () => resolve());
        dest.end();
      });
    },
  };
}
