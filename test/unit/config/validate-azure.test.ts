// Validation that knows Azure: regions against the service-tag data (or the built-in list), the
// cloud against the source, one human message per mistake with a suggestion, all of them at once.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigChecked } from '../../../src/config/check.js';
import { SERVICE_TAG_DOWNLOAD_PAGE } from '../../../src/config/cloud.js';
import { buildConfig, loadConfigFile } from '../../../src/config/load.js';
import { AcrEgressError } from '../../../src/errors.js';
import { buildServiceTagIndex } from '../../../src/service-tags/index.js';
import { parseServiceTags } from '../../../src/service-tags/parse.js';
import { serviceTagBytes } from '../../helpers/service-tag-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-azure-'));

function problems(raw: unknown, options: Parameters<typeof buildConfig>[3] = {}): string[] {
  try {
    buildConfig(raw, 'test.yaml', new Map(), options);
  } catch (err) {
    expect(err).toBeInstanceOf(AcrEgressError);
    return [...(err as AcrEgressError).details];
  }
  return [];
}

describe('regions', () => {
  it('catches the `westeurop` typo with a suggestion (config validate used to answer "valid")', () => {
    expect(problems({ registries: [{ name: 'myregistry', regions: ['eastus', 'westeurop'] }] })).toEqual([
      'registries[0].regions[1]: `westeurop`: unknown Azure region (built-in list); did you mean `westeurope`?',
    ]);
  });

  it('checks the regions of az acr show-endpoints output, inline and from endpointsFile', () => {
    const file = join(dir, 'endpoints.json');
    writeFileSync(
      file,
      JSON.stringify({
        loginServer: 'contoso.azurecr.io',
        dataEndpoints: [{ region: 'westus22', endpoint: 'contoso.westus22.data.azurecr.io' }],
      }),
    );
    const got = problems({
      registries: [
        {
          loginServer: 'fabrikam.azurecr.io',
          dataEndpoints: [{ region: 'eastsu', endpoint: 'fabrikam.eastsu.data.azurecr.io' }],
        },
        { endpointsFile: file },
      ],
    });
    expect(got).toEqual([
      'registries[0].dataEndpoints[0].region: `eastsu`: unknown Azure region (built-in list); did you mean `eastus`?',
      `registries[1].endpointsFile(${file}).dataEndpoints[0].region: \`westus22\`: unknown Azure region (built-in list); did you mean \`westus2\`?`,
    ]);
  });

  it("maps the service-tag file's own spelling (centralfrance) to the ARM name ACR uses", () => {
    const loaded = buildConfig(
      { registries: [{ name: 'myregistry', regions: ['centralfrance', 'WestEurope'] }] },
      null,
    );
    expect(loaded.registries[0]).toMatchObject({ regions: ['francecentral', 'westeurope'] });
  });

  it('checks against the loaded service-tag data when there is some', async () => {
    const index = buildServiceTagIndex(parseServiceTags(serviceTagBytes()));
    const file = join(dir, 'regions.json');
    writeFileSync(
      file,
      JSON.stringify({ registries: [{ name: 'myregistry', regions: ['norwayeast', 'norwayeats'] }] }),
    );
    const err = await loadConfigChecked(file, {}, async () => index).catch((e: AcrEgressError) => e);
    expect((err as AcrEgressError).details).toEqual([
      'registries[0].regions[1]: `norwayeats`: unknown Azure region (service-tag data, change 375); did you mean `norwayeast`?',
    ]);
    // A region the data knows is accepted even if the built-in list were to lack it.
    const knows = { regionCatalog: () => ({ names: new Map([['newregion9', 'newregion9']]), from: 'data' }) };
    writeFileSync(file, JSON.stringify({ registries: [{ name: 'myregistry', regions: ['newregion9'] }] }));
    expect((await loadConfigChecked(file, {}, async () => knows)).loaded.registries[0]?.regions).toEqual([
      'newregion9',
    ]);
  });
});

describe('cloud and source', () => {
  it('refuses cloud AzureUSGovernment with the Public download page', () => {
    expect(
      problems({
        cloud: 'AzureUSGovernment',
        registries: [{ name: 'myregistry', regions: ['usgovvirginia'] }],
        serviceTags: { source: SERVICE_TAG_DOWNLOAD_PAGE.AzureCloud },
      }),
    ).toEqual([
      `serviceTags.source: ${SERVICE_TAG_DOWNLOAD_PAGE.AzureCloud} is the service-tag download page of AzureCloud, but cloud is AzureUSGovernment: use ${SERVICE_TAG_DOWNLOAD_PAGE.AzureUSGovernment} (or leave serviceTags.source out)`,
    ]);
  });

  it('refuses a ServiceTags_Public file for AzureChinaCloud', () => {
    const got = problems({
      cloud: 'AzureChinaCloud',
      serviceTags: { source: '/data/ServiceTags_Public_20251106.json' },
    });
    expect(got).toEqual([
      'serviceTags.source: /data/ServiceTags_Public_20251106.json is a Public service-tag file, but cloud AzureChinaCloud needs ServiceTags_China_<date>.json',
    ]);
  });

  it("takes the cloud's own download page when serviceTags.source is left out", () => {
    const loaded = buildConfig({ cloud: 'AzureUSGovernment', serviceTags: { enforce: true } }, null);
    expect(loaded.config.serviceTags.source).toBe(SERVICE_TAG_DOWNLOAD_PAGE.AzureUSGovernment);
  });
});

