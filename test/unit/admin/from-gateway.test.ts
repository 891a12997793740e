// adminDepsFromGateway: the admin API's view of a real Gateway (not listening): config, tokens,
// readiness, service tags through the manager, and metrics fed from its recorder and tunnel events.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDepsFromGateway } from '../../../src/admin/from-gateway.js';
import type { AdminDeps } from '../../../src/admin/deps.js';
import { allow } from '../../../src/policy/decide.js';
import { Gateway } from '../../../src/gateway.js';
import { tagIndex } from './fake-deps.js';

let gateway: Gateway;
let deps: AdminDeps;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-admin-gw-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      registries: [{ name: 'myregistry', regions: ['eastus'] }],
      serviceTags: { enforce: true, source: null, cacheFile: null },
      admin: { listen: null, tokens: [{ name: 'ci', token: 'ci-token-0123456789abc' }], metricsAuth: true },
      dns: { overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
      log: { level: 'silent', file: join(dir, 'audit.log') },
    }),
  );
  gateway = await Gateway.create({ configFile, logger: pino({ level: 'silent' }), tags: tagIndex });
  deps = adminDepsFromGateway(gateway);
});

afterAll(() => gateway.stop());

describe('adminDepsFromGateway', () => {
  it('reads config, policy, tokens and metricsAuth from the gateway', () => {
    expect(deps.store).toBe(gateway.store);
    expect(deps.policy()).toBe(gateway.policy);
    expect(deps.config()).toBe(gateway.config);
    expect([...deps.tokens().keys()]).toEqual(['ci']);
    expect(deps.metricsAuth()).toBe(true);
  });

  it('is not ready before the proxy listens', () => {
    expect(deps.ready()).toEqual({ ok: false, reasons: ['the proxy is not listening'] });
  });

  it('answers service-tag status and lookups through the manager', async () => {
    expect(deps.tags.status()).toMatchObject({ changeNumber: 42, cloud: 'Public' });
    expect(deps.tags.lookup('127.0.0.4')).toEqual(['MicrosoftContainerRegistry']);
    const after = await deps.tags.refresh(); // source null: refused, the data in use kept
    expect(after.changeNumber).toBe(42);
    expect(after.lastError).toMatch(/serviceTags\.source is null/);
  });

  it('resolves through the gateway resolver (dns.overrides first)', async () => {
    expect(await deps.resolve?.('myregistry.azurecr.io')).toMatchObject({ ok: true, addresses: ['127.0.0.2'] });
  });

  it('counts every record the gateway writes and its tunnel events, latencies included', async () => {
    gateway.recorder.record({
      mode: 'connect',
      client: '10.0.0.5',
      host: 'myregistry.azurecr.io',
      port: 443,
      decision: allow('registry:myregistry:login'),
    });
    gateway.tunnelEvents.opened();
    gateway.tunnelEvents.decided?.(0.002);
    gateway.tunnelEvents.helloWaited?.(0.01);
    gateway.tunnelEvents.closed(10, 20);
    const text = await deps.metrics.text();
    expect(text).toContain(
      'acr_egress_decisions_total{decision="allowed",reason="none",rule="registry:myregistry:login"} 1',
    );
    expect(text).toContain('acr_egress_tunnel_bytes_total{direction="down"} 20');
    expect(text).toContain('acr_egress_decision_duration_seconds_count 1');
    expect(text).toContain('acr_egress_client_hello_wait_seconds_count 1');
    expect(text).toContain('acr_egress_service_tags_change_number 42');
    expect(text).toContain('acr_egress_dns_cache_hits_total 0');
  });

  it('reloads through the gateway', async () => {
    expect(await deps.reload()).toEqual({ ok: true, version: gateway.config.version, changed: false });
  });
});
