// Client groups compiled once per config: for each group, who it matches (CIDRs and/or proxy users)
// and the set of host rules it may use, so that a connection costs a remembered group and one Set
// lookup. A group names registries, MCR and allow entries; the rules carry the matching grants.
import { AcrEgressError } from '../errors.js';
import { allowKey } from '../config/client-groups.js';
import type { ClientGroupConfig } from '../config/schema.js';
import { LRUCache } from 'lru-cache';
import { CidrList, parseIp, type ParsedIp } from '../net/address.js';
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
  if ('errors' in parsed)
    throw new AcrEgressError('INTERNAL', `invalid CIDR list reached the policy: ${parsed.errors.join('; ')}`);
  return parsed.list;
}

/** Distinct (address, user) pairs whose group is remembered per snapshot. */
const MEMO_SIZE = 10_000;
const NO_GROUP = Symbol('no group');

/**
 * The groups in config order, and which one a client belongs to: the first whose cidrs (when it
 * lists any) hold the address and whose users (when it lists any) hold the user. A group that lists
 * both needs both. The answer is remembered per address and user, so a returning client costs one
 * lookup rather than a scan of every group's CIDRs.
 */
export class ClientGroups {
  readonly list: readonly ClientGroupPolicy[];
  readonly #memo = new LRUCache<string, ClientGroupPolicy | typeof NO_GROUP>({ max: MEMO_SIZE });

  constructor(list: readonly ClientGroupPolicy[]) {
    this.list = list;
  }

  groupFor(client: string | null, user: string | null): ClientGroupPolicy | null {
    // Length-prefixed, so no address and user pair can spell another's key.
    const key = `${client?.length ?? 0}:${client ?? ''}${user ?? ''}`;
    let hit = this.#memo.get(key);
    if (hit === undefined) {
      hit = this.#scan(client === null ? null : parseIp(client), user) ?? NO_GROUP;
      this.#memo.set(key, hit);
    }
    return hit === NO_GROUP ? null : hit;
  }

  #scan(ip: ParsedIp | null, user: string | null): ClientGroupPolicy | null {
    for (const g of this.list) {
      if (g.cidrs !== null && (ip === null || !g.cidrs.contains(ip))) continue;
      if (g.users !== null && (user === null || !g.users.has(user))) continue;
      return g;
    }
    return null;
  }
}

/** null when no groups are configured: every client may use every rule (as without groups). */
export function compileGroups(groups: readonly ClientGroupConfig[], rules: CompiledRules): ClientGroups | null {
  if (groups.length === 0) return null;
  const list = groups.map((g) => {
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
  });
  return new ClientGroups(Object.freeze(list));
}
