// Refresh timing: jittered interval after success, doubling back-off after failures, capped.
import { describe, expect, it } from 'vitest';
import { jitter, nextDelay } from '../../../src/service-tags/schedule.js';

const HOUR = 3_600_000;
const mid = () => 0.5;

describe('jitter', () => {
  it.each([
    { name: 'is -10% at random 0', random: 0, want: 3_240_000 },
    { name: 'is exact at random 0.5', random: 0.5, want: HOUR },
    { name: 'is +10% at random 1', random: 1, want: 3_960_000 },
  ])('$name', ({ random, want }) => {
    expect(jitter(HOUR, () => random)).toBe(want);
  });
});

describe('nextDelay', () => {
  it.each([
    { name: 'waits the interval after a success', failures: 0, want: 24 * HOUR },
    { name: 'retries after 1 min after the first failure', failures: 1, want: 60_000 },
    { name: 'doubles to 2 min after the second', failures: 2, want: 120_000 },
    { name: 'doubles to 64 min after the seventh', failures: 7, want: 64 * 60_000 },
    { name: 'never waits longer than the interval', failures: 20, want: 24 * HOUR },
    { name: 'stays capped after very many failures', failures: 5000, want: 24 * HOUR },
  ])('$name', ({ failures, want }) => {
    expect(nextDelay(failures, 24 * HOUR, mid)).toBe(want);
  });

  it('caps the back-off at a short interval too', () => {
    expect(nextDelay(3, 90_000, mid)).toBe(90_000);
  });
});
