// Password hashing shared fairly between client addresses: a few hashes run at once, the waiting
// checks are queued per client and served round-robin, and one client can only queue a few.
// Without this one address sending hundreds of wrong passwords delayed every other client's login.

interface FairQueueLimits {
  /** Hashes running at once (scrypt takes a libuv pool thread and 16 MiB each). */
  readonly running: number;
  /** Checks waiting from one client; more are refused at once, so a flood is the flooder's own problem. */
  readonly perClient: number;
  /** Checks waiting in all. */
  readonly total: number;
}

export class FairQueue {
  readonly #limits: FairQueueLimits;
  #running = 0;
  #waiting = 0;
  // Insertion order is the round-robin order: a client served moves to the back if it still waits.
  readonly #queues = new Map<string, (() => void)[]>();
  // The client whose job started last: a client that got a slot at once must not get the next too.
  #last: string | null = null;

  constructor(limits: FairQueueLimits) {
    this.#limits = limits;
  }

  /** Runs job in its client's turn; null (job not run) when that client, or everyone, waits too much. */
  run<T>(client: string, job: () => Promise<T>): Promise<T> | null {
    if (this.#running < this.#limits.running && this.#waiting === 0) {
      this.#running++;
      this.#last = client;
      return this.#finally(job);
    }
    const queue = this.#queues.get(client);
    if ((queue?.length ?? 0) >= this.#limits.perClient || this.#waiting >= this.#limits.total) return null;
    return new Promise<void>((resolve) => {
      if (queue === undefined) this.#queues.set(client, [resolve]);
      else queue.push(resolve);
      this.#waiting++;
    }).then(() => this.#finally(job));
  }

  async #finally<T>(job: () => Promise<T>): Promise<T> {
    try {
      return await job();
    } finally {
      this.#next();
    }
  }

  /** Hands the finished job's slot to the first client in turn, or frees it. */
  #next(): void {
    let entry = this.#queues.entries().next().value;
    if (entry === undefined) {
      this.#running--;
      return;
    }
    // The client whose job started last goes to the back, behind every other that waits.
    if (entry[0] === this.#last && this.#queues.size > 1) {
      this.#queues.delete(entry[0]);
      this.#queues.set(...entry);
      entry = this.#queues.entries().next().value!;
    }
    const [client, queue] = entry;
    this.#last = client;
    const start = queue.shift()!;
    this.#queues.delete(client);
    if (queue.length > 0) this.#queues.set(client, queue);
    this.#waiting--;
    start();
  }
}
