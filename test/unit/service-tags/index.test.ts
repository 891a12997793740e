import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAcrEgressError } from '../../../src/errors.js';
import { buildServiceTagIndex } from '../../../src/service-tags/index.js';
import { loadServiceTagsFile } from '../../../src/service-tags/load-file.js';
import { RangeSet } from '../../../src/service-tags/range-set.js';
import type {
  ServiceTagIndex,
  ServiceTagsFile,
  ServiceTagValue,
  TagSelector,
} from '../../../src/service-tags/types.js';
import { serviceTagPath } from '../../helpers/service-tag-fixtures.js';

const REAL_FILE = serviceTagPath('ServiceTags_Public_20251106.json');

function tag(name: string, region: string, addressPrefixes: string[]): ServiceTagValue {
  return {
    name,
    id: name,
    properties: { changeNumber: 1, region, systemService: name.split('.')[0]!, addressPrefixes },
  };
}

// Mirrors the real file's quirks: regional names in two styles, regions spelled by Microsoft
// ("centralfrance", "norwaye"), and dotted tags with no region that are not regional variants.
const SAMPLE: ServiceTagsFile = {
  changeNumber: 375,
  cloud: 'Public',
  values: [
    tag('AzureContainerRegistry', '', ['20.42.66.0/24', '20.43.0.0/24', '2603:1030:210::/47']),
    tag('AzureContainerRegistry.EastUS', 'eastus', ['20.42.66.0/24', '2603:1030:210::/48']),
    tag('AzureContainerRegistry.EastUS2', 'eastus2', ['20.43.0.0/24']),
    tag('MicrosoftContainerRegistry', '', ['13.69.64.88/29', '2603:1020:805::/64']),
    tag('MicrosoftContainerRegistry.FranceCentral', 'centralfrance', ['13.69.64.88/29']),
    tag('MicrosoftContainerRegistry.NorwayEast', 'norwaye', ['2603:1020:805::/64']),
    tag('AzureCloud.eastus', 'eastus', ['20.42.0.0/16']),
    tag('AzureCloud', '', ['20.0.0.0/8', '13.0.0.0/8', '2603::/16']),
    tag('AzureFrontDoor.FirstParty', '', ['2.16.0.0/16']),
    tag('AzureFrontDoor.Frontend', '', ['4.0.0.0/16']),
  ],
};

describe('select', () => {
  const index = buildServiceTagIndex(SAMPLE);
  it.each<[TagSelector, string[], string]>([
    [{ base: 'AzureContainerRegistry' }, ['AzureContainerRegistry'], 'the base tag itself without regions'],
    [
      { base: 'AzureContainerRegistry', regions: [] },
      ['AzureContainerRegistry'],
      'the base tag itself with empty regions',
    ],
    [{ base: 'AzureFrontDoor.FirstParty' }, ['AzureFrontDoor.FirstParty'], 'a dotted tag by its exact name'],
    [{ base: 'AzureContainerRegistr' }, [], 'nothing for a name that is only a prefix of a tag'],
    [{ base: 'Nope' }, [], 'nothing for an unknown tag'],
    [
      { base: 'AzureContainerRegistry', regions: ['eastus'] },
      ['AzureContainerRegistry.EastUS'],
      'the region only, not eastus2',
    ],
    [
      { base: 'AzureContainerRegistry', regions: ['eastus', 'eastus2'] },
      ['AzureContainerRegistry.EastUS', 'AzureContainerRegistry.EastUS2'],
      'several regions in file order',
    ],
    [
      { base: 'AzureContainerRegistry', regions: ['EastUS'] },
      ['AzureContainerRegistry.EastUS'],
      'regions given in another case',
    ],
    [{ base: 'AzureContainerRegistry', regions: ['westus'] }, [], 'nothing for a region the tag lacks'],
    [
      { base: 'MicrosoftContainerRegistry', regions: ['francecentral'] },
      ['MicrosoftContainerRegistry.FranceCentral'],
      'by name suffix when the file spells the region centralfrance',
    ],
    [
      { base: 'MicrosoftContainerRegistry', regions: ['centralfrance'] },
      ['MicrosoftContainerRegistry.FranceCentral'],
      "by the file's own region spelling",
    ],
    [
      { base: 'MicrosoftContainerRegistry', regions: ['norwayeast'] },
      ['MicrosoftContainerRegistry.NorwayEast'],
      'by name suffix when the file spells the region norwaye',
    ],
    [{ base: 'AzureCloud', regions: ['eastus'] }, ['AzureCloud.eastus'], 'lower-case regional names'],
    [{ base: 'AzureFrontDoor', regions: ['firstparty', 'frontend'] }, [], 'no dotted tags without a region'],
    [{ base: 'AzureFrontDoor' }, [], 'nothing for a base with only dotted tags'],
  ])('%o -> %o (%s)', (selector, expected) => {
    expect(index.select(selector)).toEqual(expected);
  });
});

