// One place that turns problems into admin API answers: `{ "error": code, "message": ... }` with the
// status, including Fastify's own schema failures (rewritten to name the parameter at fault).
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { ADMIN_ERRORS, type AdminErrorCode } from '../errors.js';

export function sendError(
  reply: FastifyReply,
  code: AdminErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .code(ADMIN_ERRORS[code])
    .type('application/json; charset=utf-8')
    .send({ error: code, message, ...extra });
}

/** `limit: must be <= 1000`, `unknown parameter "hosts"`, `body.port: must be integer`. */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const e = errors[0];
  if (e === undefined) return new Error(`${dataVar}: invalid`);
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const where = dataVar === 'querystring' ? path : [dataVar, path].filter((s) => s !== '').join('.');
  const params = e.params;
  let message: string;
  if (e.keyword === 'additionalProperties') {
    message = `unknown ${dataVar === 'querystring' ? 'parameter' : 'field'} "${String(params.additionalProperty)}"${where === '' ? '' : ` in ${where}`}`;
  } else if (e.keyword === 'required') {
    message = `${[where, String(params.missingProperty)].filter((s) => s !== '').join('.')}: is required`;
  } else if (e.keyword === 'enum') {
    message = `${where}: must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
  } else {
    message = `${where || dataVar}: ${e.message ?? 'is invalid'}`;
  }
  return new Error(message);
}

/** Fastify's own errors by status: the first admin code the registry gives that status. */
const STATUS_CODES: Partial<Record<number, AdminErrorCode>> = {};
for (const [code, status] of Object.entries(ADMIN_ERRORS) as [AdminErrorCode, number][]) STATUS_CODES[status] ??= code;

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = error.statusCode ?? 500;
  if (status < 500) {
    return sendError(
      reply,
      STATUS_CODES[status] ?? 'bad_request',
      error.validation ? error.message : safeMessage(error, status),
    );
  }
  request.log.error({ err: { message: error.message, code: error.code, stack: error.stack } }, 'admin request failed');
  return sendError(reply, 'internal', 'internal error; see the gateway log');
}

/** Fastify's client-error messages are fixed texts (no echo of headers); anything else gets a generic one. */
function safeMessage(error: FastifyError, status: number): string {
  return typeof error.code === 'string' && error.code.startsWith('FST_')
    ? error.message
    : `request refused (${status})`;
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, 'not_found', `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 200) ?? ''}`);
}
