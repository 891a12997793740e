// Client-side record filters for the live view: the stream carries everything, and narrowing it in the
// page lets a filter change without reconnecting or losing what already arrived.
import type { Rec } from './api';
import { outcomeOf } from './outcome';

export interface Filters {
  /** blocked: every block; policy: refused by the policy; failed: a failure (see outcome.ts). */
  decision: '' | 'allowed' | 'blocked' | 'policy' | 'failed';
  reason: string;
  host: string;
  client: string;
  rule: string;
  instance: string;
}

export const NO_FILTERS: Filters = { decision: '', reason: '', host: '', client: '', rule: '', instance: '' };

const has = (value: unknown, needle: string): boolean =>
  needle === '' || (typeof value === 'string' && value.toLowerCase().includes(needle.toLowerCase()));

/** host: a substring, or *.suffix for names under suffix (as the API's host filter). */
function hostMatches(host: unknown, pattern: string): boolean {
  if (pattern === '') return true;
  if (typeof host !== 'string') return false;
  const h = host.toLowerCase();
  const p = pattern.trim().toLowerCase();
  if (p.startsWith('*.')) return h.endsWith(p.slice(1));
  return h.includes(p);
}

/** The decision filter: allowed and blocked as the API has them, policy and failed split the blocks. */
export function decisionMatches(rec: Rec, decision: Filters['decision']): boolean {
  if (decision === '' || decision === 'allowed' || decision === 'blocked')
    return decision === '' || rec.decision === decision;
  return outcomeOf(rec) === (decision === 'policy' ? 'blocked' : 'failed');
}

export function matches(rec: Rec, f: Filters): boolean {
  return (
    decisionMatches(rec, f.decision) &&
    (f.reason === '' || rec.reason === f.reason) &&
    hostMatches(rec.host, f.host) &&
    has(rec.client, f.client) &&
    has(rec.rule, f.rule) &&
    has(rec.instance, f.instance)
  );
}
