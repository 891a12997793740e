// GET /api/v1/inspect (inspected registries, leaf-certificate signatures and cache hits) and
// GET /api/v1/inspect/learned (storage hosts learned from registry redirects, per client, with expiry).
import { Type } from '@sinclair/typebox';
import type { AdminApp } from './app-types.js';
import type { AdminDeps } from './deps.js';
import { ErrorAnswer } from './schemas.js';

const LearnedSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      client: Type.String(),
      host: Type.String(),
      registry: Type.String(),
      learnedAt: Type.String(),
      expiresAt: Type.String(),
    }),
  ),
});

const InspectSchema = Type.Object({
  registries: Type.Array(Type.String()),
  leaf: Type.Object({ signatures: Type.Integer(), hits: Type.Integer() }),
  learnedHosts: Type.Integer(),
  learnedTotal: Type.Integer(),
  tunnelsActive: Type.Integer(),
});

export function registerInspectRoutes(app: AdminApp, deps: AdminDeps): void {
  const inspect = deps.inspect;
  if (inspect === undefined) return;
  app.get(
    '/api/v1/inspect',
    {
      schema: {
        summary: 'Inspected registries, leaf certificates signed and served from cache, learned-host counts',
        tags: ['inspect'],
        response: { 200: InspectSchema, 401: ErrorAnswer },
      },
    },
    async () => inspect.status(),
  );
  app.get(
    '/api/v1/inspect/learned',
    {
      schema: {
        summary: 'Storage hosts a registry redirected a client to (blobStorage: learned), until they expire',
        tags: ['inspect'],
        response: { 200: LearnedSchema, 401: ErrorAnswer },
      },
    },
    async () => ({ items: inspect.learned() }),
  );
}
