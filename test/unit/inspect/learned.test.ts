// Blob hosts learned from redirects: the table (per client, bounded, expiring, kept across a reload
// that keeps the registry) and the pure host check that reads it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { createCa } from '../../../src/tls/ca.js';
import { LearnedHosts } from '../../../src/inspect/learned-hosts.js';
import { checkAddress, checkRequest } from '../../../src/policy/decide.js';
import { compilePolicy } from '../../../src/policy/snapshot.js';
import { buildServiceTagIndex } from '../../../src/service-tags/index.js';
import { parseServiceTags } from '../../../src/service-tags/parse.js';
import { serviceTagsJson } from '../../helpers/tags.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-learned-'));
const ca = createCa('learned CA');
writeFileSync(join(dir, 'ca.crt'), ca.certPem);
writeFileSync(join(dir, 'ca.key'), ca.keyPem);
const index = buildServiceTagIndex(
  parseServiceTags(
    serviceTagsJson([
      { name: 'AzureContainerRegistry', prefixes: ['20.1.0.0/16'] },
      { name: 'Storage', systemService: 'AzureStorage', prefixes: ['52.1.0.0/16'] },
      { name: 'Storage.EastUS', region: 'eastus', systemService: 'AzureStorage', prefixes: ['52.1.0.0/16'] },
    ]),
  ),
);
const policy = compilePolicy(
  buildConfig(
    {
      registries: [{ name: 'myregistry', regions: ['eastus'], inspect: true, pullOnly: true, blobStorage: 'learned' }],
      inspect: { caCertFile: join(dir, 'ca.crt'), caKeyFile: join(dir, 'ca.key') },
      serviceTags: { enforce: true, source: null, cacheFile: null },
    },
    null,
  ),
  index,
);

describe('the host check with learned blob hosts', () => {
  const learned = new LearnedHosts(600, 100);
  learned.learn('10.0.0.5', 'account1.blob.core.windows.net', 'myregistry');
  const check = (client: string, host: string) => checkRequest(policy, { client, host, port: 443 }, learned);

  it('allows the learned host for the client it was learned for, under the blob-learned rule with Storage tags', () => {
    const r = check('10.0.0.5', 'account1.blob.core.windows.net');
    expect(r.decision).toMatchObject({ allowed: true, rule: 'registry:myregistry:blob-learned' });
    expect(checkAddress(policy, r.match, '52.1.0.9')).toMatchObject({ allowed: true, tag: 'Storage.EastUS' });
    expect(checkAddress(policy, r.match, '20.1.0.9')).toMatchObject({
      allowed: false,
      reason: 'ip_not_in_service_tag',
    });
  });

  const refused: [string, string, RegExp][] = [
    ['10.0.0.6', 'account1.blob.core.windows.net', /no registry redirected client 10\.0\.0\.6 there/],
    ['10.0.0.5', 'attacker.blob.core.windows.net', /no registry redirected client 10\.0\.0\.5 there/],
    ['10.0.0.5', 'a.b.blob.core.windows.net', /^no rule allows a\.b\.blob\.core\.windows\.net$/],
  ];
  it.each(refused)('refuses %s -> %s with host_not_allowed', (client, host, detail) => {
    const r = check(client, host);
    expect(r.decision).toMatchObject({ allowed: false, reason: 'host_not_allowed' });
    expect(r.decision.detail).toMatch(detail);
  });

  it('without the table (a learning registry, nothing learned) the wildcard stays closed', () => {
    expect(
      checkRequest(policy, { client: '10.0.0.5', host: 'account1.blob.core.windows.net', port: 443 }).decision,
    ).toMatchObject({ allowed: false, reason: 'host_not_allowed' });
  });
});

describe('LearnedHosts', () => {
  it('is bounded: the least recently learned entry goes first', () => {
    const t = new LearnedHosts(600, 2);
    t.learn('c', 'a1.blob.core.windows.net', 'r');
    t.learn('c', 'a2.blob.core.windows.net', 'r');
    t.learn('c', 'a3.blob.core.windows.net', 'r');
    expect(
      t
        .list()
        .map((e) => e.host)
        .sort(),
    ).toEqual(['a2.blob.core.windows.net', 'a3.blob.core.windows.net']);
  });

  it('keeps entries of registries that still learn across a reconfigure, and drops the others', () => {
    const t = new LearnedHosts(600, 10);
    t.learn('c', 'a1.blob.core.windows.net', 'kept');
    t.learn('c', 'a2.blob.core.windows.net', 'gone');
    t.reconfigure(300, 10, new Set(['kept']));
    expect(t.list()).toEqual([expect.objectContaining({ host: 'a1.blob.core.windows.net', registry: 'kept' })]);
    expect(t.registryFor('c', 'a1.blob.core.windows.net')).toBe('kept');
    expect(t.registryFor('c', 'a2.blob.core.windows.net')).toBeNull();
    expect(t.registryFor(null, 'a1.blob.core.windows.net')).toBeNull();
  });
});
