// The README's reason-code table lists every code of the registry (src/policy/reasons.ts), under the
// HTTP status the gateway really answers with, and nothing else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REASON_CODES, REASONS } from '../../../src/policy/reasons.js';

const README = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');

/** status -> codes, from the `| status | reason codes |` table. */
function readmeTable(text: string): Map<number, string[]> {
  const start = text.indexOf('| status | reason codes |');
  expect(start, 'README.md has the reason-code table').toBeGreaterThan(-1);
  const rows = new Map<number, string[]>();
  for (const line of text.slice(start).split('\n').slice(2)) {
    const m = /^\| (\d{3}) \| (.*) \|$/.exec(line);
    if (!m) break;
    rows.set(
      Number(m[1]),
      [...(m[2] as string).matchAll(/`([a-z_]+)`/g)].map((c) => c[1] as string),
    );
  }
  return rows;
}

describe('README reason codes', () => {
  it('lists every code of the registry under its HTTP status, in registry order', () => {
    const expected = new Map<number, string[]>();
    for (const code of REASON_CODES) {
      const status: number = REASONS[code].status;
      expected.set(status, [...(expected.get(status) ?? []), code]);
    }
    const table = readmeTable(README);
    expect(Object.fromEntries(table)).toEqual(Object.fromEntries(expected));
    expect([...table.values()].flat().sort()).toEqual([...REASON_CODES].sort());
  });
});