describe('lookups', () => {
  const index = buildServiceTagIndex(SAMPLE);
  it.each([
    ['20.42.66.1', ['AzureContainerRegistry', 'AzureContainerRegistry.EastUS', 'AzureCloud.eastus', 'AzureCloud']],
    ['20.43.0.255', ['AzureContainerRegistry', 'AzureContainerRegistry.EastUS2', 'AzureCloud']],
    ['2603:1030:211::1', ['AzureContainerRegistry', 'AzureCloud']],
    ['2603:1030:210::1', ['AzureContainerRegistry', 'AzureContainerRegistry.EastUS', 'AzureCloud']],
    ['::ffff:13.69.64.95', ['MicrosoftContainerRegistry', 'MicrosoftContainerRegistry.FranceCentral', 'AzureCloud']],
    ['8.8.8.8', []],
    ['not-an-ip', []],
  ])('tagsContaining(%s) lists %o in file order', (ip, expected) => {
    expect(index.tagsContaining(ip)).toEqual(expected);
  });

  it('answers rangesOf() by exact name', () => {
    expect(index.rangesOf('AzureContainerRegistry.EastUS')?.has('20.42.66.255')).toBe(true);
    expect(index.rangesOf('AzureContainerRegistry.EastUS')?.has('20.43.0.1')).toBe(false);
    expect(index.rangesOf('AzureContainerRegistry.EastUS')?.prefixCount).toBe(2);
    expect(index.rangesOf('azurecontainerregistry')).toBeUndefined();
  });

  it('unions the sets of selected tags with RangeSet.union', () => {
    const names = index.select({ base: 'AzureContainerRegistry', regions: ['eastus', 'eastus2'] });
    const union = RangeSet.union(names.map((n) => index.rangesOf(n)!));
    expect(['20.42.66.1', '20.43.0.1', '2603:1030:210::1'].map((ip) => union.has(ip))).toEqual([true, true, true]);
    expect(union.has('2603:1030:211::1')).toBe(false);
  });

  it('returns the raw value by exact name', () => {
    expect(index.value('AzureCloud.eastus')).toBe(SAMPLE.values[6]);
    expect(index.value('AzureCloud.EastUS')).toBeUndefined();
  });

  it('counts tags and prefixes and keeps the file identity', () => {
    expect([index.changeNumber, index.cloud, index.tagCount, index.prefixCount]).toEqual([375, 'Public', 10, 16]);
  });
});

describe('loadServiceTagsFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'acr-egress-tags-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads and indexes a file', async () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify(SAMPLE));
    const { file, index } = await loadServiceTagsFile(path);
    expect([file.values.length, index.select({ base: 'AzureCloud', regions: ['eastus'] })]).toEqual([
      10,
      ['AzureCloud.eastus'],
    ]);
  });

  it('throws SERVICE_TAGS_UNREADABLE naming a missing file', async () => {
    const path = join(dir, 'missing.json');
    const err = await loadServiceTagsFile(path).catch((e: unknown) => e);
    expect(isAcrEgressError(err, 'SERVICE_TAGS_UNREADABLE')).toBe(true);
    expect((err as Error).message).toBe(`cannot read service-tag file ${path}: ENOENT`);
  });

  it('throws SERVICE_TAGS_INVALID naming the file and the JSON path', async () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ ...SAMPLE, values: [tag('X', '', ['1.2.3.300/24'])] }));
    const err = await loadServiceTagsFile(path).catch((e: unknown) => e);
    expect(isAcrEgressError(err, 'SERVICE_TAGS_INVALID')).toBe(true);
    expect((err as Error).message).toBe(
      `${path}: service-tag file is invalid: values[0].properties.addressPrefixes[0]: "1.2.3.300/24" is not a valid IPv4 or IPv6 prefix`,
    );
  });
});

