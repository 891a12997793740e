// GET /api/v1/policy and POST /api/v1/check: the effective rules, and dry-run decisions from the same
// engine as the proxy (DNS only with "resolve": true), never recorded.
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import type { DecisionRecord } from '../../../src/audit/record.js';
import { auth, fakeDeps, testLoaded } from './fake-deps.js';

const fake = fakeDeps();
fake.dns.set('myregistry.azurecr.io', { ok: true, addresses: ['10.0.0.1', '127.0.0.2'], source: 'dns' });
fake.dns.set('mcr.microsoft.com', { ok: true, addresses: ['10.0.0.1', '127.0.0.3'], source: 'dns' });
const app = createAdminApp(fake.deps);
afterAll(() => app.close());

async function check(body: object): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/check', headers: auth(), payload: body });
  return { status: res.statusCode, json: res.json<Record<string, unknown>>() };
}

describe('GET /api/v1/policy', () => {
  it('lists every rule with its id, pattern, tag selectors and the tags they select', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/policy', headers: auth() });
    expect(res.statusCode).toBe(200);
    const p = res.json();
    expect(p).toMatchObject({
      configVersion: fake.deps.config().version,
      mode: 'enforce',
      enforce: true,
      ports: [443],
      clients: [],
      allowPrivate: ['127.0.0.0/8'],
      serviceTags: { changeNumber: 42, cloud: 'Public' },
    });
    expect(p.rules.map((r: { id: string }) => r.id)).toEqual([
      'registry:myregistry:login',
      'registry:myregistry:data:eastus',
      'registry:myregistry:blob',
      'mcr:login',
      'mcr:data',
      'allow:*.example.com',
    ]);
    expect(p.rules[0]).toEqual({
      id: 'registry:myregistry:login',
      kind: 'login',
      pattern: 'myregistry.azurecr.io',
      tags: [{ base: 'AzureContainerRegistry', regions: ['eastus'] }],
      resolvedTags: ['AzureContainerRegistry.EastUS'],
      missingTags: [],
    });
    expect(p.rules[5]).toMatchObject({
      id: 'allow:*.example.com',
      pattern: '*.example.com',
      tags: [],
      resolvedTags: [],
    });
  });
});

