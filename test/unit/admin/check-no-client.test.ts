// POST /api/v1/check without a client asks about the host alone: proxy.clients and client groups are
// not applied, and the record says so; with a client both are applied as the proxy applies them.
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import { checkRequest } from '../../../src/policy/decide.js';
import { compilePolicy } from '../../../src/policy/snapshot.js';
import { auth, fakeDeps, testLoaded } from './fake-deps.js';

const loaded = testLoaded(
  {},
  {
    proxy: { clients: ['10.0.0.0/8'] },
    clientGroups: [{ name: 'iot-edge', cidrs: ['10.1.0.0/16'], registries: ['myregistry'] }],
  },
);
const app = createAdminApp(fakeDeps({ loaded }).deps);
afterAll(() => app.close());

async function check(body: object): Promise<Record<string, unknown>> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/check', headers: auth(), payload: body });
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe('POST /api/v1/check without a client', () => {
  it('judges the host only and marks the record clientChecked: false', async () => {
    const r = await check({ host: 'mcr.microsoft.com' });
    expect(r).toMatchObject({ decision: 'allowed', rule: 'mcr:login', client: null, clientChecked: false });
  });

  it('still blocks a host no rule allows', async () => {
    const r = await check({ host: 'evil.example.org' });
    expect(r).toMatchObject({ decision: 'blocked', reason: 'host_not_allowed', clientChecked: false });
  });

  it('applies proxy.clients and the groups when a client is given, with no clientChecked field', async () => {
    const outside = await check({ host: 'mcr.microsoft.com', client: '192.0.2.1' });
    expect(outside).toMatchObject({ decision: 'blocked', reason: 'client_not_allowed' });
    expect(outside).not.toHaveProperty('clientChecked');
    const grouped = await check({ host: 'mcr.microsoft.com', client: '10.1.0.9' });
    expect(grouped).toMatchObject({ decision: 'blocked', detail: 'group iot-edge may not use mcr:login' });
  });
});

describe('checkRequest on the proxy path', () => {
  it('blocks a connection with no client address: only a dry run may skip the client checks', () => {
    const policy = compilePolicy(loaded, null);
    const r = checkRequest(policy, { client: null, host: 'mcr.microsoft.com', port: 443 });
    expect(r.decision).toMatchObject({ allowed: false, reason: 'client_not_allowed' });
  });
});
