// The service tags each rule of a config needs, for the service-tag manager (which must not import
// the policy): its status, the used-tag diff and the per-rule "missing tag" report.
import type { LoadedConfig } from '../config/load.js';
import type { RuleTagNeed } from '../service-tags/types.js';
import { compileRules } from './rules.js';

export function ruleTagNeeds(loaded: LoadedConfig): readonly RuleTagNeed[] {
  return compileRules(loaded).list.map((rule) => ({ rule: rule.id, selectors: rule.tags }));
}