describe('POST /api/v1/check', () => {
  it.each<{ name: string; body: object; expected: Partial<DecisionRecord> }>([
    {
      name: 'allows the login server (no DNS, no SNI asked)',
      body: { host: 'myregistry.azurecr.io' },
      expected: { decision: 'allowed', rule: 'registry:myregistry:login', ip: null, sni: null },
    },
    {
      name: 'allows it with an address in its tag',
      body: { host: 'myregistry.azurecr.io', ip: '127.0.0.2' },
      expected: { decision: 'allowed', tag: 'AzureContainerRegistry.EastUS', ip: '127.0.0.2' },
    },
    {
      name: 'blocks an address outside the tag',
      body: { host: 'myregistry.azurecr.io', ip: '127.0.0.3' },
      expected: { decision: 'blocked', reason: 'ip_not_in_service_tag' },
    },
    {
      name: 'blocks a private address',
      body: { host: 'myregistry.azurecr.io', ip: '10.0.0.1' },
      expected: { decision: 'blocked', reason: 'private_destination' },
    },
    {
      name: 'blocks an unknown host',
      body: { host: 'evilmyregistry.azurecr.io' },
      expected: { decision: 'blocked', reason: 'host_not_allowed', rule: null },
    },
    {
      name: 'blocks a port not in proxy.ports',
      body: { host: 'myregistry.azurecr.io', port: 22 },
      expected: { decision: 'blocked', reason: 'port_not_allowed', port: 22 },
    },
    { name: 'blocks an IP literal', body: { host: '0x7f.1' }, expected: { decision: 'blocked', reason: 'ip_literal' } },
    {
      name: 'blocks a different SNI',
      body: { host: 'myregistry.azurecr.io', sni: 'other.azurecr.io' },
      expected: { decision: 'blocked', reason: 'sni_mismatch', sni: 'other.azurecr.io' },
    },
    {
      name: 'blocks a missing SNI when sni is null',
      body: { host: 'myregistry.azurecr.io', sni: null },
      expected: { decision: 'blocked', reason: 'sni_missing' },
    },
    {
      name: 'normalises the host',
      body: { host: 'MyRegistry.AzureCR.io.' },
      expected: { decision: 'allowed', host: 'myregistry.azurecr.io' },
    },
    {
      name: 'resolves when asked and takes the first address the policy accepts',
      body: { host: 'myregistry.azurecr.io', resolve: true },
      expected: { decision: 'allowed', ip: '127.0.0.2', tag: 'AzureContainerRegistry.EastUS' },
    },
    {
      name: 'resolves and reports the first refusal when no address passes',
      body: { host: 'mcr.microsoft.com', resolve: true },
      expected: { decision: 'blocked', reason: 'private_destination', ip: '10.0.0.1' },
    },
    {
      name: 'does not resolve a host no rule allows',
      body: { host: 'myregistry.westus.data.azurecr.io', resolve: true },
      expected: { decision: 'blocked', reason: 'host_not_allowed' },
    },
    {
      name: 'reports dns_failure when DNS fails',
      body: { host: 'acct.blob.core.windows.net', resolve: true },
      expected: { decision: 'blocked', reason: 'dns_failure' },
    },
    {
      name: 'uses ip instead of DNS when both are given',
      body: { host: 'myregistry.azurecr.io', ip: '127.0.0.3', resolve: true },
      expected: { decision: 'blocked', reason: 'ip_not_in_service_tag', ip: '127.0.0.3' },
    },
    {
      name: 'checks SNI after resolving',
      body: { host: 'myregistry.azurecr.io', resolve: true, sni: 'x.azurecr.io' },
      expected: { decision: 'blocked', reason: 'sni_mismatch' },
    },
  ])('$name', async ({ body, expected }) => {
    const { status, json } = await check(body);
    expect(status).toBe(200);
    expect(json).toMatchObject({ mode: 'check', bytesUp: null, bytesDown: null, durationMs: null, ...expected });
    expect(json.id).toMatch(/^[0-9A-Z]{26}$/);
  });

  it('records nothing and counts nothing', async () => {
    await check({ host: 'evil.example.org' });
    expect(fake.store.size).toBe(0);
    expect(await fake.deps.metrics.text()).not.toMatch(/acr_egress_decisions_total\{/);
  });

  it('checks the client against proxy.clients', async () => {
    const local = fakeDeps({ loaded: testLoaded({}, { proxy: { clients: ['10.0.0.0/8'] } }) });
    const localApp = createAdminApp(local.deps);
    const post = (client: string) =>
      localApp.inject({
        method: 'POST',
        url: '/api/v1/check',
        headers: auth(),
        payload: { host: 'myregistry.azurecr.io', client },
      });
    expect((await post('10.1.2.3')).json()).toMatchObject({ decision: 'allowed', client: '10.1.2.3' });
    expect((await post('192.168.0.1')).json()).toMatchObject({ decision: 'blocked', reason: 'client_not_allowed' });
    await localApp.close();
  });

  it('answers 501 for resolve when the gateway offers no DNS', async () => {
    const local = fakeDeps();
    delete local.deps.resolve;
    const localApp = createAdminApp(local.deps);
    const res = await localApp.inject({
      method: 'POST',
      url: '/api/v1/check',
      headers: auth(),
      payload: { host: 'myregistry.azurecr.io', resolve: true },
    });
    expect(res.statusCode).toBe(501);
    expect(res.json().error).toBe('resolve_unavailable');
    await localApp.close();
  });

  it.each([
    { body: {}, param: 'host' },
    { body: { host: '' }, param: 'host' },
    { body: { host: 'a.example.com', port: 70000 }, param: 'port' },
    { body: { host: 'a.example.com', port: 'https' }, param: 'port' },
    { body: { host: 'a.example.com', ip: 'not-an-ip' }, param: 'ip' },
    { body: { host: 'a.example.com', client: 'somebody' }, param: 'client' },
    { body: { host: 'a.example.com', resolve: 'yes please' }, param: 'resolve' },
    { body: { host: 'a.example.com', token: 'x' }, param: 'token' },
  ])('answers 400 naming $param for $body', async ({ body, param }) => {
    const { status, json } = await check(body);
    expect(status).toBe(400);
    expect(json.error).toBe('bad_request');
    expect(json.message).toContain(param);
  });

  it.each([
    {
      name: 'a body that is not JSON',
      payload: '{"host":',
      type: 'application/json',
      status: 400,
      error: 'bad_request',
    },
    {
      name: 'a body of another media type',
      payload: '<host>a</host>',
      type: 'application/xml',
      status: 415,
      error: 'unsupported_media_type',
    },
    {
      name: 'a body over 64 KiB',
      payload: JSON.stringify({ host: 'a'.repeat(70_000) }),
      type: 'application/json',
      status: 413,
      error: 'payload_too_large',
    },
  ])('answers $status for $name', async ({ payload, type, status, error }) => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/check',
      headers: { ...auth(), 'content-type': type },
      payload,
    });
    expect(res.statusCode).toBe(status);
    expect(res.json().error).toBe(error);
  });
});