describe('messages', () => {
  it('suggests the key meant by an unknown one', () => {
    expect(problems({ proxy: { lisen: '0.0.0.0:3128' } })).toEqual([
      'proxy: unknown key "lisen"; did you mean "listen"?',
    ]);
    expect(problems({ serviceTag: {} })).toEqual(['(root): unknown key "serviceTag"; did you mean "serviceTags"?']);
  });

  it('suggests the key meant inside a registry entry', () => {
    expect(problems({ registries: [{ nmae: 'myregistry' }] })).toEqual([
      'registries[0]: unknown key "nmae"; did you mean "name"?',
    ]);
    expect(problems({ registries: [{ loginSever: 'myregistry.azurecr.io' }] })).toEqual([
      'registries[0]: unknown key "loginSever"; did you mean "loginServer"?',
    ]);
    expect(problems({ registries: [{ name: 'myregistry', inspcet: true }] })).toEqual([
      'registries[0]: unknown key "inspcet"; did you mean "inspect"?',
    ]);
  });

  it('reports serviceTags.enforce once, not once per union branch', () => {
    expect(problems({ serviceTags: { enforce: 'yes' } })).toEqual([
      'serviceTags.enforce: `yes`: must be one of true, false, "when-available"',
    ]);
  });

  it('names the rule a registry name breaks, in words', () => {
    expect(problems({ registries: [{ name: 'my-registry' }] })).toEqual([
      'registries[0].name: `my-registry` is not a valid ACR name: 5-50 letters and digits',
    ]);
  });

  it('reports token problems together with the others', () => {
    const got = problems({ mode: 'nope', proxy: { lisen: 'x' }, admin: { token: 'short' } });
    expect(got).toEqual(
      expect.arrayContaining([
        'mode: `nope`: must be one of "enforce", "report"',
        'proxy: unknown key "lisen"; did you mean "listen"?',
        'admin.token: must be at least 16 characters',
      ]),
    );
    expect(got).toHaveLength(3);
  });

  it('refuses an admin API on 0.0.0.0 with no token (serve refused it, validate did not)', () => {
    expect(problems({ admin: { listen: '0.0.0.0:9128' } })).toEqual([
      'admin.listen: 0.0.0.0:9128 is not a loopback address and no admin token is configured: set admin.token, admin.tokenFile or admin.tokens, or listen on 127.0.0.1',
    ]);
  });
});

describe('relative paths', () => {
  it('resolves endpointsFile, tokenFile, cacheFile and log.file against the config file, not the cwd', () => {
    const sub = join(dir, 'etc', 'acr-egress');
    mkdirSync(join(sub, 'secrets'), { recursive: true });
    writeFileSync(
      join(sub, 'endpoints.json'),
      JSON.stringify({
        loginServer: 'contoso.azurecr.io',
        dataEndpoints: [{ region: 'eastus', endpoint: 'contoso.eastus.data.azurecr.io' }],
      }),
    );
    writeFileSync(join(sub, 'secrets', 'token'), 'a-real-token-0123456789abcdef\n');
    const file = join(sub, 'acr-egress.yaml');
    writeFileSync(
      file,
      [
        'registries: [{ endpointsFile: ./endpoints.json }]',
        'serviceTags: { source: null, cacheFile: cache/tags.json }',
        'admin: { tokenFile: secrets/token }',
        'log: { file: ../audit.log }',
      ].join('\n'),
    );
    const loaded = loadConfigFile(file, {});
    expect(loaded.registries[0]?.name).toBe('contoso');
    expect(loaded.adminTokens.get('default')).toBe('a-real-token-0123456789abcdef');
    expect(loaded.config.serviceTags.cacheFile).toBe(join(sub, 'cache', 'tags.json'));
    expect(loaded.config.admin.tokenFile).toBe(join(sub, 'secrets', 'token'));
    expect(loaded.config.log.file).toBe(join(dir, 'etc', 'audit.log'));
  });

  it('leaves URLs and absolute paths alone', () => {
    const loaded = buildConfig(
      { serviceTags: { source: 'https://example.net/x.json', cacheFile: '/var/x.json' } },
      'a/b.yaml',
    );
    expect(loaded.config.serviceTags).toMatchObject({ source: 'https://example.net/x.json', cacheFile: '/var/x.json' });
  });
});
