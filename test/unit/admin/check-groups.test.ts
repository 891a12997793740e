// POST /api/v1/check with client and user evaluates client groups like the proxy; GET /api/v1/policy
// lists the groups with the rules each may use.
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import { auth, fakeDeps, testLoaded } from './fake-deps.js';

const loaded = testLoaded(
  {},
  {
    clientGroups: [
      { name: 'iot-edge', cidrs: ['10.1.0.0/16'], registries: ['myregistry'] },
      { name: 'builders', users: ['build-agent'], mcr: true, allow: ['*.example.com'] },
    ],
  },
);
const app = createAdminApp(fakeDeps({ loaded }).deps);
afterAll(() => app.close());

async function check(body: object): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/check', headers: auth(), payload: body });
  return { status: res.statusCode, json: res.json<Record<string, unknown>>() };
}

describe('POST /api/v1/check with client groups', () => {
  it.each([
    [{ client: '10.1.0.9' }, 'myregistry.azurecr.io', 'allowed', null, 'registry:myregistry:login'],
    [{ client: '10.1.0.9' }, 'mcr.microsoft.com', 'blocked', 'client_not_allowed', 'mcr:login'],
    [{ client: '192.0.2.1', user: 'build-agent' }, 'mcr.microsoft.com', 'allowed', null, 'mcr:login'],
    [{ user: 'build-agent' }, 'myregistry.azurecr.io', 'blocked', 'client_not_allowed', 'registry:myregistry:login'],
    [{ client: '192.0.2.1' }, 'myregistry.azurecr.io', 'blocked', 'client_not_allowed', null],
  ])('%j to %s: %s %s', async (who, host, decision, reason, rule) => {
    const r = await check({ host, ...who });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ mode: 'check', decision, reason, rule, user: 'user' in who ? who.user : null });
  });

  it('names the group in the detail', async () => {
    const r = await check({ host: 'mcr.microsoft.com', client: '10.1.0.9' });
    expect(r.json.detail).toBe('group iot-edge may not use mcr:login');
  });

  it('refuses an empty user with 400', async () => {
    expect((await check({ host: 'mcr.microsoft.com', user: '' })).status).toBe(400);
  });
});

describe('GET /api/v1/policy with client groups', () => {
  it('lists each group, in order, with the rules it may use', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/policy', headers: auth() });
    expect(res.json().clientGroups).toEqual([
      {
        name: 'iot-edge',
        cidrs: ['10.1.0.0/16'],
        users: [],
        rules: ['registry:myregistry:login', 'registry:myregistry:data:eastus', 'registry:myregistry:blob'],
      },
      { name: 'builders', cidrs: [], users: ['build-agent'], rules: ['mcr:login', 'mcr:data', 'allow:*.example.com'] },
    ]);
  });
});
