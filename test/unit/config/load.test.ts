// Config loading: defaults, environment substitution, every problem reported with its path, registries.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, configPath, loadConfigFile } from '../../../src/config/load.js';
import { AcrEgressError } from '../../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function problems(raw: unknown): string[] {
  try {
    buildConfig(raw, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(AcrEgressError);
    expect((err as AcrEgressError).code).toBe('CONFIG_INVALID');
    expect((err as AcrEgressError).exitCode).toBe(2);
    return [...(err as AcrEgressError).details];
  }
  return [];
}

/** The inspection fields of a registry that does not inspect. */
const NOT_INSPECTED = { blobLearned: false, inspect: false, pullOnly: false, repositories: null, cache: false };

describe('valid configs', () => {
  it('fills every default from a minimal config', () => {
    const loaded = buildConfig({ registries: [{ name: 'myregistry' }] }, null);
    expect(loaded.config.proxy).toMatchObject({
      listen: '0.0.0.0:3128',
      ports: [443],
      clients: [],
      maxConnections: 20000,
    });
    expect(loaded.config.serviceTags.enforce).toBe(true);
    expect(loaded.config.admin.listen).toBe('127.0.0.1:9128');
    expect(loaded.registries).toEqual([
      {
        name: 'myregistry',
        regions: [],
        dataEndpoints: ['*'],
        regionalEndpoints: [],
        blobStorage: true,
        blobLearned: false,
        inspect: false,
        pullOnly: false,
        repositories: null,
        cache: false,
      },
    ]);
    expect(Object.isFrozen(loaded.config)).toBe(true);
  });

  it('lower-cases registry names (ACR matches them case-insensitively)', () => {
    expect(
      buildConfig({ registries: [{ name: 'MyRegistry', regions: ['EastUS'] }] }, null).registries[0],
    ).toMatchObject({ name: 'myregistry', regions: ['eastus'] });
  });

  it('accepts az acr show-endpoints output inline', () => {
    const loaded = buildConfig(
      {
        registries: [
          {
            loginServer: 'contoso.azurecr.io',
            dataEndpoints: [
              { region: 'eastus', endpoint: 'contoso.eastus.data.azurecr.io' },
              { region: 'westus', endpoint: 'contoso.westus.data.azurecr.io' },
            ],
            regionalEndpoints: [{ region: 'eastus', endpoint: 'contoso.eastus.geo.azurecr.io' }],
          },
        ],
      },
      null,
    );
    expect(loaded.registries[0]).toEqual({
      name: 'contoso',
      regions: ['eastus', 'westus'],
      dataEndpoints: ['eastus', 'westus'],
      regionalEndpoints: ['eastus'],
      blobStorage: false,
      ...NOT_INSPECTED,
    });
  });

  it('reads show-endpoints output from endpointsFile, where *.blob means blob storage', () => {
    const f = file(
      'endpoints.json',
      JSON.stringify({
        loginServer: 'contoso.azurecr.io',
        dataEndpoints: [{ region: 'eastus', endpoint: '*.blob.core.windows.net' }],
      }),
    );
    const loaded = buildConfig({ registries: [{ endpointsFile: f }] }, null);
    expect(loaded.registries[0]).toEqual({
      name: 'contoso',
      regions: ['eastus'],
      dataEndpoints: [],
      regionalEndpoints: [],
      blobStorage: true,
      ...NOT_INSPECTED,
    });
  });

  it('substitutes ${VAR} and ${VAR:-default} from the environment', () => {
    const f = file(
      'env.yaml',
      'registries:\n  - name: ${REG}\n  - name: ${REG2:-fallback1}\nadmin:\n  token: ${TOKEN}\n',
    );
    const loaded = loadConfigFile(f, { REG: 'fromenv1', TOKEN: 'a-long-admin-token-123' });
    expect(loaded.registries.map((r) => r.name)).toEqual(['fromenv1', 'fallback1']);
    expect(loaded.adminTokens.get('default')).toBe('a-long-admin-token-123');
  });

  it('treats an unset token variable as no token', () => {
    const f = file('notoken.yaml', 'registries: [{name: myregistry}]\nadmin:\n  token: ${NOPE_NOT_SET}\n');
    expect(loadConfigFile(f, {}).adminTokens.size).toBe(0);
  });

  it('reads JSON as well as YAML', () => {
    const f = file('c.json', JSON.stringify({ registries: [{ name: 'myregistry' }], mode: 'report' }));
    expect(loadConfigFile(f, {}).config.mode).toBe('report');
  });

  it('loads the shipped default config on a fresh machine', () => {
    const loaded = loadConfigFile('config/acr-egress.yaml', {});
    expect(loaded.registries).toEqual([]); // ACR_REGISTRY unset: only MCR
    expect(loaded.config.mcr).toBe(true);
    expect(loaded.config.serviceTags.enforce).toBe('when-available');
    expect(loaded.config.serviceTags.cacheFile).toBe(join(process.cwd(), 'data', 'service-tags.json'));
    expect(loaded.config.audit).toMatchObject({ store: 'embedded', dir: join(process.cwd(), 'data', 'store') });
  });

  it('keeps history in the embedded store at ./data/store next to the config file by default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-audit-default-'));
    const file = join(dir, 'acr-egress.yaml');
    writeFileSync(file, 'registries: [{name: myregistry}]\n');
    expect(loadConfigFile(file, {}).config.audit).toMatchObject({ store: 'embedded', dir: join(dir, 'data', 'store') });
    rmSync(dir, { recursive: true, force: true });
  });

  it('picks --config, then ACR_EGRESS_CONFIG, then the default', () => {
    expect(configPath('a.yaml', { ACR_EGRESS_CONFIG: 'b.yaml' })).toBe('a.yaml');
    expect(configPath(undefined, { ACR_EGRESS_CONFIG: 'b.yaml' })).toBe('b.yaml');
    expect(configPath(undefined, {})).toBe('config/acr-egress.yaml');
  });
});

