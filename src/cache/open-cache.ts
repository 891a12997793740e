// Opens the layer cache at start when a registry (or mcr) has cache: true; null otherwise. The folder
// and its size are read once: changing cache.* takes a restart (a reload says so in the log).
import type { LoadedConfig } from '../config/load.js';
import { resolveMcr } from '../config/mcr.js';
import { AcrEgressError } from '../errors.js';
import { BlobCache } from './blob-cache.js';
import { BlobCacheHandler } from './blob-cache-handler.js';

export function cacheWanted(loaded: LoadedConfig): boolean {
  return loaded.registries.some((r) => r.cache) || resolveMcr(loaded.config.mcr).cache;
}

export async function openLayerCache(loaded: LoadedConfig): Promise<BlobCacheHandler | null> {
  if (!cacheWanted(loaded)) return null;
  const { dir, maxBytes, minBlobBytes } = loaded.config.cache;
  try {
    return new BlobCacheHandler(await BlobCache.open({ dir, maxBytes }), { minBlobBytes });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new AcrEgressError('CACHE_UNAVAILABLE', `cache.dir ${dir}: cannot open the layer cache (${code})`, {
      cause: err,
    });
  }
}
