// Who gets in: every /api/v1/* route (and unknown paths) needs a bearer token; /healthz and /readyz
// are open, /metrics unless metricsAuth. No token ever shows up in a log line or an answer.
import { afterEach, describe, expect, it } from 'vitest';
import type { AdminApp } from '../../../src/admin/app-types.js';
import { createAdminApp } from '../../../src/admin/app.js';
import { auth, DEFAULT_TOKEN, fakeDeps, OPS_TOKEN, rec, testLoaded } from './fake-deps.js';

type Method = 'GET' | 'POST';
const API_ROUTES: { method: Method; url: string; payload?: object }[] = [
  { method: 'GET', url: '/api/v1/logs' },
  { method: 'GET', url: '/api/v1/logs.ndjson' },
  { method: 'GET', url: '/api/v1/logs/stream' },
  { method: 'GET', url: '/api/v1/stats' },
  { method: 'GET', url: '/api/v1/policy' },
  { method: 'POST', url: '/api/v1/check', payload: { host: 'myregistry.azurecr.io' } },
  { method: 'GET', url: '/api/v1/service-tags' },
  { method: 'POST', url: '/api/v1/service-tags/refresh' },
  { method: 'GET', url: '/api/v1/service-tags/lookup?ip=127.0.0.2' },
  { method: 'POST', url: '/api/v1/reload' },
  { method: 'GET', url: '/api/v1/openapi.json' },
  { method: 'GET', url: '/api/v1/no-such-route' },
  { method: 'GET', url: '/no-such-route' },
];

