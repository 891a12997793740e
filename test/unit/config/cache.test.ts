// The cache keys at config load: cache.dir relative to the config file, cache: true only with
// inspect: true (for registries and MCR), and the object form of mcr.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, loadConfigFile } from '../../../src/config/load.js';
import { resolveMcr } from '../../../src/config/mcr.js';
import { isAcrEgressError } from '../../../src/errors.js';
import { createCa } from '../../../src/tls/ca.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-config-'));
const ca = createCa('cache config CA');
const caCertFile = join(dir, 'ca.crt');
const caKeyFile = join(dir, 'ca.key');
writeFileSync(caCertFile, ca.certPem);
writeFileSync(caKeyFile, ca.keyPem);
const inspect = { caCertFile, caKeyFile };

function problems(raw: Record<string, unknown>): string[] {
  try {
    buildConfig(raw, null);
    return [];
  } catch (err) {
    if (isAcrEgressError(err)) return [...err.details];
    throw err;
  }
}

describe('cache config', () => {
  it('defaults cache.dir to data/cache beside the config file, 20 GiB, 1 MiB smallest blob', () => {
    const file = join(dir, 'acr-egress.yaml');
    writeFileSync(file, 'registries: [{name: myregistry}]\n');
    const { config } = loadConfigFile(file);
    expect(config.cache).toEqual({ dir: join(dir, 'data', 'cache'), maxBytes: 20 * 2 ** 30, minBlobBytes: 2 ** 20 });
  });

  it('resolves cache: true on an inspected registry', () => {
    const loaded = buildConfig({ registries: [{ name: 'myregistry', inspect: true, cache: true }], inspect }, null);
    expect(loaded.registries[0]).toMatchObject({ inspect: true, cache: true });
  });

  it('reads mcr as true, false or an object', () => {
    expect(resolveMcr(true)).toMatchObject({ enabled: true, inspect: false, cache: false });
    expect(resolveMcr(false).enabled).toBe(false);
    const loaded = buildConfig(
      { mcr: { inspect: true, cache: true, pullOnly: true, repositories: ['dotnet/**'] }, inspect },
      null,
    );
    expect(resolveMcr(loaded.config.mcr)).toEqual({
      enabled: true,
      inspect: true,
      cache: true,
      pullOnly: true,
      repositories: ['dotnet/**'],
    });
  });

  const cases: { name: string; raw: Record<string, unknown>; problem: RegExp }[] = [
    {
      name: 'cache: true on a registry that is not inspected',
      raw: { registries: [{ name: 'myregistry', cache: true }] },
      problem: /^registries\(myregistry\)\.cache: needs inspect: true \(a cached layer is served only after/,
    },
    {
      name: 'mcr cache: true without inspect',
      raw: { mcr: { cache: true } },
      problem: /^mcr\.cache: needs inspect: true/,
    },
    {
      name: 'mcr inspect: true without a CA',
      raw: { mcr: { inspect: true } },
      problem: /^inspect\.caCertFile: mcr has inspect: true/,
    },
    { name: 'an unknown mcr key', raw: { mcr: { caching: true } }, problem: /^mcr/ },
    { name: 'a cache smaller than 1 MiB', raw: { mcr: true, cache: { maxBytes: 10 } }, problem: /^cache\.maxBytes/ },
    {
      name: 'a negative minBlobBytes',
      raw: { mcr: true, cache: { minBlobBytes: -1 } },
      problem: /^cache\.minBlobBytes/,
    },
  ];
  it.each(cases)('refuses $name with a clear problem', ({ raw, problem }) => {
    const found = problems(raw);
    expect(
      found.some((p) => problem.test(p)),
      found.join('\n'),
    ).toBe(true);
  });
});
