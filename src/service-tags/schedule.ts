// When the next refresh runs: the interval with ±10% jitter after a success, exponential back-off
// (1 min doubling, capped at the interval) after failures; one unref'd timer, so it never keeps the
// process alive.

const FIRST_BACKOFF_MS = 60_000;
// setTimeout fires at once past 2^31-1 ms (~24.8 days); longer delays are re-armed in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** ±10%, so a fleet started together does not ask Microsoft in the same second. */
export function jitter(ms: number, random: () => number): number {
  return Math.round(ms * (0.9 + 0.2 * random()));
}

/** Delay before the next attempt, given the failures in a row so far. */
export function nextDelay(consecutiveFailures: number, intervalMs: number, random: () => number): number {
  if (consecutiveFailures === 0) return jitter(intervalMs, random);
  return jitter(Math.min(FIRST_BACKOFF_MS * 2 ** (consecutiveFailures - 1), intervalMs), random);
}

export class RefreshTimer {
  readonly #run: () => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #dueAt: number | null = null;

  /** now() only dates dueAt (status); the timer itself runs on the real clock. */
  constructor(run: () => void, now: () => number) {
    this.#run = run;
    this.#now = now;
  }

  get dueAt(): number | null {
    return this.#dueAt;
  }

  arm(delayMs: number): void {
    this.cancel();
    const delay = Math.max(0, delayMs);
    this.#dueAt = this.#now() + delay;
    const due = Date.now() + delay;
    const fire = (): void => {
      const left = due - Date.now();
      if (left > 0) {
        this.#timer = setTimeout(fire, Math.min(left, MAX_TIMER_MS)).unref();
        return;
      }
      this.#timer = null;
      this.#dueAt = null;
      this.#run();
    };
    this.#timer = setTimeout(fire, Math.min(delay, MAX_TIMER_MS)).unref();
  }

  cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#dueAt = null;
  }
}
