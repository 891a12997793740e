// mcr: {inspect: true} inspects mcr.microsoft.com like a registry (its data hosts stay tunnelled):
// the mcr:login rule carries MCR as its registry, and its cache key turns the layer cache on for MCR.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { cacheWanted } from '../../../src/cache/open-cache.js';
import { buildConfig } from '../../../src/config/load.js';
import { createCa } from '../../../src/tls/ca.js';
import { Inspector } from '../../../src/inspect/inspector.js';
import { compileRules } from '../../../src/policy/rules.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-mcr-inspect-'));
const ca = createCa('mcr inspect CA');
writeFileSync(join(dir, 'ca.crt'), ca.certPem);
writeFileSync(join(dir, 'ca.key'), ca.keyPem);
const inspect = { caCertFile: join(dir, 'ca.crt'), caKeyFile: join(dir, 'ca.key') };

describe('mcr inspection', () => {
  it('inspects mcr:login, not mcr:data, when mcr.inspect is true', () => {
    const loaded = buildConfig({ mcr: { inspect: true, cache: true, pullOnly: true }, inspect }, null);
    const inspector = new Inspector(loaded, pino({ level: 'silent' }));
    const rules = compileRules(loaded);
    const login = rules.match('mcr.microsoft.com');
    expect(login?.rule.registry).toMatchObject({ name: 'mcr', inspect: true, cache: true, pullOnly: true });
    expect(inspector.claims(login)).toBe(true);
    expect(inspector.claims(rules.match('eastus.data.mcr.microsoft.com'))).toBe(false);
    expect(inspector.status().registries).toEqual(['mcr']);
    expect(cacheWanted(loaded)).toBe(true);
    inspector.close();
  });

  it('leaves MCR tunnelled with mcr: true', () => {
    const loaded = buildConfig({ mcr: true, inspect }, null);
    const inspector = new Inspector(loaded, pino({ level: 'silent' }));
    expect(inspector.claims(compileRules(loaded).match('mcr.microsoft.com'))).toBe(false);
    expect(cacheWanted(loaded)).toBe(false);
    inspector.close();
  });
});
