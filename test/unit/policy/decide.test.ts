// The policy engine from values: host rules, look-alikes, ports, addresses, service tags, SNI, report mode.
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { checkAddress, checkRequest, checkSni, evaluate } from '../../../src/policy/decide.js';
import { compilePolicy } from '../../../src/policy/snapshot.js';
import { buildServiceTagIndex } from '../../../src/service-tags/index.js';
import { parseServiceTags } from '../../../src/service-tags/parse.js';
import { serviceTagsJson, type TestTag } from '../../helpers/tags.js';

const TAGS: TestTag[] = [
  { name: 'AzureContainerRegistry', prefixes: ['20.1.0.0/16', '20.2.0.0/16', '2603:1000::/32'] },
  {
    name: 'AzureContainerRegistry.EastUS',
    region: 'eastus',
    systemService: 'AzureContainerRegistry',
    prefixes: ['20.1.0.0/16', '2603:1000::/32'],
  },
  {
    name: 'AzureContainerRegistry.WestUS',
    region: 'westus',
    systemService: 'AzureContainerRegistry',
    prefixes: ['20.2.0.0/16'],
  },
  { name: 'Storage', systemService: 'AzureStorage', prefixes: ['52.1.0.0/16', '52.2.0.0/16'] },
  { name: 'Storage.EastUS', region: 'eastus', systemService: 'AzureStorage', prefixes: ['52.1.0.0/16'] },
  { name: 'Storage.WestUS', region: 'westus', systemService: 'AzureStorage', prefixes: ['52.2.0.0/16'] },
  { name: 'MicrosoftContainerRegistry', prefixes: ['40.1.0.0/16'] },
  { name: 'AzureFrontDoor.FirstParty', systemService: 'AzureFrontDoor', prefixes: ['13.107.0.0/16'] },
];
const index = buildServiceTagIndex(parseServiceTags(serviceTagsJson(TAGS)));

function policy(extra: Record<string, unknown> = {}, tags: typeof index | null = index) {
  const loaded = buildConfig(
    {
      registries: [
        { name: 'MyRegistry', regions: ['eastus'], regionalEndpoints: true },
        { name: 'other12345', blobStorage: false },
      ],
      allow: ['login.microsoftonline.com', '*.example.org'],
      serviceTags: { enforce: true, source: null, cacheFile: null },
      admin: { listen: null },
      ...extra,
    },
    null,
    new Map(),
    { regions: null }, // the made-up regions of these tables are not Azure's
  );
  return compilePolicy(loaded, tags);
}

const p = policy();