describe('the index of the real 20251106 file', () => {
  let index: ServiceTagIndex;
  let file: ServiceTagsFile;
  beforeAll(async () => {
    ({ file, index } = await loadServiceTagsFile(REAL_FILE));
  });

  it('counts 3,039 tags and 93,362 prefixes', () => {
    expect([index.changeNumber, index.tagCount, index.prefixCount]).toEqual([375, 3039, 93_362]);
  });

  it('has 1,146 prefixes in AzureContainerRegistry', () => {
    expect(index.rangesOf('AzureContainerRegistry')?.prefixCount).toBe(1146);
    expect(index.value('AzureContainerRegistry')?.properties.addressPrefixes).toHaveLength(1146);
  });

  it.each<[TagSelector, string[]]>([
    [{ base: 'AzureContainerRegistry', regions: ['eastus'] }, ['AzureContainerRegistry.EastUS']],
    [{ base: 'AzureContainerRegistry' }, ['AzureContainerRegistry']],
    [{ base: 'AzureFrontDoor.FirstParty' }, ['AzureFrontDoor.FirstParty']],
    [{ base: 'AzureFrontDoor', regions: ['eastus', 'firstparty'] }, []],
    [
      { base: 'MicrosoftContainerRegistry', regions: ['francecentral', 'norwayeast'] },
      ['MicrosoftContainerRegistry.FranceCentral', 'MicrosoftContainerRegistry.NorwayEast'],
    ],
    [{ base: 'Storage', regions: ['eastus'] }, ['Storage.EastUS']],
    [{ base: 'AzureCloud', regions: ['eastus'] }, ['AzureCloud.eastus']],
  ])('select(%o) -> %o', (selector, expected) => {
    expect(index.select(selector)).toEqual(expected);
  });

  it('selects 69 regional AzureContainerRegistry tags when given every region the file names', () => {
    const regions = file.values
      .filter((v) => v.name.startsWith('AzureContainerRegistry.'))
      .map((v) => v.properties.region);
    expect(index.select({ base: 'AzureContainerRegistry', regions })).toHaveLength(69);
  });

  it('finds the first address of an AzureContainerRegistry.EastUS prefix in the regional and global tag', () => {
    const prefix = index.value('AzureContainerRegistry.EastUS')!.properties.addressPrefixes[0]!;
    const first = prefix.split('/')[0]!;
    expect(index.rangesOf('AzureContainerRegistry.EastUS')!.has(first)).toBe(true);
    expect(index.rangesOf('AzureContainerRegistry')!.has(first)).toBe(true);
    expect(index.rangesOf('AzureContainerRegistry.WestUS')!.has(first)).toBe(false);
    expect(index.tagsContaining(first)).toEqual(
      expect.arrayContaining(['AzureContainerRegistry', 'AzureContainerRegistry.EastUS']),
    );
  });

  it('finds an IPv6 AzureContainerRegistry.EastUS prefix likewise', () => {
    const prefix = index
      .value('AzureContainerRegistry.EastUS')!
      .properties.addressPrefixes.find((p) => p.includes(':'))!;
    const first = prefix.split('/')[0]!;
    expect(index.tagsContaining(first)).toEqual(
      expect.arrayContaining(['AzureContainerRegistry', 'AzureContainerRegistry.EastUS']),
    );
  });

  it('contains the first address of every prefix of every tag in that tag', () => {
    const missed = file.values.flatMap((v) =>
      v.properties.addressPrefixes
        .filter((p) => !index.rangesOf(v.name)!.has(p.split('/')[0]!))
        .map((p) => `${v.name} ${p}`),
    );
    expect(missed).toEqual([]);
  });

  it('finds no tag for documentation and private addresses', () => {
    for (const ip of ['192.0.2.1', '10.0.0.1', '2001:db8::1', '::1']) expect(index.tagsContaining(ip)).toEqual([]);
  });
});
