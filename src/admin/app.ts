// The admin API as a Fastify app built from its dependencies; it never listens by itself (startAdmin
// does), so tests drive it with app.inject(). Every /api/v1/* route needs a bearer token.
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import { componentLog } from '../log.js';
import { DEFAULT_USER_AGENT } from '../service-tags/user-agent.js';
import { errorHandler, formatSchemaErrors, notFoundHandler, sendError } from './answers.js';
import type { AdminApp } from './app-types.js';
import { AUTH_MESSAGES, authenticate } from './auth.js';
import type { AdminDeps, AdminOptions } from './deps.js';
import { logUrl } from './log-url.js';
import { registerCacheRoutes } from './cache-routes.js';
import { registerInspectRoutes } from './inspect-routes.js';
import { registerLogRoutes } from './logs-routes.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerPolicyRoutes } from './policy-routes.js';
import { registerStatsRoute } from './stats.js';
import { registerStreamRoute } from './stream.js';
import { registerTagRoutes } from './tags-routes.js';
import { registerUiRoutes } from './ui-routes.js';

/** Header and field paths censored in every admin log line, whatever logs them. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'headers.cookie',
  'authorization',
  'token',
];

const version = DEFAULT_USER_AGENT.slice(DEFAULT_USER_AGENT.indexOf('/') + 1);

export function createAdminApp(deps: AdminDeps, options: AdminOptions = {}): AdminApp {
  // Typed as Fastify's logger so the app's type (AdminApp) does not carry pino's Logger.
  const log: FastifyBaseLogger = componentLog(deps.log, 'admin', {
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
  const app = Fastify({
    loggerInstance: log,
    // The access log below replaces Fastify's: one line per request, with the token's name.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    schemaErrorFormatter: formatSchemaErrors,
    // Unknown parameters are refused rather than silently dropped: a typo must not widen a filter.
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Response schemas document the API; answers are written with JSON.stringify, which is faster for
  // pages of records and never fails on a record read back from an older log with other values.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('onRequest', (req, reply) => guard(req, reply, deps, options));
  app.addHook('onResponse', async (req, reply) => {
    const auth = req.routeOptions.config?.auth;
    // Probes and scrapes come every few seconds: they log at debug.
    const level = auth === 'open' || auth === 'metrics' ? 'debug' : 'info';
    req.log[level](
      {
        method: req.method,
        url: logUrl(req.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        tokenName: req.adminTokenName ?? null,
        remote: req.ip,
      },
      'admin request',
    );
  });

  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'acr-egress admin API',
        version: options.version ?? version,
        description: 'Decision logs, live stream, stats, policy dry-run, service tags, reload.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  // Routes go in a plugin loaded after swagger, so its onRoute hook sees every one of them.
  void app.register(async (instance) => {
    const typed = instance.withTypeProvider<TypeBoxTypeProvider>();
    registerOpsRoutes(typed, deps);
    registerLogRoutes(typed, deps);
    registerStreamRoute(typed, deps, options);
    registerStatsRoute(typed, deps);
    registerPolicyRoutes(typed, deps);
    registerTagRoutes(typed, deps);
    registerUiRoutes(typed);
    registerInspectRoutes(typed, deps);
    registerCacheRoutes(typed, deps);
  });
  return app;
}

/** Open routes pass; /metrics passes unless metricsAuth; everything else (unknown paths too) needs a token. */
async function guard(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: AdminDeps,
  options: AdminOptions,
): Promise<FastifyReply | undefined> {
  const auth = req.routeOptions.config?.auth ?? 'token';
  if (auth === 'open' || (auth === 'metrics' && !deps.metricsAuth())) return undefined;
  const tokens = deps.tokens();
  if (tokens.size === 0 && options.anonymousWithoutToken === true) {
    req.adminTokenName = 'anonymous';
    return undefined;
  }
  const result = authenticate(req.headers.authorization, tokens);
  if (result.ok) {
    req.adminTokenName = result.name;
    return undefined;
  }
  reply.header('www-authenticate', 'Bearer realm="acr-egress"');
  // Returning the reply ends the request here (Fastify's rule for async hooks that answer).
  return sendError(reply, 'unauthorized', AUTH_MESSAGES[result.problem]);
}
