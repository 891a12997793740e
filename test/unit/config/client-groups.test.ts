// clientGroups in the config: each mistake reported with its path, all at once; a valid list loads.
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { AcrEgressError } from '../../../src/errors.js';

const base = {
  registries: [{ name: 'iotregistry' }, { name: 'buildregistry' }],
  allow: ['login.microsoftonline.com', '*.example.org'],
  admin: { listen: null },
};

function problems(clientGroups: unknown, extra: Record<string, unknown> = {}): string[] {
  try {
    buildConfig({ ...base, ...extra, clientGroups }, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(AcrEgressError);
    return [...(err as AcrEgressError).details];
  }
  return [];
}

describe('clientGroups', () => {
  it('loads a valid list with defaults filled in', () => {
    const loaded = buildConfig(
      { ...base, clientGroups: [{ name: 'iot-edge', cidrs: ['10.1.0.0/16'], registries: ['IoTRegistry'] }] },
      null,
    );
    expect(loaded.config.clientGroups).toEqual([
      { name: 'iot-edge', cidrs: ['10.1.0.0/16'], users: [], registries: ['IoTRegistry'], mcr: false, allow: [] },
    ]);
  });

  it('defaults to no groups', () => {
    expect(buildConfig(base, null).config.clientGroups).toEqual([]);
  });

  const cases: [string, unknown, Record<string, unknown>, string][] = [
    [
      'an unknown registry name',
      [{ name: 'g', cidrs: ['10.0.0.0/8'], registries: ['nosuchregistry'] }],
      {},
      'clientGroups[0].registries[0]: "nosuchregistry" is not a configured registry (iotregistry, buildregistry)',
    ],
    [
      'a bad CIDR',
      [{ name: 'g', cidrs: ['10.0.0.0/33'] }],
      {},
      'clientGroups[0].cidrs: "10.0.0.0/33" is not a valid CIDR',
    ],
    [
      'a duplicate name (case-insensitively)',
      [
        { name: 'builders', users: ['a'] },
        { name: 'Builders', users: ['b'] },
      ],
      {},
      'clientGroups[1].name: "Builders" is already used by clientGroups[0]',
    ],
    [
      'a group that matches no client',
      [{ name: 'g', registries: ['iotregistry'] }],
      {},
      'clientGroups[0]: matches no client: give cidrs, users or both',
    ],
    [
      'mcr granted while mcr is off',
      [{ name: 'g', users: ['a'], mcr: true }],
      { mcr: false },
      'clientGroups[0].mcr: mcr is false at the top level, so no group can use it',
    ],
    [
      'an allow entry not in the top-level allow',
      [{ name: 'g', users: ['a'], allow: ['*.example.org', 'evil.example.com'] }],
      {},
      'clientGroups[0].allow[1]: "evil.example.com" is not in the top-level allow list (a group only narrows it)',
    ],
    ['an unknown key', [{ name: 'g', users: ['a'], registry: ['x'] }], {}, 'clientGroups[0]: unknown key "registry"'],
    [
      'a name with spaces',
      [{ name: 'iot edge', users: ['a'] }],
      {},
      'clientGroups[0].name: `iot edge` is not a group name',
    ],
    ['not a list', { name: 'g' }, {}, 'clientGroups: {"name":"g"} is object; must be an array'],
  ];
  it.each(cases)('reports %s with its path', (_name, groups, extra, expected) => {
    const got = problems(groups, extra);
    expect(
      got.some((g) => g.startsWith(expected)),
      `${expected} in ${JSON.stringify(got)}`,
    ).toBe(true);
  });

  it('reports every mistake of every group at once', () => {
    const got = problems([
      { name: 'a', cidrs: ['nope'], registries: ['missing1'] },
      { name: 'a', users: ['u'], allow: ['x.example.net'] },
    ]);
    expect(got).toHaveLength(4);
  });
});
