// The short fuzz run inside `npm test`: every corpus input replayed, then each property for a
// thousand cases. `npm run fuzz` runs the same properties for minutes and records what fails.
import { describe, expect, it } from 'vitest';
import { replayCorpus, runProperty } from '../../../fuzz/lib.js';
import { TARGETS } from '../../../fuzz/targets/index.js';

// A fixed seed keeps the suite deterministic; `npm run fuzz` explores with fresh seeds.
const OPTIONS = { msPerProperty: 3000, maxRuns: 1000, seed: 20261202, record: false };

describe.each(TARGETS.map((t) => [t.name, t] as const))('fuzz target %s', (_name, target) => {
  it('keeps its invariants on every corpus input (each one failed once or is a hand-made nasty case)', async () => {
    const r = await replayCorpus(target);
    expect(r.runs).toBeGreaterThan(0);
    expect(r.failure).toBeNull();
  });

  it.each(target.properties.map((p) => [p.name, p] as const))('%s', async (_p, property) => {
    const r = await runProperty(target, property, OPTIONS);
    expect(r.failure).toBeNull();
    expect(r.runs).toBeGreaterThan(0);
  });
});
