// The gateway's own egress: the service-tag download goes through serviceTags.proxy (or the
// environment's HTTPS_PROXY, minus NO_PROXY) and resolves names through dns.servers, as a
// locked-down network requires. Seen from the proxy's log and the DNS server's queries.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { ruleTagNeeds } from '../../src/policy/tag-needs.js';
import { ServiceTagManager } from '../../src/service-tags/manager.js';
import { startConnectProxy, type ConnectProxy } from '../helpers/connect-proxy.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startFakeMicrosoft, type FakeMicrosoft } from '../helpers/fake-microsoft.js';
import { testConfig } from '../helpers/gateway.js';
import { loopbackTags, serviceTagsJson } from '../helpers/tags.js';

let fake: FakeMicrosoft;
let proxy: ConnectProxy;
let dns: TestDnsServer;
const fakeAuthority = () => new URL(fake.origin).host;

beforeAll(async () => {
  fake = await startFakeMicrosoft();
  fake.publish(serviceTagsJson(loopbackTags(), 5));
  proxy = await startConnectProxy();
  dns = await startDnsServer({ localhost: { addresses: ['127.0.0.1'], ttl: 60 } });
});

afterAll(async () => {
  await fake.close();
  await proxy.close();
  await dns.close();
});

function manager(
  source: string,
  extra: { proxy?: string | null; servers?: string[]; enforce?: boolean | 'when-available'; log?: pino.Logger },
  env: NodeJS.ProcessEnv,
) {
  return new ServiceTagManager({
    config: buildConfig(
      testConfig({
        serviceTags: { enforce: extra.enforce ?? true, source, cacheFile: null, proxy: extra.proxy ?? null },
        dns: { servers: extra.servers ?? [], timeoutMs: 2000 },
      }),
      null,
    ),
    needs: ruleTagNeeds,
    log: extra.log ?? pino({ level: 'silent' }),
    env,
  });
}

describe('the service-tag download', () => {
  it('goes through serviceTags.proxy: every request is a CONNECT in the proxy log', async () => {
    const before = proxy.log.length;
    const r = await manager(fake.detailsUrl(), { proxy: proxy.url }, {}).refresh();
    expect(r.ok, r.ok ? '' : r.error).toBe(true);
    const seen = proxy.log.slice(before).map((e) => e.authority);
    expect(seen.length).toBeGreaterThanOrEqual(2); // the page, then the file
    expect(new Set(seen)).toEqual(new Set([fakeAuthority()]));
  });

  it("takes HTTPS_PROXY from the gateway's environment when serviceTags.proxy is not set", async () => {
    const before = proxy.log.length;
    const r = await manager(fake.jsonUrl, {}, { HTTPS_PROXY: proxy.url }).refresh();
    expect(r.ok).toBe(true);
    expect(proxy.log.slice(before).map((e) => e.authority)).toEqual([fakeAuthority()]);
  });

  it('honours NO_PROXY for that proxy', async () => {
    const before = proxy.log.length;
    const r = await manager(fake.jsonUrl, {}, { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }).refresh();
    expect(r.ok).toBe(true);
    expect(proxy.log.length).toBe(before);
  });

  it('fails, keeping no data, when the proxy refuses (the download never goes around it)', async () => {
    proxy.refuseWith = 403;
    const m = manager(fake.jsonUrl, { proxy: proxy.url }, {});
    const r = await m.refresh();
    proxy.refuseWith = null;
    expect(r.ok).toBe(false);
    expect(m.index).toBeNull();
  });

  it('resolves names through dns.servers, not the system resolver', async () => {
    const url = fake.jsonUrl.replace('127.0.0.1', 'localhost');
    const r = await manager(url, { servers: [dns.address] }, {}).refresh();
    expect(r.ok, r.ok ? '' : r.error).toBe(true);
    expect(dns.queries).toContain('localhost/A');
  });

  it.each([
    { enforce: 'when-available' as const, now: 'no data yet: ranges are NOT enforced' },
    { enforce: true, now: 'no data yet: every rule that needs service tags is BLOCKED' },
  ])(
    'says a first download failed on DNS, that no data is in use and what to do (enforce $enforce)',
    async ({ enforce, now }) => {
      const lines: Array<Record<string, unknown>> = [];
      const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
      // The test DNS server knows no www.microsoft.com: the name fails there, and nothing leaves loopback.
      const m = manager(
        'https://www.microsoft.com/en-us/download/details.aspx?id=56519',
        { servers: [dns.address], enforce, log },
        {},
      );
      const r = await m.refresh();
      expect(r.ok).toBe(false);
      expect(m.index).toBeNull();
      const line = lines.find((l) => l.code === 'SERVICE_TAGS_FETCH_FAILED');
      expect(line).toMatchObject({ failure: 'download failed', inUse: null });
      expect(line?.msg).toMatch(
        /^service-tag download failed \(host name not resolved \(DNS ENOTFOUND www\.microsoft\.com\)\); /,
      );
      expect(line?.msg).toContain(`; ${now}; `);
      expect(line?.msg).toContain('serviceTags.proxy');
      expect(line?.msg).not.toMatch(/refused|keeping/);
    },
  );
});
