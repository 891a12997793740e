// From an allowed host to a vetted address: resolve, then take the first address the policy accepts;
// on a failed dial, nextVetted() gives the next accepted address of the same answer (never another).
import { isIP } from 'node:net';
import { checkAddress, refuse, type Decision } from '../policy/decide.js';
import type { HostMatch } from '../policy/rules.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import type { HostResolver } from './resolver.js';

/** One address that passed the checks, its decision, and where it sits in the answer. */
export interface VettedAddress {
  readonly ip: string;
  readonly decision: Decision;
  readonly index: number;
}

export type DestinationResult =
  | { ok: true; ip: string; decision: Decision; index: number; addresses: readonly string[] }
  | { ok: false; ip: string | null; decision: Decision };

export async function chooseDestination(
  policy: PolicySnapshot,
  resolver: Pick<HostResolver, 'resolve'>,
  host: string,
  match: HostMatch | null,
): Promise<DestinationResult> {
  let addresses: readonly string[];
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(literal) !== 0) {
    addresses = [literal]; // an IP literal let through by report mode
  } else {
    const resolved = await resolver.resolve(host);
    if (!resolved.ok)
      return { ok: false, ip: null, decision: refuse('dns_failure', resolved.detail, match?.id ?? null) };
    addresses = resolved.addresses;
  }
  let firstBlock: DestinationResult | null = null;
  for (let index = 0; index < addresses.length; index++) {
    const ip = addresses[index] as string;
    const decision = checkAddress(policy, match, ip);
    if (decision.allowed) return { ok: true, ip, decision, index, addresses };
    firstBlock ??= { ok: false, ip, decision };
  }
  return (
    firstBlock ?? { ok: false, ip: null, decision: refuse('dns_failure', `${host}: no addresses`, match?.id ?? null) }
  );
}

/** The next address after `from` in the answer that passes the same checks; null when none is left. */
export function nextVetted(
  policy: PolicySnapshot,
  match: HostMatch | null,
  addresses: readonly string[],
  from: number,
): VettedAddress | null {
  for (let index = from; index < addresses.length; index++) {
    const ip = addresses[index] as string;
    const decision = checkAddress(policy, match, ip);
    if (decision.allowed) return { ip, decision, index };
  }
  return null;
}
