// The two spellings of mcr (true | false, or {inspect, cache, pullOnly, repositories}) as one shape.
import type { ResolvedRegistry } from './registries.js';
import type { McrConfig } from './schema.js';

export interface ResolvedMcr {
  /** mcr.microsoft.com and *.data.mcr.microsoft.com are allowed (any object form means yes). */
  readonly enabled: boolean;
  readonly inspect: boolean;
  readonly cache: boolean;
  readonly pullOnly: boolean;
  readonly repositories: readonly string[] | null;
}

export function resolveMcr(mcr: McrConfig): ResolvedMcr {
  if (typeof mcr === 'boolean')
    return { enabled: mcr, inspect: false, cache: false, pullOnly: false, repositories: null };
  return {
    enabled: true,
    inspect: mcr.inspect ?? false,
    cache: mcr.cache ?? false,
    pullOnly: mcr.pullOnly ?? false,
    repositories: mcr.repositories ?? null,
  };
}

/**
 * MCR as the registry its login rule carries, so that inspection and the cache read their settings
 * from the rule match as for any registry ("mcr": no ACR registry name is three characters long).
 */
export function mcrRegistry(mcr: McrConfig): ResolvedRegistry | null {
  const m = resolveMcr(mcr);
  if (!m.enabled) return null;
  return {
    name: 'mcr',
    regions: [],
    dataEndpoints: [],
    regionalEndpoints: [],
    // Its data hosts have their own rule (mcr:data); nothing is learned from its redirects.
    blobStorage: false,
    blobLearned: false,
    inspect: m.inspect,
    pullOnly: m.pullOnly,
    repositories: m.repositories,
    cache: m.cache,
  };
}
