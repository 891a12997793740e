// A record's outcome as the dashboard shows it: allowed, blocked by the policy, or failed. A failure
// (the name did not resolve, the registry could not be reached, the audit log could not be written)
// is not a policy refusal: the reason registry answers it with a 5xx status, a refusal with a 4xx.
import { REASONS, type Reason } from '../../src/policy/reasons.js';

export type Outcome = 'allowed' | 'blocked' | 'failed';

export function isFailureReason(reason: unknown): boolean {
  return typeof reason === 'string' && Object.hasOwn(REASONS, reason) && REASONS[reason as Reason].status >= 500;
}

export function outcomeOf(rec: { decision?: unknown; reason?: unknown }): Outcome {
  if (rec.decision !== 'blocked') return 'allowed';
  return isFailureReason(rec.reason) ? 'failed' : 'blocked';
}

/** The reason codes that are failures, and those that are policy refusals, in registry order. */
export const FAILURE_REASONS = (Object.keys(REASONS) as Reason[]).filter(isFailureReason);
export const POLICY_REASONS = (Object.keys(REASONS) as Reason[]).filter((r) => !isFailureReason(r));
