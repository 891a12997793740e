import { beforeAll, describe, expect, it } from 'vitest';
import { type AcrEgressError, isAcrEgressError } from '../../../src/errors.js';
import { parseServiceTags } from '../../../src/service-tags/parse.js';
import type { ServiceTagsFile } from '../../../src/service-tags/types.js';
import { serviceTagBytes } from '../../helpers/service-tag-fixtures.js';

function sample(): ServiceTagsFile {
  return {
    changeNumber: 375,
    cloud: 'Public',
    values: [
      {
        name: 'AzureContainerRegistry',
        id: 'AzureContainerRegistry',
        properties: {
          changeNumber: 94,
          region: '',
          regionId: 0,
          platform: 'Azure',
          systemService: 'AzureContainerRegistry',
          addressPrefixes: ['20.42.66.0/24', '2603:1030:210::/47'],
          networkFeatures: ['API', 'NSG'],
        },
      },
      {
        name: 'AzureContainerRegistry.EastUS',
        id: 'AzureContainerRegistry.EastUS',
        properties: {
          changeNumber: 7,
          region: 'eastus',
          systemService: 'AzureContainerRegistry',
          addressPrefixes: ['20.42.66.0/24'],
          networkFeatures: null,
        },
      },
    ],
  };
}

/** The error parseServiceTags throws for text, or a failure when it does not throw. */
function errorOf(text: string | Buffer): AcrEgressError {
  try {
    parseServiceTags(text);
  } catch (err) {
    if (isAcrEgressError(err, 'SERVICE_TAGS_INVALID')) return err;
    throw err;
  }
  throw new Error('expected parseServiceTags to throw');
}

describe('parseServiceTags accepts', () => {
  const text = JSON.stringify(sample(), null, 2);
  it.each([
    ['LF line endings', text],
    ['CRLF line endings', text.replace(/\n/g, '\r\n')],
    ['a UTF-8 BOM in a string', `\uFEFF${text}`],
    ['a UTF-8 BOM in a Buffer', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])],
    ['a Buffer with CRLF', Buffer.from(text.replace(/\n/g, '\r\n'))],
  ])('a file with %s', (_, input) => {
    expect(parseServiceTags(input)).toEqual(sample());
  });

  it.each([
    ['networkFeatures absent', (f: ServiceTagsFile) => delete f.values[0]!.properties.networkFeatures],
    [
      'an empty region and systemService',
      (f: ServiceTagsFile) => Object.assign(f.values[0]!.properties, { region: '', systemService: '' }),
    ],
    ['an empty addressPrefixes', (f: ServiceTagsFile) => (f.values[0]!.properties.addressPrefixes = [])],
    ['no values at all', (f: ServiceTagsFile) => (f.values = [])],
    ['unknown extra fields', (f: ServiceTagsFile) => Object.assign(f, { comment: 'x' })],
  ])('a file with %s', (_, change) => {
    const file = sample();
    change(file);
    expect(parseServiceTags(JSON.stringify(file))).toEqual(file);
  });
});

describe('parseServiceTags rejects wrong shapes, naming the path', () => {
  type Change = (f: Record<string, any>) => void;
  const p = (f: Record<string, any>, i = 0) => f.values[i].properties;
  it.each<[string, Change]>([
    ['changeNumber: expected a non-negative integer, got -1', (f) => (f.changeNumber = -1)],
    ['changeNumber: expected a non-negative integer, got "375"', (f) => (f.changeNumber = '375')],
    ['changeNumber: expected a non-negative integer, got 1.5', (f) => (f.changeNumber = 1.5)],
    ['cloud: expected a non-empty string, got ""', (f) => (f.cloud = '')],
    ['values: expected an array, got undefined', (f) => delete f.values],
    ['values: expected an array, got an object', (f) => (f.values = {})],
    ['values[1]: expected an object, got null', (f) => (f.values[1] = null)],
    ['values[0].name: expected a non-empty string, got undefined', (f) => delete f.values[0].name],
    [
      'values[1].name: "AzureContainerRegistry" repeats values[0].name',
      (f) => (f.values[1].name = 'AzureContainerRegistry'),
    ],
    ['values[0].id: expected a string, got 7', (f) => (f.values[0].id = 7)],
    ['values[1].properties: expected an object, got undefined', (f) => delete f.values[1].properties],
    ['values[0].properties.changeNumber: expected a non-negative integer, got null', (f) => (p(f).changeNumber = null)],
    ['values[0].properties.region: expected a string (may be empty), got null', (f) => (p(f).region = null)],
    [
      'values[1].properties.systemService: expected a string (may be empty), got undefined',
      (f) => delete p(f, 1).systemService,
    ],
    ['values[0].properties.platform: expected a string, got 1', (f) => (p(f).platform = 1)],
    ['values[0].properties.regionId: expected a non-negative integer, got "0"', (f) => (p(f).regionId = '0')],
    [
      'values[0].properties.networkFeatures: expected null or an array of strings, got "API"',
      (f) => (p(f).networkFeatures = 'API'),
    ],
    [
      'values[0].properties.addressPrefixes: expected an array, got "20.42.66.0/24"',
      (f) => (p(f).addressPrefixes = '20.42.66.0/24'),
    ],
    [
      'values[1].properties.addressPrefixes[0]: "1.2.3.300/24" is not a valid IPv4 or IPv6 prefix',
      (f) => (p(f, 1).addressPrefixes = ['1.2.3.300/24']),
    ],
    [
      'values[0].properties.addressPrefixes[1]: "2603:1030:210::/129" is not a valid IPv4 or IPv6 prefix',
      (f) => (p(f).addressPrefixes[1] = '2603:1030:210::/129'),
    ],
    [
      'values[0].properties.addressPrefixes[0]: "20.42.66.0" is not a valid IPv4 or IPv6 prefix',
      (f) => (p(f).addressPrefixes[0] = '20.42.66.0'),
    ],
    [
      'values[0].properties.addressPrefixes[0]: 42 is not a valid IPv4 or IPv6 prefix',
      (f) => (p(f).addressPrefixes[0] = 42),
    ],
  ])('reports "%s"', (expected, change) => {
    const file = sample() as unknown as Record<string, any>;
    change(file);
    const err = errorOf(JSON.stringify(file));
    expect(err.message).toBe(`service-tag file is invalid: ${expected}`);
    expect(err.details).toEqual([expected]);
  });

  it.each([
    ['[]', '(root): expected an object, got an array'],
    ['null', '(root): expected an object, got null'],
    ['"text"', '(root): expected an object, got "text"'],
  ])('reports %s as the wrong root', (text, expected) => {
    expect(errorOf(text).details).toEqual([expected]);
  });

  it('reports every problem: the first in the message, up to 20 in details', () => {
    const file = sample();
    file.values[0]!.properties.addressPrefixes = Array.from({ length: 30 }, (_, i) => `10.0.${i}.0/33`);
    (file as unknown as Record<string, unknown>).cloud = 1;
    const err = errorOf(JSON.stringify(file));
    expect(err.message).toBe(
      'service-tag file is invalid: cloud: expected a non-empty string, got 1 (and 30 more problems)',
    );
    expect(err.details).toHaveLength(21);
    expect(err.details[1]).toBe(
      'values[0].properties.addressPrefixes[0]: "10.0.0.0/33" is not a valid IPv4 or IPv6 prefix',
    );
    expect(err.details[20]).toBe('... and 11 more not listed');
  });
});

