// GET /ui: the dashboard's static shell and assets (built into dist/ui by `npm run build`), open
// without a token like /healthz: they hold no data, and every API call the page makes needs one.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './answers.js';
import type { AdminApp } from './app-types.js';

/** dist/ui of this package, from src/admin (tests) and dist/admin (the build) alike. */
const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

/** Scripts and styles only from this origin, none inline; data only from this origin; no framing. */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

interface Asset {
  type: string;
  etag: string;
  identity: Buffer;
  gzip?: Buffer;
  br?: Buffer;
}

/**
 * The built files, read once: the set is a handful of small files fixed at build time, so holding them
 * (with their precompressed forms) in memory answers each request without disk reads or compression.
 */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  const names = new Set(readdirSync(dir));
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    const identity = readFileSync(join(dir, name));
    const etag = `"${createHash('sha256').update(identity).digest('base64url').slice(0, 22)}"`;
    const asset: Asset = { type, etag, identity };
    if (names.has(`${name}.gz`)) asset.gzip = readFileSync(join(dir, `${name}.gz`));
    if (names.has(`${name}.br`)) asset.br = readFileSync(join(dir, `${name}.br`));
    assets.set(name, asset);
  }
  return assets;
}

/** Whether the client accepts a coding (q=0 refuses it). */
function accepts(header: string | undefined, coding: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (name !== coding) return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  reply.headers(SECURITY_HEADERS);
  reply.header('cache-control', 'no-cache').header('etag', asset.etag).header('vary', 'accept-encoding');
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  const wanted = req.headers['accept-encoding'];
  let body = asset.identity;
  if (asset.br !== undefined && accepts(wanted, 'br')) {
    body = asset.br;
    reply.header('content-encoding', 'br');
  } else if (asset.gzip !== undefined && accepts(wanted, 'gzip')) {
    body = asset.gzip;
    reply.header('content-encoding', 'gzip');
  }
  return reply.type(asset.type).send(body);
}

export function registerUiRoutes(app: AdminApp, dir: string = DEFAULT_UI_DIR): void {
  const assets = loadAssets(dir);
  const serve = (name: string, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const asset = assets.get(name === '' ? 'index.html' : name);
    if (asset !== undefined) return send(req, reply, asset);
    if (assets.size === 0)
      return sendError(reply, 'unavailable', 'the dashboard is not built: run `npm run build` (it writes dist/ui)');
    return sendError(reply, 'not_found', `no dashboard file "${name.slice(0, 100)}"`);
  };

  // The admin port's root has nothing of its own: a browser pointed at it lands on the dashboard.
  app.get('/', { config: { auth: 'open' }, schema: { hide: true } }, async (_req, reply) => reply.redirect('/ui', 302));
  app.get(
    '/ui',
    {
      config: { auth: 'open' },
      // Not part of the JSON API's OpenAPI document: a page for browsers (docs/admin-api.md).
      schema: { hide: true },
    },
    async (req, reply) => serve('', req, reply),
  );
  app.get<{ Params: { file: string } }>(
    '/ui/:file',
    { config: { auth: 'open' }, schema: { hide: true } },
    async (req, reply) => serve(req.params.file, req, reply),
  );
}
