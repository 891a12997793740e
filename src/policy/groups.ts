// Client groups compiled once per config: for each group, who it matches (CIDRs and/or proxy users)
// and the set of host rules it may use, so that a connection costs a scan of the few groups and one
// Set lookup. A group names registries, MCR and allow entries; the rules carry the matching grants.
import { allowKey } from '../config/client-groups.js';
import type { ClientGroupConfig } from '../config/schema.js';
import { CidrList, type ParsedIp } from '../net/address.js';
import type { CompiledRules, HostRule } from './rules.js';

export interface ClientGroupPolicy {
  readonly name: string;
  /** null: any address (the group matches by user alone). */
  readonly cidrs: CidrList | null;
  /** null: any user, or none (the group matches by address alone). */
  readonly users: ReadonlySet<string> | null;
  /** The rules this group's clients may use. */
  readonly rules: ReadonlySet<HostRule>;
}

function cidrList(list: readonly string[]): CidrList | null {
  if (list.length === 0) return null;
  const parsed = CidrList.parse(list);
  // The config loader has already refused invalid entries; this cannot widen anything.
  if ('errors' in parsed) throw new Error(`invalid CIDR list reached the policy: ${parsed.errors.join('; ')}`);
  return parsed.list;
}

/** null when no groups are configured: every client may use every rule (as without groups). */
export function compileGroups(
  groups: readonly ClientGroupConfig[],
  rules: CompiledRules,
): readonly ClientGroupPolicy[] | null {
  if (groups.length === 0) return null;
  return Object.freeze(
    groups.map((g) => {
      const grants = new Set<string>([
        ...g.registries.map((r) => `registry:${r.toLowerCase()}`),
        ...(g.mcr ? ['mcr'] : []),
        ...g.allow.map((a) => `allow:${allowKey(a)}`),
      ]);
      return Object.freeze({
        name: g.name,
        cidrs: cidrList(g.cidrs),
        users: g.users.length > 0 ? new Set(g.users) : null,
        rules: new Set(rules.list.filter((rule) => rule.grants.some((k) => grants.has(k)))),
      });
    }),
  );
}

/**
 * The first group, in config order, that matches the client: its address in the group's cidrs
 * (when it lists any) and its proxy user in the group's users (when it lists any). A group that
 * lists both needs both.
 */
export function groupFor(
  groups: readonly ClientGroupPolicy[],
  ip: ParsedIp | null,
  user: string | null,
): ClientGroupPolicy | null {
  for (const g of groups) {
    if (g.cidrs !== null && (ip === null || !g.cidrs.contains(ip))) continue;
    if (g.users !== null && (user === null || !g.users.has(user))) continue;
    return g;
  }
  return null;
}
