// `npm run bench -- --node`: alone it means the other of Node 24 and 26, at the version .ci/run pins.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OTHER_LINE, parseBenchArgs } from '../../../bench/lib/args.js';
import { otherLine, pinnedVersion } from '../../../bench/lib/node-line.js';

describe('bench --node', () => {
  it.each([
    [['--node'], OTHER_LINE],
    [['--node', '--quick'], OTHER_LINE],
    [['--node', '/opt/node26/bin/node'], '/opt/node26/bin/node'],
    [['--quick'], null],
  ])('%j gives node %j', (argv, node) => {
    expect(parseBenchArgs(argv).node).toBe(node);
  });

  it('compares 24 with 26 and 26 with 24', () => {
    expect([22, 24, 26].map(otherLine)).toEqual([26, 26, 24]);
  });

  it('reads the pins .ci/run tests', () => {
    const ci = readFileSync('.ci/run', 'utf8');
    expect(pinnedVersion(ci, 24)).toMatch(/^24\.\d+\.\d+$/);
    expect(pinnedVersion(ci, 26)).toMatch(/^26\.\d+\.\d+$/);
    expect(() => pinnedVersion(ci, 20)).toThrow(/pins no NODE20_VERSION/);
  });
});
