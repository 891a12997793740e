import { beforeAll, describe, expect, it } from 'vitest';
import { diffServiceTags, normalizePrefix, type TagDiff } from '../../../src/service-tags/diff.js';
import { parseServiceTags } from '../../../src/service-tags/parse.js';
import type { ServiceTagsFile } from '../../../src/service-tags/types.js';
import { SERVICE_TAG_FIXTURES, serviceTagBytes } from '../../helpers/service-tag-fixtures.js';

function file(changeNumber: number, tags: Record<string, [number, string[]]>): ServiceTagsFile {
  return {
    changeNumber,
    cloud: 'Public',
    values: Object.entries(tags).map(([name, [tagChange, addressPrefixes]]) => ({
      name,
      id: name,
      properties: { changeNumber: tagChange, region: '', systemService: '', addressPrefixes },
    })),
  };
}

describe('diffServiceTags', () => {
  const before = file(1, {
    Same: [1, ['10.0.0.0/8']],
    Grows: [4, ['10.0.0.0/24']],
    Shrinks: [2, ['10.0.0.0/24', '2001:db8::/32']],
    Swaps: [3, ['10.0.0.0/24']],
    Respelled: [5, ['2001:DB8:0:0::/32', '10.0.0.0/24']],
    Gone: [6, ['192.0.2.0/24']],
  });
  const after = file(2, {
    Shrinks: [3, ['10.0.0.0/24']],
    Grows: [5, ['10.0.0.0/24', '10.0.1.0/24']],
    Same: [2, ['10.0.0.0/8']],
    Swaps: [4, ['10.0.1.0/24']],
    Respelled: [5, ['10.0.0.0/24', '2001:db8::/32']],
    New: [1, ['198.51.100.0/24', '2001:db8::1/128']],
  });
  const diffs = diffServiceTags(before, after);

  it.each<[string, TagDiff | undefined]>([
    [
      'Grows',
      { name: 'Grows', status: 'changed', added: ['10.0.1.0/24'], removed: [], changeNumberFrom: 4, changeNumberTo: 5 },
    ],
    [
      'Shrinks',
      {
        name: 'Shrinks',
        status: 'changed',
        added: [],
        removed: ['2001:db8::/32'],
        changeNumberFrom: 2,
        changeNumberTo: 3,
      },
    ],
    [
      'Swaps',
      {
        name: 'Swaps',
        status: 'changed',
        added: ['10.0.1.0/24'],
        removed: ['10.0.0.0/24'],
        changeNumberFrom: 3,
        changeNumberTo: 4,
      },
    ],
    ['Gone', { name: 'Gone', status: 'removed', added: [], removed: ['192.0.2.0/24'], changeNumberFrom: 6 }],
    [
      'New',
      { name: 'New', status: 'added', added: ['198.51.100.0/24', '2001:db8::1/128'], removed: [], changeNumberTo: 1 },
    ],
    ['Same', undefined],
    ['Respelled', undefined],
  ])('reports %s as %o', (name, expected) => {
    expect(diffs.find((d) => d.name === name)).toEqual(expected);
  });

  it('lists differing tags sorted by name', () => {
    expect(diffs.map((d) => d.name)).toEqual(['Gone', 'Grows', 'New', 'Shrinks', 'Swaps']);
  });

  it('finds nothing between a file and itself', () => {
    expect(diffServiceTags(before, before)).toEqual([]);
  });
});

describe('normalizePrefix', () => {
  it.each([
    ['10.0.0.0/24', '10.0.0.0/24'],
    ['10.0.0.77/24', '10.0.0.0/24'],
    ['2001:DB8:0:0:0:0:0:0/32', '2001:db8::/32'],
    ['2001:0db8:0000:0000:0001:0000:0000:0000/80', '2001:db8:0:0:1::/80'],
    ['2603:1030:210::7/128', '2603:1030:210::7/128'],
    ['not a prefix', 'not a prefix'],
  ])('%s -> %s', (text, expected) => {
    expect(normalizePrefix(text)).toBe(expected);
  });
});

describe('diffServiceTags on real files', () => {
  let july: TagDiff[];
  let november: TagDiff[];
  beforeAll(() => {
    const [a, b, c, d] = SERVICE_TAG_FIXTURES.map((f) => parseServiceTags(serviceTagBytes(f)));
    july = diffServiceTags(a!, b!);
    november = diffServiceTags(c!, d!);
  });

  it('reports 62 changed values from 20250721 to 20250728, none added or removed', () => {
    expect(july).toHaveLength(62);
    expect(july.every((d) => d.status === 'changed')).toBe(true);
  });

  it('reports AzureContainerRegistry 1,132 -> 1,133 prefixes (tag changeNumber 93 -> 94)', () => {
    expect(july.find((d) => d.name === 'AzureContainerRegistry')).toEqual({
      name: 'AzureContainerRegistry',
      status: 'changed',
      added: ['2603:1020:406::7/128'],
      removed: [],
      changeNumberFrom: 93,
      changeNumberTo: 94,
    });
  });

  it('reports MicrosoftContainerRegistry gaining two prefixes', () => {
    const mcr = july.find((d) => d.name === 'MicrosoftContainerRegistry');
    expect([mcr?.added.sort(), mcr?.removed]).toEqual([['13.87.32.12/32', '2603:1020:406::11/128'], []]);
  });

  it('reports 32 changed values from 20251017 to 20251106, Storage among them and ACR and MCR not', () => {
    const names = november.map((d) => d.name);
    expect(november).toHaveLength(32);
    expect(names.some((n) => n.startsWith('Storage.'))).toBe(true);
    expect(names.filter((n) => /ContainerRegistry/.test(n))).toEqual([]);
  });
});
