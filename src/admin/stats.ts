// GET /api/v1/stats: totals by decision and reason, the most blocked hosts, the hosts that moved the
// most bytes and the busiest clients; with bucket= also counts per time bucket for charts.
import { bucketMs } from './bucket-ms.js';
import { fromStore, recordsOf } from './records.js';
import type { AdminApp } from './app-types.js';
import type { AdminDeps } from './deps.js';
import { filterOr400 } from './logs-routes.js';
import { ErrorAnswer, StatsQuery, StatsSchema } from './schemas.js';

export function registerStatsRoute(app: AdminApp, deps: AdminDeps): void {
  app.get(
    '/api/v1/stats',
    {
      schema: {
        summary: 'Totals by decision and reason, top blocked hosts, top allowed hosts by bytes, top clients',
        description: 'Over the stored records that match the filters; since limits the window.',
        tags: ['logs'],
        querystring: StatsQuery,
        response: { 200: StatsSchema, 400: ErrorAnswer, 401: ErrorAnswer, 503: ErrorAnswer },
      },
    },
    async (req, reply) => {
      const { top: n, bucket, ...params } = req.query;
      const filter = filterOr400(params, reply);
      if (filter === null) return reply;
      const records = recordsOf(deps);
      const answer = await fromStore(deps, reply, async () => {
        const stats = await records.store.stats(filter, n ?? 10);
        const buckets =
          bucket === undefined ? undefined : await records.store.buckets(filter, bucketMs(bucket), n ?? 10);
        return { ...stats, ...(buckets ? { buckets } : {}) };
      });
      if (answer === null) return reply;
      const gaps = await records.gaps(filter.since, filter.until);
      return gaps.length > 0 ? { ...answer, gaps } : answer;
    },
  );
}