describe('invalid configs report every problem with its path', () => {
  const cases: [string, unknown, string[]][] = [
    [
      'a registry name that breaks the ACR rule',
      { registries: [{ name: 'my-reg' }] },
      ['registries[0].name: `my-reg` is not a valid ACR name: 5-50 letters and digits'],
    ],
    ['a short registry name', { registries: [{ name: 'abc' }] }, ['registries[0].name: `abc` is not a valid ACR name']],
    ['an unknown key', { registries: [{ name: 'myregistry' }], proxy: { lisen: '1' } }, ['proxy: unknown key "lisen"']],
    [
      'an unknown mode',
      { registries: [{ name: 'myregistry' }], mode: 'audit' },
      ['mode: `audit`: must be one of "enforce", "report"'],
    ],
    [
      'a port out of range',
      { registries: [{ name: 'myregistry' }], proxy: { ports: [0, 70000] } },
      ['proxy.ports[0]: must be >= 1', 'proxy.ports[1]: must be <= 65535'],
    ],
    [
      'a bad CIDR',
      { registries: [{ name: 'myregistry' }], proxy: { clients: ['10.0.0.0/33'] } },
      ['proxy.clients: "10.0.0.0/33" is not a valid CIDR'],
    ],
    [
      'a bad allowPrivate entry',
      { registries: [{ name: 'myregistry' }], network: { allowPrivate: ['nope'] } },
      ['network.allowPrivate:'],
    ],
    [
      'a wildcard in the middle',
      { registries: [{ name: 'myregistry' }], allow: ['a.*.com'] },
      ['allow[0]: "a.*.com" may use * only'],
    ],
    [
      'a too-wide wildcard',
      { registries: [{ name: 'myregistry' }], allow: ['*.com'] },
      ['allow[0]: "*.com" is too wide'],
    ],
    [
      'an IP in allow',
      { registries: [{ name: 'myregistry' }], allow: ['10.0.0.1'] },
      ['allow[0]: "10.0.0.1" is not a host name'],
    ],
    [
      'a registry entry of no known shape',
      { registries: [{ url: 'x' }] },
      ['registries[0]: must be an object with "name"'],
    ],
    [
      'a duplicate registry',
      { registries: [{ name: 'myregistry' }, { name: 'MyRegistry' }] },
      ['registries[1]: registry "myregistry" is already configured at registries[0]'],
    ],
    [
      'a login server of another cloud',
      { registries: [{ loginServer: 'contoso.azurecr.cn' }] },
      ['registries[0].loginServer: "contoso.azurecr.cn" is not a login server'],
    ],
    [
      'regional endpoints without regions',
      { registries: [{ name: 'myregistry', regionalEndpoints: true }] },
      ['registries[0].regionalEndpoints: needs registries[0].regions'],
    ],
    [
      'a short admin token',
      { registries: [{ name: 'myregistry' }], admin: { token: 'short' } },
      ['admin.token: must be at least 16 characters'],
    ],
    [
      'a bad override address',
      { registries: [{ name: 'myregistry' }], dns: { overrides: { 'myregistry.azurecr.io': ['not-an-ip'] } } },
      ['dns.overrides["myregistry.azurecr.io"][0]: "not-an-ip" is not an IP address'],
    ],
    ['nothing allowed at all', { mcr: false }, ['registries: nothing is allowed']],
    [
      'a bad listen address',
      { registries: [{ name: 'myregistry' }], proxy: { listen: 'localhost' } },
      ['proxy.listen: `localhost` is not address:port'],
    ],
    [
      'a wrong type',
      { registries: [{ name: 'myregistry' }], serviceTags: { enforce: 'yes' } },
      ['serviceTags.enforce: `yes`: must be one of true, false, "when-available"'],
    ],
  ];
  it.each(cases)('reports %s', (_name, raw, expected) => {
    const got = problems(raw);
    for (const e of expected)
      expect(
        got.some((g) => g.startsWith(e)),
        `${e} in ${JSON.stringify(got)}`,
      ).toBe(true);
  });

  it('reports several problems at once', () => {
    expect(problems({ registries: [{ name: 'x' }], mode: 'nope', proxy: { ports: [] } }).length).toBeGreaterThanOrEqual(
      3,
    );
  });

  it('names the unset environment variable', () => {
    const f = file('unset.yaml', 'proxy:\n  listen: ${PROXY_LISTEN_UNSET_FOR_TEST}\n');
    try {
      loadConfigFile(f, {});
      expect.unreachable();
    } catch (err) {
      expect((err as AcrEgressError).details).toContain(
        'proxy.listen: environment variable PROXY_LISTEN_UNSET_FOR_TEST is not set',
      );
    }
  });

  it('leaves out a registry named by an unset variable (the default config with no ACR_REGISTRY)', () => {
    const f = file('unset-registry.yaml', 'registries:\n  - name: ${ACR_REGISTRY_UNSET_FOR_TEST}\n');
    const loaded = loadConfigFile(f, {});
    expect(loaded.registries).toEqual([]);
    expect(loaded.skippedRegistries).toEqual([{ path: 'registries[0]', variable: 'ACR_REGISTRY_UNSET_FOR_TEST' }]);
  });

  it('refuses YAML that does not parse, with the parser message', () => {
    const f = file('broken.yaml', 'registries: [\n  - name: x\n');
    expect(() => loadConfigFile(f, {})).toThrow(/not valid YAML or JSON/);
  });

  it('shows the line of a YAML syntax error with a caret under the column', () => {
    const f = file('frame.yaml', 'mode: enforce\nregistries:\n  - name: myregistry: x\n');
    try {
      loadConfigFile(f, {});
      expect.unreachable();
    } catch (err) {
      const detail = (err as { details: string[] }).details[0] ?? '';
      expect(detail.split('\n  ')).toEqual([
        'Nested mappings are not allowed in compact mappings at line 3, column 11',
        '2 | registries:',
        '3 |   - name: myregistry: x',
        '  |           ^',
      ]);
    }
  });

  it('refuses duplicate keys', () => {
    const f = file('dup.yaml', 'mode: enforce\nmode: report\nregistries: [{name: myregistry}]\n');
    expect(() => loadConfigFile(f, {})).toThrow(/not valid YAML/);
  });

  it('says a missing file cannot be read (exit 2)', () => {
    try {
      loadConfigFile(join(dir, 'missing.yaml'), {});
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'CONFIG_UNREADABLE', exitCode: 2 });
      expect((err as Error).message).toContain('ENOENT');
    }
  });
});