const BAD_HEADERS: { name: string; headers: Record<string, string>; message: RegExp; query?: string }[] = [
  { name: 'no Authorization header', headers: {}, message: /needs an Authorization/ },
  { name: 'a wrong token', headers: { authorization: 'Bearer wrong-token-but-long-enough' }, message: /not valid/ },
  {
    name: 'a token off by one character',
    headers: { authorization: `Bearer ${DEFAULT_TOKEN.slice(0, -1)}x` },
    message: /not valid/,
  },
  {
    name: 'Basic auth',
    headers: { authorization: `Basic ${Buffer.from(`admin:${DEFAULT_TOKEN}`).toString('base64')}` },
    message: /not "Bearer/,
  },
  { name: 'a bare token', headers: { authorization: DEFAULT_TOKEN }, message: /not "Bearer/ },
  { name: 'Bearer with nothing after it', headers: { authorization: 'Bearer ' }, message: /not "Bearer/ },
  {
    name: 'the token in a query parameter',
    headers: {},
    message: /needs an Authorization/,
    query: `token=${DEFAULT_TOKEN}`,
  },
];

let app: AdminApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('routes that need a token', () => {
  const cases = API_ROUTES.flatMap((route) => BAD_HEADERS.map((bad) => ({ ...route, ...bad })));
  it.each(cases)(
    '$method $url with $name is 401 with WWW-Authenticate',
    async ({ method, url, payload, headers, message, query }) => {
      const fake = fakeDeps();
      app = createAdminApp(fake.deps);
      const full = query === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}${query}`;
      const res = await app.inject({ method, url: full, headers, payload });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="acr-egress"');
      expect(res.json()).toMatchObject({ error: 'unauthorized', message: expect.stringMatching(message) });
      expect(fake.refreshes).toBe(0);
    },
  );

  it.each([
    { token: DEFAULT_TOKEN, name: 'default' },
    { token: OPS_TOKEN, name: 'ops' },
  ])('accepts the $name token and logs its name, not the token', async ({ token, name }) => {
    const fake = fakeDeps();
    app = createAdminApp(fake.deps);
    const res = await app.inject({ method: 'GET', url: '/api/v1/logs', headers: auth(token) });
    expect(res.statusCode).toBe(200);
    const line = fake.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'admin request');
    expect(line).toMatchObject({ method: 'GET', url: '/api/v1/logs', status: 200, tokenName: name });
  });

  it.each([
    { name: 'refused (no Authorization header)', headers: {}, status: 401 },
    { name: 'accepted (token in the header too)', headers: auth(), status: 200 },
  ])('GET /api/v1/logs?token=... $name never logs the token', async ({ headers, status }) => {
    const fake = fakeDeps();
    app = createAdminApp(fake.deps);
    // An unknown parameter is a 400 once authenticated; the 401 comes first without a token.
    const url = `/api/v1/logs?limit=5&token=${DEFAULT_TOKEN}`;
    const res = await app.inject({ method: 'GET', url, headers });
    expect(res.statusCode).toBe(status === 200 ? 400 : 401);
    expect(fake.logLines.join('\n')).not.toContain(DEFAULT_TOKEN);
    const line = fake.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'admin request');
    expect(line).toMatchObject({ url: '/api/v1/logs?limit=&token=' });
  });

  it('answers 404 for an unknown path once authenticated', async () => {
    app = createAdminApp(fakeDeps().deps);
    const res = await app.inject({ method: 'GET', url: '/api/v1/nothing', headers: auth() });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: 'no route GET /api/v1/nothing' });
  });
});

describe('open routes', () => {
  it.each(['/healthz', '/readyz', '/metrics'])('%s answers without a token', async (url) => {
    app = createAdminApp(fakeDeps().deps);
    expect((await app.inject({ method: 'GET', url })).statusCode).toBe(200);
  });

  it('/metrics needs the token when metricsAuth is on', async () => {
    app = createAdminApp(fakeDeps({ metricsAuth: true }).deps);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: auth(OPS_TOKEN) })).statusCode).toBe(200);
  });
});

describe('without a configured token', () => {
  const loaded = testLoaded({ token: null, tokens: [] });

  it('refuses every /api/v1 route unless the app was started for loopback', async () => {
    app = createAdminApp(fakeDeps({ loaded }).deps);
    const res = await app.inject({ method: 'GET', url: '/api/v1/logs' });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toMatch(/no admin token is configured/);
  });

  it('answers anonymously on a loopback-only app and logs the caller as anonymous', async () => {
    const fake = fakeDeps({ loaded });
    app = createAdminApp(fake.deps, { anonymousWithoutToken: true });
    expect((await app.inject({ method: 'GET', url: '/api/v1/logs' })).statusCode).toBe(200);
    expect(fake.logLines.some((l) => JSON.parse(l).tokenName === 'anonymous')).toBe(true);
  });
});

describe('secrets', () => {
  it('never appear in a log line or an answer, whatever the requests', async () => {
    const fake = fakeDeps();
    fake.store.add(rec());
    fake.reloadWith({ ok: false, problems: ['admin.token: must be at least 16 characters'] });
    app = createAdminApp(fake.deps);
    const bodies: string[] = [];
    const requests = [
      ...API_ROUTES.filter((r) => !r.url.includes('stream')).flatMap((r) =>
        [DEFAULT_TOKEN, OPS_TOKEN, `${DEFAULT_TOKEN}x`].map((t) => ({ ...r, headers: auth(t) })),
      ),
      { method: 'GET' as Method, url: '/metrics', headers: auth() },
      { method: 'POST' as Method, url: '/api/v1/check', headers: auth(), payload: { host: DEFAULT_TOKEN } },
    ];
    for (const r of requests) {
      const res = await app.inject({ method: r.method, url: r.url, headers: r.headers, payload: r.payload });
      bodies.push(JSON.stringify(res.headers), res.body);
    }
    // The one place a token is sent back is the dry-run echoing its own host field: skip that answer.
    const answers = bodies.slice(0, -2).join('\n');
    expect(answers).not.toContain(DEFAULT_TOKEN);
    expect(answers).not.toContain(OPS_TOKEN);
    const logs = fake.logLines.join('\n');
    expect(logs).not.toContain(DEFAULT_TOKEN);
    expect(logs).not.toContain(OPS_TOKEN);
    expect(logs).toContain('"tokenName":"ops"');
  });

  it('are redacted when anything logs request headers through the admin logger', async () => {
    const fake = fakeDeps();
    app = createAdminApp(fake.deps);
    await app.ready();
    app.log.info(
      {
        req: { headers: { authorization: `Bearer ${DEFAULT_TOKEN}`, cookie: 'session=abc' } },
        headers: { authorization: `Bearer ${OPS_TOKEN}` },
      },
      'headers',
    );
    const line = fake.logLines.find((l) => l.includes('"msg":"headers"')) as string;
    expect(line).toContain('[redacted]');
    expect(line).not.toContain(DEFAULT_TOKEN);
    expect(line).not.toContain(OPS_TOKEN);
    expect(line).not.toContain('session=abc');
  });

  it('an internal error answers 500 without its message or stack', async () => {
    const fake = fakeDeps();
    fake.deps.reload = async () => {
      throw new Error(`boom with ${DEFAULT_TOKEN}`);
    };
    app = createAdminApp(fake.deps);
    const res = await app.inject({ method: 'POST', url: '/api/v1/reload', headers: auth() });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal', message: 'internal error; see the gateway log' });
  });
});
