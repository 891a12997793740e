// Operations routes: /healthz and /readyz (open), /metrics (open unless admin.metricsAuth),
// POST /api/v1/reload and the OpenAPI document.
import { Type } from '@sinclair/typebox';
import { sendError } from './answers.js';
import type { AdminApp } from './app-types.js';
import type { AdminDeps } from './deps.js';
import { ErrorAnswer, ReadySchema, ReloadSchema } from './schemas.js';

/** How a route is guarded: see the onRequest hook in app.ts. */
type RouteAuth = 'open' | 'metrics' | 'token';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}

export function registerOpsRoutes(app: AdminApp, deps: AdminDeps): void {
  app.get(
    '/healthz',
    {
      config: { auth: 'open' },
      schema: {
        summary: 'Liveness: the process answers',
        tags: ['health'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { auth: 'open' },
      schema: {
        summary: 'Readiness: 200 when the proxy listens with a loaded policy, else 503 with the reasons',
        tags: ['health'],
        security: [],
        response: { 200: ReadySchema, 503: ReadySchema },
      },
    },
    async (_req, reply) => {
      const r = deps.ready();
      return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ready' : 'not_ready', reasons: r.reasons });
    },
  );

  app.get(
    '/metrics',
    {
      config: { auth: 'metrics' },
      schema: {
        summary: 'Prometheus metrics (needs the token when admin.metricsAuth is true)',
        tags: ['health'],
        produces: ['text/plain'],
      },
    },
    async (_req, reply) => {
      const text = await deps.metrics.text();
      return reply.type(deps.metrics.contentType).send(text);
    },
  );

  app.post(
    '/api/v1/reload',
    {
      schema: {
        summary:
          'Re-reads the config file; an invalid one is refused with every problem (400) and the running one kept',
        tags: ['operations'],
        response: { 200: ReloadSchema, 400: ErrorAnswer, 401: ErrorAnswer },
      },
    },
    async (req, reply) => {
      const outcome = await deps.reload();
      req.log.info(
        { tokenName: req.adminTokenName, ok: outcome.ok, version: outcome.ok ? outcome.version : undefined },
        'config reload requested',
      );
      if (!outcome.ok) {
        return sendError(reply, 'config_invalid', 'the new config is refused; the running one is kept', {
          problems: [...outcome.problems],
        });
      }
      return outcome;
    },
  );

  app.get(
    '/api/v1/openapi.json',
    { schema: { summary: 'This document', tags: ['operations'], hide: true } },
    async () => app.swagger(),
  );
}
