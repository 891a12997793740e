// Rebuilding the store from the end of the audit log: the last N records in order, whatever else the
// file holds (operational lines, garbage, a torn last line), read backwards across chunk boundaries.
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuditLog } from '../../../src/audit/audit-log.js';
import { DecisionStore } from '../../../src/store/ring.js';
import { parseDecisionLine, rebuildFromLog } from '../../../src/audit/tail.js';
import { rec } from '../admin/fake-deps.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-tail-'));
let n = 0;
const file = (): string => join(dir, `audit-${n++}.log`);

describe('rebuildFromLog', () => {
  it('reads back what the audit log wrote, oldest first, without its kind tag', async () => {
    const f = file();
    const log = createAuditLog(f);
    const recs = Array.from({ length: 5 }, (_, i) =>
      rec({ host: `h${i}.example.com`, detail: i === 2 ? 'détail ✓' : undefined }),
    );
    for (const r of recs) log.write(JSON.parse(JSON.stringify(r)));
    await log.close();
    const store = new DecisionStore(100);
    expect(await rebuildFromLog(store, f, 100)).toEqual({ added: 5, skipped: 0 });
    const back = [...store.newestFirst()].reverse();
    expect(back).toEqual(recs.map((r) => JSON.parse(JSON.stringify(r))));
    expect(back[0]).not.toHaveProperty('kind');
  });

  it('keeps only the last max records of a file many chunks long', async () => {
    const f = file();
    const recs = Array.from({ length: 6000 }, (_, i) =>
      rec({ host: `host-${i}.example.com`, detail: 'x'.repeat(i % 200) }),
    );
    writeFileSync(f, recs.map((r) => `${JSON.stringify({ kind: 'decision', ...r })}\n`).join(''));
    const store = new DecisionStore(10_000);
    const result = await rebuildFromLog(store, f, 2500);
    expect(result.added).toBe(2500);
    expect([...store.newestFirst()].map((r) => r.id)).toEqual(
      recs
        .slice(-2500)
        .reverse()
        .map((r) => r.id),
    );
  });

  it('is bounded by the store capacity as well as by max', async () => {
    const f = file();
    writeFileSync(f, Array.from({ length: 50 }, () => `${JSON.stringify(rec())}\n`).join(''));
    const store = new DecisionStore(10);
    expect((await rebuildFromLog(store, f, 1000)).added).toBe(10);
    expect(store.size).toBe(10);
  });

  it('skips malformed lines, operational log lines, a torn last line and blank lines', async () => {
    const f = file();
    const a = rec();
    const b = rec();
    writeFileSync(
      f,
      [
        '{"level":"info","time":"2026-01-01T00:00:00.000Z","component":"proxy","msg":"proxy listening"}',
        JSON.stringify({ kind: 'decision', ...a }),
        'not json at all',
        '',
        '{"kind":"other","id":"x","time":"2026-01-01T00:00:00Z","decision":"allowed","mode":"connect"}',
        '[1,2,3]',
        '{"id":"01J","time":"not a time","decision":"allowed","mode":"connect"}',
        JSON.stringify({ kind: 'decision', ...b }),
        '{"kind":"decision","id":"01J',
      ].join('\n'),
    );
    const store = new DecisionStore(100);
    const result = await rebuildFromLog(store, f, 100);
    expect(result.added).toBe(2);
    expect(result.skipped).toBe(6);
    expect([...store.newestFirst()].map((r) => r.id)).toEqual([b.id, a.id]);
  });

  it('skips a line longer than the bound without holding it in memory', async () => {
    const f = file();
    const a = rec();
    const b = rec();
    writeFileSync(
      f,
      `${JSON.stringify(a)}\n${JSON.stringify({ ...rec(), detail: 'y'.repeat(2 * 1024 * 1024) })}\n${JSON.stringify(b)}\n`,
    );
    const store = new DecisionStore(100);
    const result = await rebuildFromLog(store, f, 100);
    expect([...store.newestFirst()].map((r) => r.id)).toEqual([b.id, a.id]);
    expect(result.skipped).toBe(1);
  });

  it('fills fields an older writer left out with null', async () => {
    const f = file();
    writeFileSync(
      f,
      '{"kind":"decision","time":"2026-01-01T00:00:00.000Z","id":"01JAAAAAAAAAAAAAAAAAAAAAAA","mode":"connect","decision":"blocked","reason":"host_not_allowed"}\n',
    );
    const store = new DecisionStore(10);
    await rebuildFromLog(store, f, 10);
    expect([...store.newestFirst()][0]).toMatchObject({
      host: null,
      bytesUp: null,
      durationMs: null,
      reason: 'host_not_allowed',
    });
  });

  it('adds nothing for a missing file or max 0', async () => {
    const store = new DecisionStore(10);
    expect(await rebuildFromLog(store, join(dir, 'missing.log'), 10)).toEqual({ added: 0, skipped: 0 });
    const f = file();
    appendFileSync(f, `${JSON.stringify(rec())}\n`);
    expect(await rebuildFromLog(store, f, 0)).toEqual({ added: 0, skipped: 0 });
  });
});

describe('parseDecisionLine', () => {
  it.each([
    ['{}', null],
    ['{"id":1,"time":"2026-01-01T00:00:00Z","decision":"allowed","mode":"connect"}', null],
    ['{"id":"a","time":"2026-01-01T00:00:00Z","decision":"maybe","mode":"connect"}', null],
    ['null', null],
  ])('refuses %s', (line, expected) => {
    expect(parseDecisionLine(line)).toBe(expected);
  });
});