describe('host rules', () => {
  const cases: [string, string | null, string | null][] = [
    // host, expected rule (null = host_not_allowed), expected reason when not null-rule blocked
    ['myregistry.azurecr.io', 'registry:myregistry:login', null],
    ['MyRegistry.AzureCR.io.', 'registry:myregistry:login', null],
    ['myregistry.eastus.data.azurecr.io', 'registry:myregistry:data:eastus', null],
    ['myregistry.westus.data.azurecr.io', null, 'host_not_allowed'],
    ['myregistry.eastus.geo.azurecr.io', 'registry:myregistry:geo:eastus', null],
    ['other12345.azurecr.io', 'registry:other12345:login', null],
    ['other12345.anyregion.data.azurecr.io', 'registry:other12345:data:anyregion', null],
    ['other12345.a.b.data.azurecr.io', null, 'host_not_allowed'],
    ['evil.anyregion.data.azurecr.io', null, 'host_not_allowed'],
    ['account1.blob.core.windows.net', 'registry:myregistry:blob', null],
    ['a.b.blob.core.windows.net', null, 'host_not_allowed'],
    ['blob.core.windows.net', null, 'host_not_allowed'],
    ['mcr.microsoft.com', 'mcr:login', null],
    ['eastus.data.mcr.microsoft.com', 'mcr:data', null],
    ['x.y.data.mcr.microsoft.com', null, 'host_not_allowed'],
    ['login.microsoftonline.com', 'allow:login.microsoftonline.com', null],
    ['www.example.org', 'allow:*.example.org', null],
    ['example.org', null, 'host_not_allowed'],
    ['a.www.example.org', null, 'host_not_allowed'],
    // look-alikes
    ['evilmyregistry.azurecr.io', null, 'host_not_allowed'],
    ['myregistry.azurecr.io.evil.com', null, 'host_not_allowed'],
    ['myregistry-azurecr.io', null, 'host_not_allowed'],
    ['myregistry.azurecr.io.', 'registry:myregistry:login', null],
    ['myregistry.azurecr.io..', null, 'bad_request'],
    ['myregistrу.azurecr.io', null, 'host_not_allowed'], // Cyrillic у: punycode, not our registry
    ['xn--myregistr-0of.azurecr.io', null, 'host_not_allowed'],
    ['myregistry.azurecr.io%00.evil.com', null, 'bad_request'],
    ['user@myregistry.azurecr.io', null, 'bad_request'],
    ['myregistry.azurecr.io\\.evil.com', null, 'bad_request'],
    ['my registry.azurecr.io', null, 'bad_request'],
    ['*.azurecr.io', null, 'bad_request'],
    ['', null, 'bad_request'],
    // IP literals in any form
    ['127.0.0.1', null, 'ip_literal'],
    ['2130706433', null, 'ip_literal'],
    ['0x7f.1', null, 'ip_literal'],
    ['0177.0.0.1', null, 'ip_literal'],
    ['[::1]', null, 'ip_literal'],
    ['[::ffff:127.0.0.1]', null, 'ip_literal'],
    ['169.254.169.254', null, 'ip_literal'],
  ];
  it.each(cases)('%s -> rule %s / reason %s', (host, rule, reason) => {
    const r = checkRequest(p, { client: '10.0.0.5', host, port: 443 });
    if (rule !== null) {
      expect(r.decision).toMatchObject({ allowed: true, rule, reason: null });
    } else {
      expect(r.decision).toMatchObject({ allowed: false, reason });
    }
  });

  it('blocks port 80 with port_not_allowed before matching the host', () => {
    expect(checkRequest(p, { client: null, host: 'myregistry.azurecr.io', port: 80 }).decision).toMatchObject({
      allowed: false,
      reason: 'port_not_allowed',
    });
  });

  it('lists the effective rules with their tag selectors', () => {
    const ids = p.rules.list.map((r) => r.id);
    expect(ids).toEqual([
      'registry:myregistry:login',
      'registry:myregistry:geo:eastus',
      'registry:myregistry:data:eastus',
      'registry:myregistry:blob',
      'registry:other12345:login',
      'registry:other12345:data:*',
      'mcr:login',
      'mcr:data',
      'allow:login.microsoftonline.com',
      'allow:*.example.org',
    ]);
  });
});

describe('clients', () => {
  it('blocks a client outside proxy.clients with client_not_allowed', () => {
    const q = policy({ proxy: { clients: ['10.0.0.0/8', '::ffff:192.168.0.0/112'] } });
    expect(checkRequest(q, { client: '172.16.0.1', host: 'myregistry.azurecr.io', port: 443 }).decision.reason).toBe(
      'client_not_allowed',
    );
    expect(checkRequest(q, { client: '10.9.9.9', host: 'myregistry.azurecr.io', port: 443 }).decision.allowed).toBe(
      true,
    );
    expect(
      checkRequest(q, { client: '::ffff:10.9.9.9', host: 'myregistry.azurecr.io', port: 443 }).decision.allowed,
    ).toBe(true);
    expect(checkRequest(q, { client: null, host: 'myregistry.azurecr.io', port: 443 }).decision.reason).toBe(
      'client_not_allowed',
    );
  });
});

