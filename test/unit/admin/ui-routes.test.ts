// /ui serves the built dashboard open (it holds no data), from memory, precompressed when the client
// accepts it, always with the CSP and the other protective headers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdminApp } from '../../../src/admin/app-types.js';
import { createAdminApp } from '../../../src/admin/app.js';
import { registerUiRoutes, UI_CSP } from '../../../src/admin/ui-routes.js';
import { fakeDeps } from './fake-deps.js';

const HTML = '<!doctype html><title>t</title><script type="module" src="/ui/app.js"></script>';
const JS = 'console.log("dashboard")';

function builtDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-ui-'));
  for (const [name, body] of [
    ['index.html', HTML],
    ['app.js', JS],
  ] as const) {
    writeFileSync(join(dir, name), body);
    writeFileSync(join(dir, `${name}.gz`), gzipSync(body));
    writeFileSync(join(dir, `${name}.br`), brotliCompressSync(body));
  }
  writeFileSync(join(dir, 'notes.txt'), 'not served');
  return dir;
}

let app: AdminApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function uiApp(dir: string): AdminApp {
  app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
  registerUiRoutes(app, dir);
  return app;
}

describe('GET /ui', () => {
  it('sends GET / on the admin port to /ui (302), without a token', async () => {
    const res = await uiApp(builtDir()).inject({ url: '/' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/ui');
  });

  it('answers the shell with the CSP, nosniff, no-referrer and no framing', async () => {
    const res = await uiApp(builtDir()).inject({ url: '/ui' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toBe(HTML);
    expect(res.headers['content-security-policy']).toBe(UI_CSP);
    expect(UI_CSP).toContain("default-src 'self'");
    expect(UI_CSP).not.toMatch(/unsafe-(inline|eval)/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it.each([
    ['gzip, deflate, br', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['identity', undefined],
  ])('sends app.js to Accept-Encoding "%s" as %s', async (accept, coding) => {
    const res = await uiApp(builtDir()).inject({ url: '/ui/app.js', headers: { 'accept-encoding': accept } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['content-encoding']).toBe(coding);
    expect(res.headers.vary).toBe('accept-encoding');
    const body =
      coding === 'br'
        ? brotliDecompressSync(res.rawPayload).toString()
        : coding === 'gzip'
          ? gunzipSync(res.rawPayload).toString()
          : res.body;
    expect(body).toBe(JS);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const a = uiApp(builtDir());
    const first = await a.inject({ url: '/ui/app.js' });
    const again = await a.inject({ url: '/ui/app.js', headers: { 'if-none-match': String(first.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers 404 for a file that is not part of the build and for paths outside it', async () => {
    const a = uiApp(builtDir());
    expect((await a.inject({ url: '/ui/notes.txt' })).statusCode).toBe(404);
    expect((await a.inject({ url: '/ui/..%2Fpackage.json' })).statusCode).toBe(404);
  });

  it('says how to build the dashboard when dist/ui is missing', async () => {
    const res = await uiApp(join(tmpdir(), 'acr-egress-no-such-ui-dir')).inject({ url: '/ui' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: 'unavailable', message: expect.stringContaining('npm run build') });
  });

  it('is open in the admin app, while the API the page calls still needs the token', async () => {
    app = createAdminApp(fakeDeps().deps);
    const shell = await app.inject({ url: '/ui' });
    expect([200, 503]).toContain(shell.statusCode);
    expect((await app.inject({ url: '/api/v1/logs' })).statusCode).toBe(401);
  });
});
