// GET /api/v1/cache: the layer cache's size, entries, hit ratio and WAN bytes saved (docs/cache.md);
// with bucket= also its results and bytes per time bucket from the stored request records, for charts.
import { Type } from '@sinclair/typebox';
import { cacheStatus } from '../cache/cache-status.js';
import type { AdminApp } from './app-types.js';
import type { AdminDeps } from './deps.js';
import { filterOr400 } from './logs-routes.js';
import { fromStore, recordsOf } from './records.js';
import { ErrorAnswer, filterProperties } from './schemas.js';
import { bucketMs } from './bucket-ms.js';

const Int = Type.Integer({ minimum: 0 });

const CacheBucketSchema = Type.Object({
  start: Type.String(),
  hit: Int,
  miss: Int,
  bypass: Int,
  bytesFromDisk: Type.Integer({ minimum: 0, description: 'body bytes of hits: not fetched across the WAN' }),
  bytesFromUpstream: Type.Integer({ minimum: 0, description: 'body bytes of misses: fetched upstream' }),
});

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
  buckets: Type.Optional(
    Type.Array(CacheBucketSchema, {
      description:
        'with bucket=: blob GETs by cache result and their bytes per bucket, oldest first; empty ones left out',
    }),
  ),
});

const CacheQuery = Type.Object(
  {
    ...filterProperties,
    bucket: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,6}(m|h|d)$', description: 'add per-bucket figures, e.g. 5m, 1h, 1d' }),
    ),
  },
  { additionalProperties: false },
);

export function registerCacheRoutes(app: AdminApp, deps: AdminDeps): void {
  app.get(
    '/api/v1/cache',
    {
      schema: {
        summary: 'Layer cache: size, entries, hit ratio and bytes saved; with bucket=, per-bucket figures',
        description:
          "The figures are this replica's since it started; the buckets come from the stored request records " +
          'that match the filters (since limits the window).',
        tags: ['cache'],
        querystring: CacheQuery,
        response: { 200: CacheSchema, 400: ErrorAnswer, 401: ErrorAnswer, 503: ErrorAnswer },
      },
    },
    async (req, reply) => {
      const status = deps.cache?.() ?? cacheStatus(null);
      const { bucket, ...params } = req.query;
      if (bucket === undefined) return status;
      const filter = filterOr400(params, reply);
      if (filter === null) return reply;
      const buckets = await fromStore(deps, reply, () => recordsOf(deps).store.cacheBuckets(filter, bucketMs(bucket)));
      if (buckets === null) return reply;
      return { ...status, buckets };
    },
  );
}
