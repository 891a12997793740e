// GET /api/v1/cache: the layer cache's size, entries, hit ratio and WAN bytes saved (docs/cache.md).
import { Type } from '@sinclair/typebox';
import { cacheStatus } from '../cache/cache-status.js';
import type { AdminApp } from './app-types.js';
import type { AdminDeps } from './deps.js';
import { ErrorAnswer } from './schemas.js';

const Int = Type.Integer({ minimum: 0 });

const CacheSchema = Type.Object({
  enabled: Type.Boolean({ description: 'false when no registry has cache: true' }),
  dir: Type.Union([Type.String(), Type.Null()]),
  sizeBytes: Int,
  maxBytes: Int,
  entries: Int,
  fillsInFlight: Int,
  hits: Int,
  misses: Int,
  bypasses: Int,
  hitRatio: Type.Union([Type.Number(), Type.Null()], { description: 'hits / (hits + misses)' }),
  bytesFromDisk: Int,
  bytesFromUpstream: Int,
  bytesSaved: Type.Integer({ minimum: 0, description: 'layer bytes served from disk instead of across the WAN' }),
  evictions: Int,
  verifyFailures: Int,
});

export function registerCacheRoutes(app: AdminApp, deps: AdminDeps): void {
  app.get(
    '/api/v1/cache',
    {
      schema: {
        summary: 'Layer cache: size, entries, hit ratio and bytes saved',
        tags: ['cache'],
        response: { 200: CacheSchema, 401: ErrorAnswer },
      },
    },
    async () => deps.cache?.() ?? cacheStatus(null),
  );
}
