// Per-client limits (proxy.limits): concurrent tunnels and new tunnels per second (a token bucket
// with a burst of max(1, rate)), keyed by the client address (taken before authentication).
import { RATE_BUCKETS_SWEEP_AT } from './defaults.js';

export interface LimitSettings {
  readonly perClientConnections: number;
  readonly perClientRate: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export type LimitVerdict = 'ok' | 'connections' | 'rate';

export class ClientLimits {
  readonly #active = new Map<string, number>();
  readonly #buckets = new Map<string, Bucket>();

  /** The key a client is limited by. */
  static key(client: string | null): string {
    return `addr:${client ?? 'unknown'}`;
  }

  /** Open tunnels counted for `key` now. */
  active(key: string): number {
    return this.#active.get(key) ?? 0;
  }

  /**
   * Takes a tunnel for `key` unless a limit forbids it; on 'ok' the caller gives it back with
   * release(key) exactly once. A 0 limit is off.
   */
  admit(key: string, limits: LimitSettings, now = performance.now()): LimitVerdict {
    const active = this.#active.get(key) ?? 0;
    if (limits.perClientConnections > 0 && active >= limits.perClientConnections) return 'connections';
    if (limits.perClientRate > 0 && !this.#take(key, limits.perClientRate, now)) return 'rate';
    this.#active.set(key, active + 1);
    return 'ok';
  }

  release(key: string): void {
    const active = this.#active.get(key) ?? 0;
    if (active <= 1) this.#active.delete(key);
    else this.#active.set(key, active - 1);
  }

  #take(key: string, rate: number, now: number): boolean {
    const burst = Math.max(1, rate);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= RATE_BUCKETS_SWEEP_AT) this.#sweep(rate, burst, now);
      bucket = { tokens: burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
      bucket.at = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Forgets buckets that have refilled: they are the same as no bucket. */
  #sweep(rate: number, burst: number, now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * rate >= burst) this.#buckets.delete(key);
    }
  }
}