describe('parseServiceTags rejects text that is not JSON, saying where', () => {
  const text = JSON.stringify(sample(), null, 2);
  it.each([
    [
      'a truncated download',
      text.slice(0, 200),
      /not valid JSON at line \d+, column \d+ \(position 200\) \(the file ends early: truncated download\?\)/,
    ],
    ['a file cut after a comma', '{"changeNumber": 1,', /at line 1, column 20 \(position 19\) \(the file ends early/],
    [
      'an HTML error page',
      '<!DOCTYPE html><html></html>',
      /not valid JSON at line 1, column 1 \(position 0\): Unexpected token/,
    ],
    [
      'a bad literal on line 3',
      '{\r\n  "changeNumber": 1,\r\n  "cloud": tru\r\n}',
      /at line 3, column 12 \(position 36\): Unexpected token/,
    ],
    ['trailing garbage', '{"a": 1} x', /at line 1, column 10 \(position 9\)/],
    ['a trailing comma', '{"a": [1, 2,]}', /at line 1, column 13 \(position 12\)/],
  ])('%s', (_, input, expected) => {
    expect(errorOf(input).message).toMatch(expected);
  });

  it.each(['', '  \r\n', '\uFEFF'])('says an empty file (%j) is empty', (input) => {
    expect(errorOf(input).message).toBe('service-tag file is empty');
  });
});

const REAL = [
  ['ServiceTags_Public_20250721.json', 363, 2967],
  ['ServiceTags_Public_20250728.json', 364, 2967],
  ['ServiceTags_Public_20251017.json', 373, 3039],
  ['ServiceTags_Public_20251106.json', 375, 3039],
] as const;
describe('parseServiceTags on real files', () => {
  const raw = new Map<string, Buffer>();
  beforeAll(() => {
    for (const [name] of REAL) raw.set(name, serviceTagBytes(name));
  });

  it.each(REAL)('parses %s: changeNumber %i, %i values', (name, changeNumber, values) => {
    const file = parseServiceTags(raw.get(name)!);
    expect([file.cloud, file.changeNumber, file.values.length]).toEqual(['Public', changeNumber, values]);
  });

  it('counts 93,362 prefixes (68,933 IPv4, 24,429 IPv6) in 20251106', () => {
    const prefixes = parseServiceTags(raw.get('ServiceTags_Public_20251106.json')!).values.flatMap(
      (v) => v.properties.addressPrefixes,
    );
    const v6 = prefixes.filter((p) => p.includes(':')).length;
    expect([prefixes.length, prefixes.length - v6, v6]).toEqual([93_362, 68_933, 24_429]);
  });

  it('parses the CRLF file 20250721 with a BOM added', () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), raw.get('ServiceTags_Public_20250721.json')!]);
    expect(parseServiceTags(withBom).values).toHaveLength(2967);
  });

  it('names the line of a bad prefix planted in the real file', () => {
    const text = raw
      .get('ServiceTags_Public_20251106.json')!
      .toString('utf8')
      .replace('"20.42.66.0/24"', '"20.42.66.0/33"');
    expect(errorOf(text).message).toMatch(
      /^service-tag file is invalid: values\[\d+\]\.properties\.addressPrefixes\[\d+\]: "20\.42\.66\.0\/33"/,
    );
  });
});
