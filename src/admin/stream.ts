// GET /api/v1/logs/stream: records as server-sent events as they are written, with heartbeat
// comments. A client that does not read is dropped once its unsent bytes pass a bound, so a stuck
// dashboard cannot grow the gateway's memory.
import type { ServerResponse } from 'node:http';
import { isCursor } from '../store/query.js';
import type { DecisionRecord } from '../audit/record.js';
import type { AdminApp } from './app-types.js';
import type { AdminDeps, AdminOptions } from './deps.js';
import { filterOr400 } from './logs-routes.js';
import { recordsOf } from './records.js';
import { ErrorAnswer, StreamQuery } from './schemas.js';

const DEFAULT_HEARTBEAT_MS = 15_000;
const DEFAULT_MAX_STREAM_BUFFER = 1024 * 1024;

export function registerStreamRoute(app: AdminApp, deps: AdminDeps, options: AdminOptions): void {
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const maxBuffered = options.maxStreamBufferBytes ?? DEFAULT_MAX_STREAM_BUFFER;
  const maxReplay = options.maxReplay ?? 1000;
  const open = new Set<ServerResponse>();
  // Streams never end by themselves: end them so that closing the app does not wait on them.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });

  app.get(
    '/api/v1/logs/stream',
    {
      schema: {
        summary:
          'Records as server-sent events (event: decision, id: record id) as they are written; heartbeat comments',
        description: 'Send Last-Event-ID to get the matching records written since that id first (at most 1000).',
        tags: ['logs'],
        querystring: StreamQuery,
        produces: ['text/event-stream'],
        response: { 400: ErrorAnswer, 401: ErrorAnswer },
      },
    },
    async (req, reply) => {
      const filter = filterOr400(req.query, reply);
      if (filter === null) return;
      reply.hijack();
      const res = reply.raw;
      const log = req.log;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      open.add(res);
      // A stream outlives the access log's onResponse line: say who opened it, and when it ends.
      // Filter names only: the admin log never holds a query string's values.
      log.info(
        { tokenName: req.adminTokenName ?? null, filters: Object.keys(req.query), remote: req.ip },
        'SSE stream opened',
      );
      let sent = 0;
      let closed = false;
      let unsubscribe = (): void => undefined;
      let heartbeat: NodeJS.Timeout | undefined;
      const stop = (): void => {
        if (closed) return;
        closed = true;
        open.delete(res);
        clearInterval(heartbeat);
        unsubscribe();
        log.info({ tokenName: req.adminTokenName ?? null, sent }, 'SSE stream closed');
      };
      const write = (text: string): void => {
        if (closed) return;
        if (res.writableLength > maxBuffered) {
          log.warn(
            { buffered: res.writableLength, limit: maxBuffered, tokenName: req.adminTokenName },
            'SSE client not reading; dropped',
          );
          stop();
          res.destroy();
          return;
        }
        res.write(text);
      };
      const send = (rec: DecisionRecord): void => {
        sent++;
        write(`id: ${rec.id}\nevent: decision\ndata: ${JSON.stringify(rec)}\n\n`);
      };
      write(`retry: 3000\n: connected\n\n`);
      res.on('close', stop);
      res.on('error', stop);
      // Subscribed before the replay is read, so nothing written meanwhile is missed; the replay's
      // ids tell which of the records heard meanwhile are repeats.
      const held: DecisionRecord[] = [];
      let replaying = true;
      const seen = new Set<string>();
      const live = (rec: DecisionRecord): void => {
        if (!filter.matches(rec, Date.parse(rec.time))) return;
        if (replaying) held.push(rec);
        else if (!seen.has(rec.id)) send(rec);
      };
      const off = deps.store.subscribe(live);
      // A fleet store also carries the other replicas' records (LISTEN/NOTIFY).
      const offFleet = recordsOf(deps).store.subscribeFleet?.(live);
      unsubscribe = () => {
        off();
        offFleet?.();
      };
      if (closed) return unsubscribe();
      const lastId = req.headers['last-event-id'];
      if (typeof lastId === 'string' && isCursor(lastId)) {
        try {
          for (const rec of await recordsOf(deps).store.newerThan(filter, lastId, maxReplay)) {
            seen.add(rec.id);
            send(rec);
          }
        } catch (err) {
          log.warn({ err: String(err) }, 'SSE replay failed; streaming from now');
        }
      }
      replaying = false;
      for (const rec of held) if (!seen.has(rec.id)) send(rec);
      seen.clear();
      heartbeat = setInterval(() => write(`: heartbeat ${new Date().toISOString()}\n\n`), heartbeatMs);
      heartbeat.unref();
    },
  );
}
