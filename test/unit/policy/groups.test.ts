// Client groups in the policy: which client (by address, by user, by both) may use which rule, the
// first matching group winning, a client outside every group refused, and no groups = as before.
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { checkRequest, evaluate } from '../../../src/policy/decide.js';
import { compilePolicy } from '../../../src/policy/snapshot.js';

function policy(extra: Record<string, unknown> = {}) {
  const loaded = buildConfig(
    {
      registries: [{ name: 'iotregistry', regions: ['eastus'] }, { name: 'buildregistry' }],
      mcr: true,
      allow: ['login.microsoftonline.com', '*.example.org'],
      serviceTags: { enforce: false, source: null, cacheFile: null },
      admin: { listen: null },
      clientGroups: [
        { name: 'iot-edge', cidrs: ['10.1.0.0/16'], registries: ['iotregistry'] },
        {
          name: 'build-agents',
          users: ['build-agent'],
          registries: ['IoTRegistry', 'buildregistry'],
          mcr: true,
          allow: ['login.microsoftonline.com'],
        },
        { name: 'ops-vpn', cidrs: ['10.9.0.0/16', 'fd00::/8'], users: ['alice'], allow: ['*.example.org'] },
      ],
      ...extra,
    },
    null,
  );
  return compilePolicy(loaded, null);
}

const p = policy();

type Case = [client: string | null, user: string | null, host: string, expected: string, detail?: string];

describe('client groups decide which rules a client may use', () => {
  const cases: Case[] = [
    // by CIDR
    ['10.1.2.3', null, 'iotregistry.azurecr.io', 'allowed registry:iotregistry:login'],
    ['10.1.2.3', null, 'iotregistry.eastus.data.azurecr.io', 'allowed registry:iotregistry:data:eastus'],
    ['10.1.2.3', null, 'layers.blob.core.windows.net', 'allowed registry:iotregistry:blob'],
    [
      '10.1.2.3',
      null,
      'buildregistry.azurecr.io',
      'client_not_allowed',
      'group iot-edge may not use registry:buildregistry:login',
    ],
    ['10.1.2.3', null, 'mcr.microsoft.com', 'client_not_allowed', 'group iot-edge may not use mcr:login'],
    [
      '10.1.2.3',
      null,
      'login.microsoftonline.com',
      'client_not_allowed',
      'group iot-edge may not use allow:login.microsoftonline.com',
    ],
    ['10.1.2.3', null, 'evilregistry.azurecr.io', 'host_not_allowed'],
    // the first matching group wins: this build agent sits in the IoT subnet
    [
      '10.1.2.3',
      'build-agent',
      'buildregistry.azurecr.io',
      'client_not_allowed',
      'group iot-edge may not use registry:buildregistry:login',
    ],
    // by user, from any address (or none known)
    ['192.168.5.5', 'build-agent', 'buildregistry.azurecr.io', 'allowed registry:buildregistry:login'],
    ['192.168.5.5', 'build-agent', 'iotregistry.azurecr.io', 'allowed registry:iotregistry:login'],
    ['192.168.5.5', 'build-agent', 'mcr.microsoft.com', 'allowed mcr:login'],
    ['192.168.5.5', 'build-agent', 'eastus.data.mcr.microsoft.com', 'allowed mcr:data'],
    ['192.168.5.5', 'build-agent', 'login.microsoftonline.com', 'allowed allow:login.microsoftonline.com'],
    ['192.168.5.5', 'build-agent', 'layers.blob.core.windows.net', 'allowed registry:iotregistry:blob'],
    [
      '192.168.5.5',
      'build-agent',
      'a.example.org',
      'client_not_allowed',
      'group build-agents may not use allow:*.example.org',
    ],
    [null, 'build-agent', 'buildregistry.azurecr.io', 'allowed registry:buildregistry:login'],
    ['192.168.5.5', 'Build-Agent', 'buildregistry.azurecr.io', 'client_not_allowed', 'matches no client group'],
    // by both: address and user must both match
    ['10.9.1.1', 'alice', 'a.example.org', 'allowed allow:*.example.org'],
    ['fd00::5', 'alice', 'a.example.org', 'allowed allow:*.example.org'],
    [
      '10.9.1.1',
      'alice',
      'iotregistry.azurecr.io',
      'client_not_allowed',
      'group ops-vpn may not use registry:iotregistry:login',
    ],
    ['10.9.1.1', null, 'a.example.org', 'client_not_allowed', 'client 10.9.1.1 matches no client group'],
    [
      '192.168.5.5',
      'alice',
      'a.example.org',
      'client_not_allowed',
      'client 192.168.5.5 (user alice) matches no client group',
    ],
    // no group at all
    ['172.16.0.1', null, 'iotregistry.azurecr.io', 'client_not_allowed', 'client 172.16.0.1 matches no client group'],
    [null, null, 'iotregistry.azurecr.io', 'client_not_allowed', 'client unknown matches no client group'],
  ];
  it.each(cases)('client %s user %s to %s: %s', (client, user, host, expected, detail) => {
    const { decision } = checkRequest(p, { client, user, host, port: 443 });
    const got = decision.allowed ? `allowed ${decision.rule}` : (decision.reason as string);
    expect(got).toBe(expected);
    if (detail !== undefined) expect(decision.detail).toContain(detail);
    if (expected === 'client_not_allowed' && detail?.startsWith('group ')) expect(decision.rule).not.toBeNull();
  });
});