describe('destination addresses', () => {
  const login = checkRequest(p, { client: null, host: 'myregistry.azurecr.io', port: 443 }).match;
  const blob = checkRequest(p, { client: null, host: 'acct.blob.core.windows.net', port: 443 }).match;
  const data = checkRequest(p, { client: null, host: 'myregistry.eastus.data.azurecr.io', port: 443 }).match;
  const mcr = checkRequest(p, { client: null, host: 'mcr.microsoft.com', port: 443 }).match;
  const afd = checkRequest(p, { client: null, host: 'eastus.data.mcr.microsoft.com', port: 443 }).match;
  const anyRegion = checkRequest(p, { client: null, host: 'other12345.westus.data.azurecr.io', port: 443 }).match;
  const allowRule = checkRequest(p, { client: null, host: 'login.microsoftonline.com', port: 443 }).match;
  const cases: [string, typeof login, string, string | null, string | null][] = [
    ['login server in its region tag', login, '20.1.2.3', null, 'AzureContainerRegistry.EastUS'],
    ['login server IPv6 in its region tag', login, '2603:1000::5', null, 'AzureContainerRegistry.EastUS'],
    ['login server outside its regions', login, '20.2.0.1', 'ip_not_in_service_tag', null],
    ['login server on a storage address', login, '52.1.0.1', 'ip_not_in_service_tag', null],
    ['blob in scoped storage', blob, '52.1.9.9', null, 'Storage.EastUS'],
    ['blob in another region', blob, '52.2.9.9', 'ip_not_in_service_tag', null],
    ['data endpoint on storage', data, '52.1.0.7', null, 'Storage.EastUS'],
    ['data endpoint on ACR', data, '20.1.0.7', null, 'AzureContainerRegistry.EastUS'],
    ['any-region data endpoint on global ACR', anyRegion, '20.2.0.7', null, 'AzureContainerRegistry'],
    ['mcr', mcr, '40.1.1.1', null, 'MicrosoftContainerRegistry'],
    ['mcr data via front door', afd, '13.107.1.1', null, 'AzureFrontDoor.FirstParty'],
    ['mcr data outside front door', afd, '40.1.1.1', 'ip_not_in_service_tag', null],
    ['allow rule: no tag check', allowRule, '8.8.8.8', null, null],
    ['loopback', login, '127.0.0.1', 'private_destination', null],
    ['RFC1918', login, '10.1.1.1', 'private_destination', null],
    ['CGNAT', login, '100.64.0.1', 'private_destination', null],
    ['metadata service', login, '169.254.169.254', 'private_destination', null],
    ['IPv4-mapped loopback', login, '::ffff:127.0.0.1', 'private_destination', null],
    ['IPv6 loopback', login, '::1', 'private_destination', null],
    ['ULA', login, 'fd00::1', 'private_destination', null],
    ['multicast', login, '224.0.0.1', 'private_destination', null],
    ['unspecified', login, '0.0.0.0', 'private_destination', null],
    ['allow rule still refuses private', allowRule, '192.168.1.1', 'private_destination', null],
  ];
  it.each(cases)('%s: %s', (_name, match, ip, reason, tag) => {
    const d = checkAddress(p, match, ip);
    if (reason === null) expect(d).toMatchObject({ allowed: true, tag });
    else expect(d).toMatchObject({ allowed: false, reason });
  });

  it('exempts network.allowPrivate from the private block but still checks tags', () => {
    const q = policy({ network: { allowPrivate: ['10.0.0.0/8'] } });
    const m = checkRequest(q, { client: null, host: 'myregistry.azurecr.io', port: 443 }).match;
    expect(checkAddress(q, m, '10.1.1.1')).toMatchObject({ allowed: false, reason: 'ip_not_in_service_tag' });
    const allowM = checkRequest(q, { client: null, host: 'login.microsoftonline.com', port: 443 }).match;
    expect(checkAddress(q, allowM, '10.1.1.1')).toMatchObject({ allowed: true });
  });

  it('blocks with service_tags_unavailable when enforcement is on and no tags are loaded', () => {
    const q = policy({}, null);
    const m = checkRequest(q, { client: null, host: 'myregistry.azurecr.io', port: 443 }).match;
    expect(checkAddress(q, m, '20.1.2.3')).toMatchObject({ allowed: false, reason: 'service_tags_unavailable' });
  });

  it('allows and marks tagsUnenforced with enforce when-available and no tags', () => {
    const q = policy({ serviceTags: { enforce: 'when-available', source: null, cacheFile: null } }, null);
    const m = checkRequest(q, { client: null, host: 'myregistry.azurecr.io', port: 443 }).match;
    expect(checkAddress(q, m, '20.1.2.3')).toMatchObject({ allowed: true, tagsUnenforced: true });
  });

  it('enforces tags with when-available once tags are loaded', () => {
    const q = policy({ serviceTags: { enforce: 'when-available', source: null, cacheFile: null } });
    const m = checkRequest(q, { client: null, host: 'myregistry.azurecr.io', port: 443 }).match;
    expect(checkAddress(q, m, '8.8.8.8')).toMatchObject({ allowed: false, reason: 'ip_not_in_service_tag' });
  });

  it('skips the tag check with enforce false but keeps the private block', () => {
    const q = policy({ serviceTags: { enforce: false, source: null, cacheFile: null } });
    const m = checkRequest(q, { client: null, host: 'myregistry.azurecr.io', port: 443 }).match;
    expect(checkAddress(q, m, '8.8.8.8')).toMatchObject({ allowed: true, tag: null });
    expect(checkAddress(q, m, '10.0.0.1')).toMatchObject({ allowed: false, reason: 'private_destination' });
  });

  it('blocks only the rule whose region has no tag, with service_tags_unavailable naming the tag', () => {
    const q = policy({ registries: [{ name: 'myregistry', regions: ['nowhere1'] }] });
    const m = checkRequest(q, { client: null, host: 'myregistry.azurecr.io', port: 443 }).match;
    const d = checkAddress(q, m, '20.1.2.3');
    expect(d).toMatchObject({ allowed: false, reason: 'service_tags_unavailable' });
    expect(d.detail).toContain('AzureContainerRegistry.nowhere1');
    // MCR's tags are present: its rule keeps checking its ranges.
    const mcr = checkRequest(q, { client: null, host: 'mcr.microsoft.com', port: 443 }).match;
    expect(checkAddress(q, mcr, '40.1.2.3')).toMatchObject({ allowed: true, tag: 'MicrosoftContainerRegistry' });
    expect(checkAddress(q, mcr, '20.1.2.3')).toMatchObject({ allowed: false, reason: 'ip_not_in_service_tag' });
  });

  it('with when-available, leaves only the rule lacking its tag unchecked (marked), not every rule', () => {
    const q = policy({
      registries: [{ name: 'myregistry', regions: ['nowhere1'] }],
      serviceTags: { enforce: 'when-available', source: null, cacheFile: null },
    });
    const m = checkRequest(q, { client: null, host: 'myregistry.azurecr.io', port: 443 }).match;
    expect(checkAddress(q, m, '20.1.2.3')).toMatchObject({ allowed: true, tagsUnenforced: true });
    const mcr = checkRequest(q, { client: null, host: 'mcr.microsoft.com', port: 443 }).match;
    expect(checkAddress(q, mcr, '20.1.2.3')).toMatchObject({ allowed: false, reason: 'ip_not_in_service_tag' });
  });
});

