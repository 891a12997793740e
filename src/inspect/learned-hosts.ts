// Storage hosts learned from inspected registries' blob redirects: (client, host) -> registry, each
// entry expiring after inspect.learnedTtlSeconds, the table bounded by inspect.learnedMax (least
// recently used dropped first). Owned by the gateway; the policy only reads it through registryFor.
import { LRUCache } from 'lru-cache';
import type { LearnedLookup } from '../policy/decide.js';

export interface LearnedEntry {
  readonly client: string;
  readonly host: string;
  readonly registry: string;
  readonly learnedAt: string;
  readonly expiresAt: string;
}

interface Entry {
  readonly client: string;
  readonly host: string;
  readonly registry: string;
  readonly learnedAt: number;
  readonly expiresAt: number;
}

export class LearnedHosts implements LearnedLookup {
  #cache: LRUCache<string, Entry>;
  #ttlMs: number;
  #max: number;
  #learned = 0;

  constructor(ttlSeconds: number, max: number) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#max = max;
    this.#cache = this.#make();
  }

  #make(): LRUCache<string, Entry> {
    return new LRUCache<string, Entry>({ max: this.#max, ttl: this.#ttlMs, updateAgeOnGet: false });
  }

  /** Entries learned since start (a counter for metrics). */
  get learnedTotal(): number {
    return this.#learned;
  }

  get size(): number {
    this.#cache.purgeStale();
    return this.#cache.size;
  }

  /** A redirect from `registry` sent `client` to `host`: allow that pair for the TTL (renewed on repeat). */
  learn(client: string, host: string, registry: string, now = Date.now()): void {
    this.#learned++;
    this.#cache.set(`${client} ${host}`, { client, host, registry, learnedAt: now, expiresAt: now + this.#ttlMs });
  }

  registryFor(client: string | null, host: string): string | null {
    if (client === null) return null;
    return this.#cache.get(`${client} ${host}`)?.registry ?? null;
  }

  list(): LearnedEntry[] {
    const out: LearnedEntry[] = [];
    for (const e of this.#cache.values()) {
      out.push({
        client: e.client,
        host: e.host,
        registry: e.registry,
        learnedAt: new Date(e.learnedAt).toISOString(),
        expiresAt: new Date(e.expiresAt).toISOString(),
      });
    }
    return out;
  }

  /**
   * After a reload: new limits apply, and entries survive only for registries that still learn.
   * Kept entries keep their own expiry (a longer TTL does not extend them).
   */
  reconfigure(ttlSeconds: number, max: number, registries: ReadonlySet<string>): void {
    const old = [...this.#cache.entries()];
    this.#ttlMs = ttlSeconds * 1000;
    this.#max = max;
    this.#cache = this.#make();
    const now = Date.now();
    for (const [key, e] of old.reverse()) {
      if (!registries.has(e.registry) || e.expiresAt <= now) continue;
      this.#cache.set(key, e, { ttl: Math.min(e.expiresAt - now, this.#ttlMs) });
    }
  }
}
