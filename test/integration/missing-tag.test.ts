// Degrade per rule, never globally: the real service-tag file, loaded at runtime with the one tag a
// rule needs taken out. That rule is blocked with service_tags_unavailable naming the tag; every
// other rule keeps enforcing its ranges; the log, /api/v1/service-tags and a metric name both.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApp } from '../../src/admin/app-types.js';
import { createAdminApp } from '../../src/admin/app.js';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { Gateway } from '../../src/gateway.js';
import { evaluate } from '../../src/policy/decide.js';
import { serviceTagText } from '../helpers/service-tag-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-missing-'));
const logs: Array<Record<string, unknown>> = [];
let gateway: Gateway;
let app: AdminApp;
const real = JSON.parse(serviceTagText()) as {
  values: Array<{ name: string; properties: { addressPrefixes: string[] } }>;
};
// The first address of a tag's first IPv4 prefix: inside that tag, so inside the rule's ranges.
const firstAddress = (name: string): string =>
  real.values
    .find((v) => v.name === name)!
    .properties.addressPrefixes.find((p) => !p.includes(':'))!
    .split('/')[0]!;

beforeAll(async () => {
  const source = join(dir, 'ServiceTags_Public_20251106.json');
  const trimmed = { ...real, values: real.values.filter((v) => v.name !== 'AzureContainerRegistry.WestEurope') };
  writeFileSync(source, JSON.stringify(trimmed));
  const configFile = join(dir, 'acr-egress.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      registries: [
        { name: 'euregistry', regions: ['westeurope'], dataEndpoints: false, blobStorage: false },
        { name: 'usregistry', regions: ['eastus'], dataEndpoints: false, blobStorage: false },
      ],
      serviceTags: { enforce: true, source, cacheFile: null },
      admin: { listen: null },
      log: { level: 'warn' },
    }),
  );
  const log = pino(
    { level: 'warn' },
    { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) },
  );
  gateway = await Gateway.create({ configFile, logger: log });
  app = createAdminApp(adminDepsFromGateway(gateway), { anonymousWithoutToken: true });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app.close();
  await gateway.stop();
});

describe('a file lacking the tag of one rule', () => {
  it('loads the data for every rule (it used to be refused whole)', () => {
    expect(gateway.tags?.changeNumber).toBe(375);
  });

  it('blocks only that rule, with service_tags_unavailable naming the missing tag', () => {
    const ip = firstAddress('AzureContainerRegistry.EastUS');
    const { decision } = evaluate(gateway.policy, { host: 'euregistry.azurecr.io', ip });
    expect(decision).toMatchObject({
      allowed: false,
      reason: 'service_tags_unavailable',
      rule: 'registry:euregistry:login',
    });
    expect(decision.detail).toContain('AzureContainerRegistry.westeurope');
  });

  it('keeps enforcing the other rules against their ranges', () => {
    const us = firstAddress('AzureContainerRegistry.EastUS');
    expect(evaluate(gateway.policy, { host: 'usregistry.azurecr.io', ip: us }).decision).toMatchObject({
      allowed: true,
      tag: 'AzureContainerRegistry.EastUS',
    });
    const outside = firstAddress('AzureContainerRegistry.WestUS');
    expect(evaluate(gateway.policy, { host: 'usregistry.azurecr.io', ip: outside }).decision).toMatchObject({
      allowed: false,
      reason: 'ip_not_in_service_tag',
    });
    const mcr = firstAddress('MicrosoftContainerRegistry');
    expect(evaluate(gateway.policy, { host: 'mcr.microsoft.com', ip: mcr }).decision).toMatchObject({ allowed: true });
  });

  it('names the rule and the tag in the log, the API and the metrics', async () => {
    expect(logs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'registry:euregistry:login', tag: 'AzureContainerRegistry.westeurope' }),
      ]),
    );
    const status = await app.inject({ method: 'GET', url: '/api/v1/service-tags' });
    expect(status.json().missing).toEqual([
      { rule: 'registry:euregistry:login', tag: 'AzureContainerRegistry.westeurope' },
    ]);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain(
      'acr_egress_service_tags_missing{rule="registry:euregistry:login",tag="AzureContainerRegistry.westeurope"} 1',
    );
  });
});