describe('client groups with the rest of the policy', () => {
  it('changes nothing when no groups are configured', () => {
    const none = policy({ clientGroups: [] });
    expect(none.groups).toBeNull();
    for (const host of ['buildregistry.azurecr.io', 'mcr.microsoft.com', 'a.example.org'])
      expect(checkRequest(none, { client: '172.16.0.1', host, port: 443 }).decision.allowed).toBe(true);
  });

  it('applies proxy.clients first', () => {
    const clients = policy({ proxy: { clients: ['10.0.0.0/8'] } });
    const { decision } = checkRequest(clients, {
      client: '192.168.5.5',
      user: 'build-agent',
      host: 'buildregistry.azurecr.io',
      port: 443,
    });
    expect(decision).toMatchObject({ allowed: false, reason: 'client_not_allowed' });
    expect(decision.detail).toContain('proxy.clients');
  });

  it('lets a refusal through in report mode and records why', () => {
    const report = policy({ mode: 'report' });
    const { decision } = checkRequest(report, { client: '10.1.2.3', host: 'buildregistry.azurecr.io', port: 443 });
    expect(decision).toMatchObject({
      allowed: true,
      report: true,
      reason: 'client_not_allowed',
      rule: 'registry:buildregistry:login',
    });
  });

  it('grants a registry host named by an allow entry to a group naming that entry', () => {
    const viaAllow = policy({
      allow: ['buildregistry.azurecr.io'],
      clientGroups: [{ name: 'narrow', cidrs: ['10.0.0.0/8'], allow: ['BuildRegistry.azurecr.io.'] }],
    });
    const ok = checkRequest(viaAllow, { client: '10.1.1.1', host: 'buildregistry.azurecr.io', port: 443 });
    expect(ok.decision).toMatchObject({ allowed: true, rule: 'registry:buildregistry:login' });
    const no = checkRequest(viaAllow, { client: '10.1.1.1', host: 'iotregistry.azurecr.io', port: 443 });
    expect(no.decision.reason).toBe('client_not_allowed');
  });

  it('evaluates the later stages for a granted request (check and POST /api/v1/check)', () => {
    const r = evaluate(p, {
      client: '10.1.2.3',
      host: 'iotregistry.azurecr.io',
      sni: 'other.azurecr.io',
      ip: '20.1.2.3',
    });
    expect(r.decision.reason).toBe('sni_mismatch');
    expect(evaluate(p, { client: '10.1.2.3', user: null, host: 'buildregistry.azurecr.io' }).decision.reason).toBe(
      'client_not_allowed',
    );
  });
});
