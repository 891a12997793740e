// The resolver against a real DNS server on loopback: overrides first, TTL-bounded cache, negative
// caching, coalesced concurrent lookups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostResolver, type ResolverOptions } from '../../../src/proxy/resolver.js';
import { startDnsServer, type TestDnsServer } from '../../helpers/dns-server.js';

let dns: TestDnsServer;
beforeAll(async () => {
  dns = await startDnsServer({
    'myregistry.azurecr.io': { addresses: ['20.1.2.3', '2603:1000::5'], ttl: 60 },
    'short.azurecr.io': { addresses: ['20.1.2.4'], ttl: 0 },
    'long.azurecr.io': { addresses: ['20.1.2.5'], ttl: 86400 },
  });
});
afterAll(() => dns?.close());

function resolver(extra: Partial<ResolverOptions> = {}): HostResolver {
  return new HostResolver({
    overrides: {},
    servers: [dns.address],
    timeoutMs: 1000,
    cacheSize: 100,
    minTtlSeconds: 5,
    maxTtlSeconds: 300,
    ...extra,
  });
}

const count = (name: string): number => dns.queries.filter((q) => q.startsWith(`${name}/`)).length;

describe('HostResolver', () => {
  it('returns IPv4 then IPv6 addresses from DNS and caches them', async () => {
    const r = resolver();
    expect(await r.resolve('myregistry.azurecr.io')).toEqual({
      ok: true,
      addresses: ['20.1.2.3', '2603:1000::5'],
      source: 'dns',
    });
    const before = count('myregistry.azurecr.io');
    expect(await r.resolve('myregistry.azurecr.io')).toMatchObject({ ok: true, source: 'cache' });
    expect(count('myregistry.azurecr.io')).toBe(before);
    expect(r.hits).toBe(1);
    expect(r.misses).toBe(1);
  });

  it('consults dns.overrides before DNS and sends no query', async () => {
    const r = resolver({ overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } });
    const before = dns.queries.length;
    expect(await r.resolve('myregistry.azurecr.io')).toEqual({
      ok: true,
      addresses: ['127.0.0.2'],
      source: 'override',
    });
    expect(dns.queries.length).toBe(before);
  });

  it('coalesces concurrent lookups of one name into one query per type', async () => {
    const r = resolver();
    const before = count('long.azurecr.io');
    const results = await Promise.all(Array.from({ length: 20 }, () => r.resolve('long.azurecr.io')));
    expect(results.every((x) => x.ok)).toBe(true);
    expect(count('long.azurecr.io') - before).toBe(2); // one A, one AAAA
  });

  it('keeps a TTL-0 answer for minTtlSeconds rather than querying per connection', async () => {
    const r = resolver({ minTtlSeconds: 5 });
    await r.resolve('short.azurecr.io');
    const before = count('short.azurecr.io');
    await r.resolve('short.azurecr.io');
    expect(count('short.azurecr.io')).toBe(before);
  });

  it('does not cache when the TTL bounds are zero', async () => {
    const r = resolver({ minTtlSeconds: 0, maxTtlSeconds: 0 });
    await r.resolve('myregistry.azurecr.io');
    const before = count('myregistry.azurecr.io');
    await r.resolve('myregistry.azurecr.io');
    expect(count('myregistry.azurecr.io')).toBe(before + 2);
  });

  it('reports an unknown name as a failure with its code, and caches the failure briefly', async () => {
    const r = resolver();
    const first = await r.resolve('nope.azurecr.io');
    expect(first).toMatchObject({ ok: false, code: 'ENOTFOUND' });
    const before = count('nope.azurecr.io');
    expect((await r.resolve('nope.azurecr.io')).ok).toBe(false);
    expect(count('nope.azurecr.io')).toBe(before);
  });

  it('fails fast with a code when the resolver refuses the connection', async () => {
    const r = resolver({ servers: ['127.0.0.1:1'], timeoutMs: 300 });
    const res = await r.resolve('myregistry.azurecr.io');
    expect(res.ok).toBe(false);
  });
});
