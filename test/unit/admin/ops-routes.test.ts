// Health, readiness, metrics, reload, service-tag status/refresh/lookup and the OpenAPI document.
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import { auth, fakeDeps, rec } from './fake-deps.js';

const fake = fakeDeps();
const app = createAdminApp(fake.deps, { version: '9.9.9' });
afterAll(() => app.close());

const get = (url: string) => app.inject({ method: 'GET', url, headers: auth() });
const post = (url: string) => app.inject({ method: 'POST', url, headers: auth() });

describe('health', () => {
  it('GET /healthz answers ok', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it.each([
    { ready: { ok: true, reasons: [] }, status: 200, body: { status: 'ready', reasons: [] } },
    {
      ready: { ok: false, reasons: ['the proxy is not listening'] },
      status: 503,
      body: { status: 'not_ready', reasons: ['the proxy is not listening'] },
    },
  ])('GET /readyz answers $status for $ready', async ({ ready, status, body }) => {
    fake.setReady(ready);
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual(body);
    fake.setReady({ ok: true, reasons: [] });
  });
});

describe('GET /metrics', () => {
  it('answers the Prometheus text of the deps registry', async () => {
    fake.deps.metrics.recordSink(rec({ decision: 'blocked', reason: 'host_not_allowed', rule: null }));
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain(
      'acr_egress_decisions_total{decision="blocked",reason="host_not_allowed",rule="none"} 1',
    );
  });
});

describe('POST /api/v1/reload', () => {
  it('answers the new version when the config is taken', async () => {
    fake.reloadWith({ ok: true, version: 'abc123', changed: true });
    const res = await post('/api/v1/reload');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, version: 'abc123', changed: true });
  });

  it('answers 400 with every problem when the config is refused', async () => {
    fake.reloadWith({
      ok: false,
      problems: [
        'config.yaml: 2 problem(s)',
        'proxy.ports[0]: must be <= 65535',
        'admin.tokens: the name "ops" is used twice',
      ],
    });
    const res = await post('/api/v1/reload');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'config_invalid',
      message: 'the new config is refused; the running one is kept',
      problems: [
        'config.yaml: 2 problem(s)',
        'proxy.ports[0]: must be <= 65535',
        'admin.tokens: the name "ops" is used twice',
      ],
    });
  });

  it('logs who asked for it by token name', () => {
    expect(
      fake.logLines.some((l) => l.includes('config reload requested') && l.includes('"tokenName":"default"')),
    ).toBe(true);
  });
});

describe('service tags', () => {
  it('GET /api/v1/service-tags answers the status', async () => {
    const res = await get('/api/v1/service-tags');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      changeNumber: 42,
      cloud: 'Public',
      source: '/tmp/tags.json',
      lastError: null,
      stale: false,
      tags: { 'AzureContainerRegistry.EastUS': 1 },
    });
  });

  it('POST /api/v1/service-tags/refresh refreshes and answers the status after it', async () => {
    const res = await post('/api/v1/service-tags/refresh');
    expect(res.statusCode).toBe(200);
    expect(res.json().changeNumber).toBe(43);
    expect(fake.refreshes).toBe(1);
  });

  it.each([
    { ip: '127.0.0.2', tags: ['AzureContainerRegistry', 'AzureContainerRegistry.EastUS'] },
    { ip: '127.0.0.5', tags: ['AzureFrontDoor.FirstParty'] },
    { ip: '::ffff:127.0.0.4', tags: ['MicrosoftContainerRegistry'] },
    { ip: '8.8.8.8', tags: [] },
  ])('GET /api/v1/service-tags/lookup?ip=$ip finds $tags', async ({ ip, tags }) => {
    const res = await get(`/api/v1/service-tags/lookup?ip=${encodeURIComponent(ip)}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ip: ip.replace('::ffff:', ''), changeNumber: 42, tags });
  });

  it.each(['', '?ip=', '?ip=999.0.0.1', '?ip=example.com', '?ip=10.0.0.0/8'])(
    'lookup%s answers 400 naming ip',
    async (query) => {
      const res = await get(`/api/v1/service-tags/lookup${query}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toContain('ip');
    },
  );
});

describe('GET /api/v1/openapi.json', () => {
  it('documents every route with its parameters and bearer security', async () => {
    const res = await get('/api/v1/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.0.3');
    expect(doc.info.version).toBe('9.9.9');
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/healthz',
        '/readyz',
        '/metrics',
        '/api/v1/logs',
        '/api/v1/logs.ndjson',
        '/api/v1/logs/stream',
        '/api/v1/stats',
        '/api/v1/policy',
        '/api/v1/check',
        '/api/v1/service-tags',
        '/api/v1/service-tags/refresh',
        '/api/v1/service-tags/lookup',
        '/api/v1/reload',
        '/api/v1/pulls',
        '/api/v1/store',
        '/api/v1/cache',
      ].sort(),
    );
    const params = doc.paths['/api/v1/logs'].get.parameters.map((p: { name: string }) => p.name);
    expect(params).toEqual(
      expect.arrayContaining(['decision', 'reason', 'host', 'client', 'rule', 'since', 'until', 'limit', 'cursor']),
    );
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/api/v1/check'].post.requestBody.content['application/json'].schema.required).toEqual(['host']);
  });
});
