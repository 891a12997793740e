// Validation before use: every refusal has its own code and message; good files pass.
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { isAcrEgressError, type ErrorCode } from '../../../src/errors.js';
import { ruleTagNeeds } from '../../../src/policy/tag-needs.js';
import { missingTags, usedTagCounts, validateServiceTags } from '../../../src/service-tags/validate.js';
import { testConfig } from '../../helpers/gateway.js';
import { loopbackTags, serviceTagsJson, type TestTag } from '../../helpers/tags.js';

const loaded = (over: Record<string, unknown> = {}) => buildConfig(testConfig(over), null);
const without = (name: string): TestTag[] => loopbackTags().filter((t) => t.name !== name);
const emptied = (name: string): TestTag[] => loopbackTags().map((t) => (t.name === name ? { ...t, prefixes: [] } : t));

describe('validateServiceTags', () => {
  it.each([
    { name: 'accepts the loopback layout for Public', text: serviceTagsJson(loopbackTags(), 5) },
    { name: 'accepts the same change number as the one in use', text: serviceTagsJson(loopbackTags(), 4), current: 4 },
    { name: 'accepts a higher change number', text: serviceTagsJson(loopbackTags(), 9), current: 4 },
    {
      name: 'accepts a lower change number when forced',
      text: serviceTagsJson(loopbackTags(), 2),
      current: 4,
      force: true,
    },
    { name: 'accepts a file with a byte-order mark', text: `\uFEFF${serviceTagsJson(loopbackTags(), 5)}` },
  ])('$name', ({ text, current, force }) => {
    const { file, index } = validateServiceTags(text, loaded(), { current: current ?? null, force });
    expect(index.changeNumber).toBe(file.changeNumber);
    expect(index.rangesOf('AzureContainerRegistry.EastUS')?.has('127.0.0.2')).toBe(true);
  });

  const refusals: Array<{
    name: string;
    text: string;
    code: ErrorCode;
    message: RegExp;
    current?: number;
    config?: Record<string, unknown>;
  }> = [
    {
      name: 'refuses truncated JSON as SERVICE_TAGS_INVALID',
      text: serviceTagsJson(loopbackTags()).slice(0, 300),
      code: 'SERVICE_TAGS_INVALID',
      message: /not valid JSON.*truncated/,
    },
    { name: 'refuses an empty body', text: '', code: 'SERVICE_TAGS_INVALID', message: /empty/ },
    {
      name: 'refuses JSON whose values is not an array',
      text: '{"changeNumber":1,"cloud":"Public","values":{}}',
      code: 'SERVICE_TAGS_INVALID',
      message: /values: expected an array/,
    },
    {
      name: 'refuses a JSON array at the top',
      text: '[1,2,3]',
      code: 'SERVICE_TAGS_INVALID',
      message: /\(root\): expected an object/,
    },
    {
      name: 'refuses a prefix that does not parse',
      text: serviceTagsJson([...loopbackTags(), { name: 'Bad', prefixes: ['300.1.2.3/8'] }]),
      code: 'SERVICE_TAGS_INVALID',
      message: /addressPrefixes\[0\]: "300.1.2.3\/8" is not a valid/,
    },
    {
      name: 'refuses a file for another cloud',
      text: serviceTagsJson(loopbackTags(), 1, 'AzureGovernment'),
      code: 'SERVICE_TAGS_WRONG_CLOUD',
      message: /cloud "AzureGovernment".*AzureCloud needs "Public"/,
    },
    {
      name: 'refuses a Public file when the config is AzureChinaCloud',
      text: serviceTagsJson(loopbackTags()),
      code: 'SERVICE_TAGS_WRONG_CLOUD',
      message: /needs "China"/,
      config: { cloud: 'AzureChinaCloud', registries: [{ name: 'myregistry', regions: ['chinanorth'] }] },
    },
    {
      name: 'refuses a lower change number than the one in use',
      text: serviceTagsJson(loopbackTags(), 3),
      current: 4,
      code: 'SERVICE_TAGS_STALE_CHANGE',
      message: /3 is lower than 4/,
    },
  ];

  it.each(refusals)('$name', ({ text, code, message, current, config }) => {
    let caught: unknown;
    try {
      validateServiceTags(text, loaded(config), { current: current ?? null });
    } catch (err) {
      caught = err;
    }
    expect(isAcrEgressError(caught, code), String(caught)).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });

  it('does not require tags no rule needs (an empty unrelated tag is fine)', () => {
    const tags = [...loopbackTags(), { name: 'AzureCosmosDB', prefixes: [] }];
    expect(() => validateServiceTags(serviceTagsJson(tags), loaded(), { current: null })).not.toThrow();
  });

  it('ignores the WestUS variant when only eastus is configured', () => {
    expect(() =>
      validateServiceTags(serviceTagsJson(emptied('AzureContainerRegistry.WestUS')), loaded(), { current: null }),
    ).not.toThrow();
  });
});

describe('missingTags and usedTagCounts', () => {
  const needs = (over: Record<string, unknown> = {}) => ruleTagNeeds(loaded(over));

  it.each([
    {
      name: 'accepts a file without the MCR tag and names the mcr rule that lacks it',
      text: serviceTagsJson(without('MicrosoftContainerRegistry')),
      missing: [{ rule: 'mcr:login', tag: 'MicrosoftContainerRegistry' }],
    },
    {
      name: 'accepts a file without the regional ACR tag and names the login rule',
      text: serviceTagsJson(without('AzureContainerRegistry.EastUS')),
      missing: [
        { rule: 'registry:myregistry:login', tag: 'AzureContainerRegistry.eastus' },
        { rule: 'registry:myregistry:data:eastus', tag: 'AzureContainerRegistry.eastus' },
      ],
    },
    {
      name: 'treats an empty prefix list like a missing tag',
      text: serviceTagsJson(emptied('AzureContainerRegistry.EastUS')),
      missing: [
        { rule: 'registry:myregistry:login', tag: 'AzureContainerRegistry.eastus' },
        { rule: 'registry:myregistry:data:eastus', tag: 'AzureContainerRegistry.eastus' },
      ],
    },
    {
      name: 'ignores the WestUS variant when only eastus is configured',
      text: serviceTagsJson(emptied('AzureContainerRegistry.WestUS')),
      missing: [],
    },
  ])('$name', ({ text, missing }) => {
    const { index } = validateServiceTags(text, loaded(), { current: null });
    expect(missingTags(needs(), index)).toEqual(missing);
  });

  it('names each region of a two-region rule that has no tag', () => {
    const { index } = validateServiceTags(serviceTagsJson(loopbackTags()), loaded(), { current: null });
    const got = missingTags(
      needs({ registries: [{ name: 'myregistry', regions: ['eastus', 'westeurope'], dataEndpoints: false }] }),
      index,
    );
    expect(got).toEqual(
      expect.arrayContaining([
        { rule: 'registry:myregistry:login', tag: 'AzureContainerRegistry.westeurope' },
        { rule: 'registry:myregistry:blob', tag: 'Storage.westeurope' },
      ]),
    );
  });

  it('counts the prefixes of the tags in use', () => {
    const { index } = validateServiceTags(serviceTagsJson(loopbackTags()), loaded(), { current: null });
    expect(usedTagCounts(needs(), index)).toEqual({
      'AzureContainerRegistry.EastUS': 1,
      'AzureFrontDoor.FirstParty': 1,
      MicrosoftContainerRegistry: 1,
      'Storage.EastUS': 1,
    });
  });
});
