// The embedded store's side of its database thread (sqlite-worker.ts): starts it, sends requests
// and matches the answers, and fails every pending request when the thread dies.
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SqliteReply } from './sqlite-worker.js';

export type Params = (string | number | bigint | null | Uint8Array)[];
type Request = { op: 'all' | 'run'; sql: string; params: Params } | { op: 'write'; rows: Params[] } | { op: 'close' };

/** The worker thread and its pending requests, answered in order. */
export class SqliteThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  #dead: Error | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (r: SqliteReply) => {
      const p = this.#pending.get(r.id);
      if (p === undefined) return;
      this.#pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      else p.reject(new Error(`embedded store: ${r.error}`));
    });
    worker.on('error', (err) => this.#fail(err));
    worker.on('exit', () => this.#fail(new Error('embedded store: the database thread stopped')));
  }

  #fail(err: Error): void {
    this.#dead ??= err;
    for (const p of this.#pending.values()) p.reject(this.#dead);
    this.#pending.clear();
  }

  /** Starts the thread on `file`; rejects when the database cannot be opened. */
  static async start(file: string): Promise<SqliteThread> {
    const self = fileURLToPath(import.meta.url);
    // From source (tests, tsx) the worker is the .ts file, which Node runs with its types stripped.
    const script = join(self, '..', `sqlite-worker${extname(self)}`);
    const worker = new Worker(script, { workerData: { file } });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      worker.once('error', onError);
      worker.once('message', () => {
        worker.off('error', onError);
        resolve();
      });
    });
    // The thread must not keep a gateway alive that is otherwise done; close() ends it.
    worker.unref();
    return new SqliteThread(worker);
  }

  call<T>(req: Request): Promise<T> {
    if (this.#dead !== null) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage({ id, ...req });
    });
  }

  async close(): Promise<void> {
    if (this.#dead !== null) return;
    await this.call({ op: 'close' }).catch(() => undefined);
    await this.#worker.terminate();
  }
}
