// A policy snapshot: the config's rules and the service-tag ranges they need, compiled together once
// per config version and tag version. Immutable; the proxy swaps the whole snapshot on reload.
import { AcrEgressError } from '../errors.js';
import type { LoadedConfig } from '../config/load.js';
import type { AddressRangeSet, ServiceTagIndex } from '../service-tags/types.js';
import { CidrList } from '../net/address.js';
import { selectorGaps } from '../service-tags/validate.js';
import { compileGroups, type ClientGroups } from './groups.js';
import { compileRules, type CompiledRules, type HostRule } from './rules.js';

interface BoundTag {
  readonly name: string;
  readonly ranges: AddressRangeSet;
}

interface RuleTags {
  readonly tags: readonly BoundTag[];
  /** Tags the rule needs that the loaded file lacks (`Base` or `Base.region`): the rule is blocked. */
  readonly missing: readonly string[];
}

interface TagBinding {
  readonly changeNumber: number;
  readonly cloud: string;
  forRule(rule: HostRule): RuleTags;
}

export interface PolicySnapshot {
  readonly configVersion: string;
  readonly mode: 'enforce' | 'report';
  readonly rules: CompiledRules;
  readonly ports: ReadonlySet<number>;
  /** null: any client may use the proxy. */
  readonly clients: CidrList | null;
  /** clientGroups, in order; null: none configured, every client may use every rule. */
  readonly groups: ClientGroups | null;
  readonly allowPrivate: CidrList;
  readonly enforceTags: true | false | 'when-available';
  /** Whether a ClientHello carrying Encrypted Client Hello may pass (its real server name is hidden). */
  readonly allowEch: boolean;
  /** null: no service-tag data is loaded. */
  readonly tags: TagBinding | null;
  readonly index: ServiceTagIndex | null;
}

function cidrs(list: readonly string[]): CidrList {
  const parsed = CidrList.parse([...list]);
  // The config loader has already refused invalid entries; this cannot widen anything.
  if ('errors' in parsed)
    throw new AcrEgressError('INTERNAL', `invalid CIDR list reached the policy: ${parsed.errors.join('; ')}`);
  return parsed.list;
}

function bindTags(rules: CompiledRules, index: ServiceTagIndex): TagBinding {
  const byRule = new Map<HostRule, RuleTags>();
  for (const rule of rules.list) {
    const tags: BoundTag[] = [];
    const missing: string[] = [];
    for (const selector of rule.tags) {
      const names = index.select(selector);
      missing.push(...selectorGaps(index, selector));
      for (const name of names) {
        const ranges = index.rangesOf(name);
        if (ranges && !tags.some((t) => t.name === name)) tags.push({ name, ranges });
      }
    }
    byRule.set(rule, Object.freeze({ tags, missing }));
  }
  const none: RuleTags = Object.freeze({ tags: [], missing: [] });
  return Object.freeze({
    changeNumber: index.changeNumber,
    cloud: index.cloud,
    forRule: (rule: HostRule) => byRule.get(rule) ?? none,
  });
}

export function compilePolicy(loaded: LoadedConfig, index: ServiceTagIndex | null): PolicySnapshot {
  const { config } = loaded;
  const rules = compileRules(loaded);
  return Object.freeze({
    configVersion: loaded.version,
    mode: config.mode,
    rules,
    ports: new Set(config.proxy.ports),
    clients: config.proxy.clients.length > 0 ? cidrs(config.proxy.clients) : null,
    groups: compileGroups(config.clientGroups, rules),
    allowPrivate: cidrs(config.network.allowPrivate),
    enforceTags: config.serviceTags.enforce,
    allowEch: config.proxy.allowEch,
    tags: index === null ? null : bindTags(rules, index),
    index,
  });
}
