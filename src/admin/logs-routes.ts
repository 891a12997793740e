// GET /api/v1/logs (pages of records, newest first), GET /api/v1/logs.ndjson (the same as JSON lines
// for tools), GET /api/v1/pulls and GET /api/v1/store, all over the configured store.
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { LogFilter, type LogFilterParams } from '../store/query.js';
import type { DecisionRecord } from '../audit/record.js';
import { sendError } from './answers.js';
import type { AdminApp } from './app-types.js';
import type { AdminDeps } from './deps.js';
import { fromStore, recordsOf } from './records.js';
import {
  ErrorAnswer,
  ExportQuery,
  LogPageSchema,
  LogsQuery,
  PullsQuery,
  PullsSchema,
  StoreStateSchema,
} from './schemas.js';

/** The filter, or null after answering 400 with the parameter at fault. */
export function filterOr400(params: LogFilterParams, reply: FastifyReply): LogFilter | null {
  const filter = LogFilter.parse(params);
  if (filter instanceof LogFilter) return filter;
  void sendError(reply, 'bad_request', `${filter.param}: ${filter.message}`);
  return null;
}

const errors = { 400: ErrorAnswer, 401: ErrorAnswer, 503: ErrorAnswer };

export function registerLogRoutes(app: AdminApp, deps: AdminDeps): void {
  app.get(
    '/api/v1/logs',
    {
      schema: {
        summary: 'Decision records, newest first, filtered and paged',
        tags: ['logs'],
        querystring: LogsQuery,
        response: { 200: LogPageSchema, ...errors },
      },
    },
    async (req, reply) => {
      const filter = filterOr400(req.query, reply);
      if (filter === null) return reply;
      const records = recordsOf(deps);
      const page = await fromStore(deps, reply, () =>
        records.store.logs(filter, { limit: req.query.limit ?? 100, cursor: req.query.cursor ?? null }),
      );
      if (page === null) return reply;
      const gaps = await records.gaps(filter.since, filter.until);
      return gaps.length === 0 ? page : { ...page, gaps };
    },
  );

  app.get(
    '/api/v1/logs.ndjson',
    {
      schema: {
        summary: 'The same records as one JSON object per line (newest first); X-Next-Cursor when limited',
        tags: ['logs'],
        querystring: ExportQuery,
        produces: ['application/x-ndjson'],
        response: errors,
      },
    },
    async (req, reply) => {
      const filter = filterOr400(req.query, reply);
      if (filter === null) return reply;
      // Taken at once, so records arriving while it streams change nothing.
      const records = recordsOf(deps);
      const page = await fromStore(deps, reply, () =>
        records.store.logs(filter, {
          limit: req.query.limit ?? Number.MAX_SAFE_INTEGER,
          cursor: req.query.cursor ?? null,
        }),
      );
      if (page === null) return reply;
      if (page.nextCursor !== null) reply.header('x-next-cursor', page.nextCursor);
      const gaps = await records.gaps(filter.since, filter.until);
      if (gaps.length > 0) reply.header('x-store-gaps', JSON.stringify(gaps));
      reply.type('application/x-ndjson; charset=utf-8');
      // A stream is sent as is; the route's response schemas only type the JSON error answers.
      return reply.send(Readable.from(lines(page.items)) as never);
    },
  );

  app.get(
    '/api/v1/pulls',
    {
      schema: {
        summary: 'Pulls seen by inspection: manifest GETs by repository, reference, digest and client',
        tags: ['logs'],
        querystring: PullsQuery,
        response: { 200: PullsSchema, ...errors },
      },
    },
    async (req, reply) => {
      const { limit, ...params } = req.query;
      const filter = filterOr400(params, reply);
      if (filter === null) return reply;
      const items = await fromStore(deps, reply, () => recordsOf(deps).store.pulls(filter, limit ?? 100));
      return items === null ? reply : { items };
    },
  );

  app.get(
    '/api/v1/store',
    {
      schema: {
        summary: "The store's state: back end, queue, written, dropped, last error, oldest and newest record",
        tags: ['logs'],
        response: { 200: StoreStateSchema, 401: ErrorAnswer },
      },
    },
    async () => recordsOf(deps).state(),
  );
}

function* lines(items: readonly DecisionRecord[]): Generator<string> {
  const BATCH = 512;
  for (let i = 0; i < items.length; i += BATCH) {
    let out = '';
    for (const rec of items.slice(i, i + BATCH)) out += `${JSON.stringify(rec)}\n`;
    yield out;
  }
}
