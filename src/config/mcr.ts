// The two spellings of mcr (true | false, or {inspect, cache, pullOnly, repositories}) as one shape.
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
