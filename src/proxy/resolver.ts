// Name resolution for the proxy: dns.overrides first, then DNS (A and AAAA in parallel), cached in an
// LRU that honours record TTLs within configured bounds, with concurrent lookups for a name coalesced.
import { Resolver } from 'node:dns/promises';
import { LRUCache } from 'lru-cache';

export type ResolveResult =
  | { ok: true; addresses: readonly string[]; source: 'override' | 'dns' | 'cache' }
  | { ok: false; code: string; detail: string };

export interface ResolverOptions {
  overrides: Readonly<Record<string, readonly string[]>>;
  servers: readonly string[];
  timeoutMs: number;
  cacheSize: number;
  minTtlSeconds: number;
  maxTtlSeconds: number;
}

interface Entry {
  result: ResolveResult;
}

export class HostResolver {
  #overrides: Map<string, readonly string[]>;
  #dns: Resolver;
  #cache: LRUCache<string, Entry>;
  #inflight = new Map<string, Promise<ResolveResult>>();
  #minTtl: number;
  #maxTtl: number;
  hits = 0;
  misses = 0;

  constructor(opts: ResolverOptions) {
    this.#overrides = new Map(Object.entries(opts.overrides));
    // c-ares: one timeout per try, two tries, so a dead resolver fails in about 2 x timeoutMs.
    this.#dns = new Resolver({ timeout: opts.timeoutMs, tries: 2 });
    if (opts.servers.length > 0) this.#dns.setServers([...opts.servers]);
    this.#cache = new LRUCache<string, Entry>({ max: opts.cacheSize, ttlAutopurge: false });
    this.#minTtl = opts.minTtlSeconds;
    this.#maxTtl = opts.maxTtlSeconds;
  }

  /** `host` must already be normalised. */
  resolve(host: string): Promise<ResolveResult> {
    const override = this.#overrides.get(host);
    if (override) return Promise.resolve({ ok: true, addresses: override, source: 'override' });
    const cached = this.#cache.get(host);
    if (cached) {
      this.hits++;
      return Promise.resolve(cached.result.ok ? { ...cached.result, source: 'cache' } : cached.result);
    }
    this.misses++;
    let pending = this.#inflight.get(host);
    if (!pending) {
      pending = this.#query(host).finally(() => this.#inflight.delete(host));
      this.#inflight.set(host, pending);
    }
    return pending;
  }

  async #query(host: string): Promise<ResolveResult> {
    const [v4, v6] = await Promise.allSettled([
      this.#dns.resolve4(host, { ttl: true }),
      this.#dns.resolve6(host, { ttl: true }),
    ]);
    const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    let result: ResolveResult;
    let ttl: number;
    if (records.length > 0) {
      result = { ok: true, addresses: records.map((r) => r.address), source: 'dns' };
      ttl = Math.min(...records.map((r) => r.ttl));
    } else {
      const err = (
        v4.status === 'rejected' ? v4.reason : v6.status === 'rejected' ? v6.reason : null
      ) as NodeJS.ErrnoException | null;
      const code = err?.code ?? 'ENODATA';
      result = { ok: false, code, detail: `${host}: ${code}` };
      ttl = this.#minTtl; // negative answers are cached briefly so a storm of retries is not a storm of queries
    }
    ttl = Math.max(this.#minTtl, Math.min(this.#maxTtl, ttl));
    if (ttl > 0) this.#cache.set(host, { result }, { ttl: ttl * 1000 });
    return result;
  }
}
