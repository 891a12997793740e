// Failures are told from policy refusals by the reason registry's status, not by a list in the page.
import { describe, expect, it } from 'vitest';
import { REASONS } from '../../../src/policy/reasons.js';
import { FAILURE_REASONS, outcomeOf, POLICY_REASONS } from '../../../ui/src/outcome.js';

describe('outcomeOf', () => {
  it.each([
    [{ decision: 'allowed', reason: null }, 'allowed'],
    [{ decision: 'blocked', reason: 'host_not_allowed' }, 'blocked'],
    [{ decision: 'blocked', reason: 'dns_failure' }, 'failed'],
    [{ decision: 'blocked', reason: 'upstream_unreachable' }, 'failed'],
    [{ decision: 'blocked', reason: 'upstream_tls_error' }, 'failed'],
    [{ decision: 'blocked', reason: 'audit_unavailable' }, 'failed'],
    [{ decision: 'blocked', reason: 'not-a-reason' }, 'blocked'],
  ])('%o is %s', (rec, outcome) => {
    expect(outcomeOf(rec)).toBe(outcome);
  });

  it('splits every reason code into exactly one group, the 5xx ones as failures', () => {
    expect([...FAILURE_REASONS, ...POLICY_REASONS].sort()).toEqual(Object.keys(REASONS).sort());
    for (const r of FAILURE_REASONS) expect(REASONS[r].status).toBeGreaterThanOrEqual(500);
    for (const r of POLICY_REASONS) expect(REASONS[r].status).toBeLessThan(500);
  });
});
