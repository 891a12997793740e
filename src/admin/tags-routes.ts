// GET /api/v1/service-tags (status of the data in use), POST /api/v1/service-tags/refresh and
// GET /api/v1/service-tags/lookup?ip= (which tags contain an address).
import { parseIp } from '../net/address.js';
import { sendError } from './answers.js';
import type { AdminApp } from './app-types.js';
import type { AdminDeps } from './deps.js';
import { ErrorAnswer, LookupQuery, LookupSchema, TagsStatusSchema } from './schemas.js';

export function registerTagRoutes(app: AdminApp, deps: AdminDeps): void {
  app.get(
    '/api/v1/service-tags',
    {
      schema: {
        summary:
          'Service-tag data in use: change number, cloud, source, load and refresh times, last error, prefix counts per used tag',
        tags: ['service-tags'],
        response: { 200: TagsStatusSchema, 401: ErrorAnswer },
      },
    },
    async () => deps.tags.status(),
  );

  app.post(
    '/api/v1/service-tags/refresh',
    {
      schema: {
        summary:
          'Refreshes from serviceTags.source now; answers the status afterwards (a failure shows in lastError, the data in use is kept)',
        tags: ['service-tags'],
        response: { 200: TagsStatusSchema, 401: ErrorAnswer },
      },
    },
    async (req) => {
      const status = await deps.tags.refresh();
      req.log.info(
        { tokenName: req.adminTokenName, changeNumber: status.changeNumber, lastError: status.lastError },
        'service-tag refresh requested',
      );
      return status;
    },
  );

  app.get(
    '/api/v1/service-tags/lookup',
    {
      schema: {
        summary: 'Every service tag whose ranges contain ip',
        tags: ['service-tags'],
        querystring: LookupQuery,
        response: { 200: LookupSchema, 400: ErrorAnswer, 401: ErrorAnswer },
      },
    },
    async (req, reply) => {
      const ip = parseIp(req.query.ip.trim());
      if (ip === null)
        return sendError(reply, 'bad_request', `ip: "${req.query.ip.slice(0, 64)}" is not an IP address`);
      return { ip: ip.address, changeNumber: deps.tags.status().changeNumber, tags: deps.tags.lookup(ip.address) };
    },
  );
}
