// The checks on clientGroups that the schema cannot make: names used once, valid CIDRs, a way to
// match a client, and grants that name only what the top-level config allows (a group narrows).
import { CidrList } from '../net/address.js';
import type { ResolvedRegistry } from './registries.js';
import type { Config } from './schema.js';

/** An allow pattern as the rules compile it: lower case, no trailing dot. */
export function allowKey(pattern: string): string {
  return pattern.toLowerCase().replace(/\.$/, '');
}

export function checkClientGroups(config: Config, registries: readonly ResolvedRegistry[], problems: string[]): void {
  const names = new Map<string, number>();
  const known = new Set(registries.map((r) => r.name));
  const allowed = new Set(config.allow.map(allowKey));
  config.clientGroups.forEach((group, i) => {
    const path = `clientGroups[${i}]`;
    const earlier = names.get(group.name.toLowerCase());
    if (earlier !== undefined)
      problems.push(`${path}.name: "${group.name}" is already used by clientGroups[${earlier}]`);
    else names.set(group.name.toLowerCase(), i);
    if (group.cidrs.length === 0 && group.users.length === 0)
      problems.push(`${path}: matches no client: give cidrs, users or both`);
    const parsed = CidrList.parse(group.cidrs);
    if ('errors' in parsed) for (const e of parsed.errors) problems.push(`${path}.cidrs: ${e}`);
    group.registries.forEach((name, j) => {
      if (!known.has(name.toLowerCase()))
        problems.push(
          `${path}.registries[${j}]: "${name}" is not a configured registry (${[...known].join(', ') || 'none configured'})`,
        );
    });
    if (group.mcr && !config.mcr) problems.push(`${path}.mcr: mcr is false at the top level, so no group can use it`);
    group.allow.forEach((pattern, j) => {
      if (!allowed.has(allowKey(pattern)))
        problems.push(`${path}.allow[${j}]: "${pattern}" is not in the top-level allow list (a group only narrows it)`);
    });
  });
}
