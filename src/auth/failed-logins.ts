// Failed logins remembered briefly per client address, so an address guessing passwords is refused
// without hashing once it has failed too often. Only counts are kept, never a name or a password.
import { LRUCache } from 'lru-cache';

interface FailedLoginLimits {
  /** Failures within windowMs after which the client's new checks are refused unhashed. */
  readonly failures: number;
  /** How long a failure counts; each new failure extends the window. */
  readonly windowMs: number;
  /** Addresses remembered; the least recently failing are forgotten first. */
  readonly clients: number;
}

export class FailedLogins {
  readonly #limit: number;
  readonly #counts: LRUCache<string, number>;

  /** `now` (milliseconds) is for tests. */
  constructor(limits: FailedLoginLimits, now?: () => number) {
    this.#limit = limits.failures;
    this.#counts = new LRUCache({
      max: limits.clients,
      ttl: limits.windowMs,
      ...(now === undefined ? {} : { perf: { now }, ttlResolution: 0 }),
    });
  }

  /** True when the client has failed too often lately; asking does not extend the window. */
  blocked(client: string): boolean {
    return (this.#counts.get(client, { updateAgeOnGet: false }) ?? 0) >= this.#limit;
  }

  failed(client: string): void {
    this.#counts.set(client, (this.#counts.get(client) ?? 0) + 1);
  }
}
