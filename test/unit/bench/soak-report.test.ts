// The soak's verdicts and its docs section: what passes, what fails, and the markers it writes between.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KINDS } from '../../../bench/soak/clients.js';
import {
  checks,
  emptyTally,
  END,
  renderSection,
  START,
  tally,
  writeSection,
  type SoakFigures,
} from '../../../bench/soak/report.js';

function figures(over: Partial<SoakFigures> = {}): SoakFigures {
  const kinds = emptyTally();
  for (const kind of KINDS) {
    tally(kinds, { kind, connected: true, status: 200, closedByGateway: true, gaveUp: false, error: null });
    kinds[kind].records = 1;
  }
  tally(kinds, { kind: 'idle', connected: false, status: null, closedByGateway: false, gaveUp: false, error: 'x' });
  return {
    startedAt: new Date('2026-12-02T06:00:00Z'),
    seconds: 60,
    concurrency: 8,
    gatewayFrom: 'dist/cli.js',
    fds: { baseline: 30, peak: 90, after: 31 },
    rssKb: { baseline: 80_000, peak: 120_000, after: 90_000 },
    kinds,
    tunnelsActiveAfter: 0,
    probeStatus: 200,
    settleSeconds: 10,
    notes: [],
    ...over,
  };
}

describe('soak checks', () => {
  it('passes when fds and RSS settle, no tunnel is left and each connection has one record', () => {
    expect(checks(figures()).filter((c) => !c.ok)).toEqual([]);
  });

  it('counts only connections that were made', () => {
    expect(figures().kinds.idle.connections).toBe(1);
  });

  const failing: [string, Partial<SoakFigures>, string][] = [
    ['leaked fds', { fds: { baseline: 30, peak: 90, after: 70 } }, 'open fds back to baseline'],
    ['grown RSS', { rssKb: { baseline: 80_000, peak: 300_000, after: 200_000 } }, 'RSS back in its band'],
    ['a tunnel left open', { tunnelsActiveAfter: 2 }, 'no tunnel left active'],
    ['unreadable metrics', { tunnelsActiveAfter: null }, 'no tunnel left active'],
    ['slots not given back', { probeStatus: 503 }, 'slots given back (a fresh CONNECT gets 200)'],
  ];
  it.each(failing)('fails on %s', (_name, over, check) => {
    expect(
      checks(figures(over))
        .filter((c) => !c.ok)
        .map((c) => c.name),
    ).toEqual([check]);
  });

  it('fails the kind whose records and connections differ', () => {
    const f = figures();
    f.kinds.slow.records = 0;
    expect(
      checks(f)
        .filter((c) => !c.ok)
        .map((c) => c.name),
    ).toEqual(['slow: one record per connection']);
  });
});

describe('soak docs section', () => {
  it('appends the section once, then replaces only the text between the markers', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'acr-egress-soak-doc-')), 'benchmarks.md');
    writeFileSync(file, '# Benchmarks\n\nhand-written\n');
    writeSection(file, renderSection(figures()));
    writeSection(file, renderSection(figures({ fds: { baseline: 30, peak: 90, after: 70 } })));
    const doc = readFileSync(file, 'utf8');
    expect(doc.startsWith('# Benchmarks\n\nhand-written\n\n<!-- soak:start -->')).toBe(true);
    expect(doc.split(START)).toHaveLength(2);
    expect(doc.split(END)).toHaveLength(2);
    expect(doc).toContain('| open fds | 30 | 90 | 70 |');
    expect(doc).toContain('**FAIL**: open fds back to baseline');
  });
});