describe('SNI', () => {
  const cases: [string | null, string | null][] = [
    ['myregistry.azurecr.io', null],
    ['MYREGISTRY.azurecr.io.', null],
    [null, 'sni_missing'],
    ['', 'sni_missing'],
    ['other12345.azurecr.io', 'sni_mismatch'],
    ['myregistry.azurecr.io.evil.com', 'sni_mismatch'],
    ['127.0.0.1', 'sni_mismatch'],
  ];
  it.each(cases)('SNI %s for myregistry.azurecr.io -> %s', (sni, reason) => {
    const d = checkSni(p, 'myregistry.azurecr.io', sni, 'registry:myregistry:login');
    if (reason === null) expect(d.allowed).toBe(true);
    else expect(d).toMatchObject({ allowed: false, reason, rule: 'registry:myregistry:login' });
  });
});

describe('Encrypted Client Hello', () => {
  it('refuses an ECH hello with sni_mismatch: its real server name is hidden', () => {
    expect(checkSni(p, 'myregistry.azurecr.io', 'myregistry.azurecr.io', null, true)).toMatchObject({
      allowed: false,
      reason: 'sni_mismatch',
    });
  });
  it('lets an ECH hello through with proxy.allowEch', () => {
    expect(
      checkSni(policy({ proxy: { allowEch: true } }), 'myregistry.azurecr.io', 'myregistry.azurecr.io', null, true)
        .allowed,
    ).toBe(true);
  });
});

describe('report mode', () => {
  const q = policy({ mode: 'report' });
  it('lets host_not_allowed through with report and the reason', () => {
    expect(evaluate(q, { host: 'evil.example.com', ip: '8.8.8.8', sni: 'evil.example.com' }).decision).toMatchObject({
      allowed: true,
      report: true,
      reason: 'host_not_allowed',
    });
  });
  it('keeps the first would-be reason across stages', () => {
    expect(
      evaluate(q, { host: 'myregistry.azurecr.io', port: 8443, ip: '10.0.0.1', sni: 'other' }).decision,
    ).toMatchObject({
      allowed: true,
      report: true,
      reason: 'port_not_allowed',
    });
  });
  it('still refuses what cannot be let through (bad_request)', () => {
    expect(evaluate(q, { host: 'bad host' }).decision).toMatchObject({ allowed: false, reason: 'bad_request' });
  });
  it('carries the tag of an allowed address', () => {
    expect(
      evaluate(q, { host: 'myregistry.azurecr.io', ip: '20.1.0.1', sni: 'myregistry.azurecr.io' }).decision,
    ).toMatchObject({
      allowed: true,
      report: false,
      reason: null,
      tag: 'AzureContainerRegistry.EastUS',
      rule: 'registry:myregistry:login',
    });
  });
});

describe('sovereign clouds', () => {
  it('uses azurecr.cn, blob.core.chinacloudapi.cn and mcr.azure.cn in AzureChinaCloud', () => {
    const q = policy({ cloud: 'AzureChinaCloud' });
    expect(evaluate(q, { host: 'myregistry.azurecr.cn' }).decision.rule).toBe('registry:myregistry:login');
    expect(evaluate(q, { host: 'acct.blob.core.chinacloudapi.cn' }).decision.rule).toBe('registry:myregistry:blob');
    expect(evaluate(q, { host: 'mcr.azure.cn' }).decision.rule).toBe('mcr:login');
    expect(evaluate(q, { host: 'x.data.mcr.azure.cn' }).decision.rule).toBe('mcr:data');
    expect(evaluate(q, { host: 'myregistry.azurecr.io' }).decision.reason).toBe('host_not_allowed');
  });
  it('uses azurecr.us and blob.core.usgovcloudapi.net in AzureUSGovernment', () => {
    const q = policy({ cloud: 'AzureUSGovernment' });
    expect(evaluate(q, { host: 'myregistry.azurecr.us' }).decision.rule).toBe('registry:myregistry:login');
    expect(evaluate(q, { host: 'acct.blob.core.usgovcloudapi.net' }).decision.rule).toBe('registry:myregistry:blob');
  });
});
