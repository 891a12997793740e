// The route stage and the one vetted dial: an allowed host becomes a route (the vetted addresses of
// its answer, or the parent proxy), and a route becomes a connection. The pipeline, the inspector's
// upstream connections and any later handler (a cache following a redirect) all dial through here.
import type { Socket } from 'node:net';
import type { ParentProxy } from '../config/parent.js';
import { chain, checkRequest, refuse, type Decision, type LearnedLookup } from '../policy/decide.js';
import type { HostMatch } from '../policy/rules.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import type { HostResolver } from './resolver.js';
import { chooseDestination, nextVetted } from './destination.js';
import { dial } from './dial.js';
import { dialParent } from './parent.js';
import type { DownstreamReader } from './pump.js';

/** What routing and dialling read from the gateway: a narrow slice of ProxyDeps. */
export interface DialDeps {
  policy(): PolicySnapshot;
  resolver(): HostResolver;
  settings(): { readonly connectTimeoutMs: number };
  readonly parent?: () => ParentProxy | null;
  readonly learned?: LearnedLookup;
}

/** Where an allowed tunnel goes: vetted addresses of one answer (direct), or the parent proxy. */
export type Route =
  | {
      readonly via: 'direct';
      readonly host: string;
      readonly port: number;
      readonly policy: PolicySnapshot;
      readonly match: HostMatch | null;
      /** The request's decision before the address checks. */
      readonly base: Decision;
      readonly ip: string;
      readonly index: number;
      readonly addresses: readonly string[];
      /** `base` chained with the first vetted address's checks. */
      readonly decision: Decision;
    }
  | {
      readonly via: 'parent';
      readonly host: string;
      readonly port: number;
      readonly parent: ParentProxy;
      readonly decision: Decision;
    };

export type Routed = { ok: true; route: Route } | { ok: false; ip: string | null; decision: Decision };

/**
 * An upstream connection, or why there is none. `decision`: the request's decision chained with the
 * checks of the address actually dialled; `ip`: that address (null through a parent).
 */
export type Dialed =
  | { ok: true; upstream: Socket; reader: DownstreamReader | null; decision: Decision; ip: string | null }
  | { ok: false; decision: Decision };

/** The route stage: with proxy.parent the parent resolves the name (no address to check here). */
export async function routeTo(
  deps: DialDeps,
  policy: PolicySnapshot,
  host: string,
  port: number,
  match: HostMatch | null,
  base: Decision,
): Promise<Routed> {
  const parent = deps.parent?.() ?? null;
  if (parent !== null) return { ok: true, route: { via: 'parent', host, port, parent, decision: base } };
  const dest = await chooseDestination(policy, deps.resolver(), host, match);
  if (!dest.ok) return { ok: false, ip: dest.ip, decision: chain(base, dest.decision) };
  const { ip, index, addresses } = dest;
  const decision = chain(base, dest.decision);
  return { ok: true, route: { via: 'direct', host, port, policy, match, base, ip, index, addresses, decision } };
}

/**
 * Connects along a route. Direct: to the vetted address; when it refuses or times out, to the next
 * address of the same answer that passes the same checks, all within one proxy.connectTimeoutMs (an
 * attempt with another vetted address behind it gets half the time left, so one silent address
 * cannot use up the deadline). `reader`: the splice's reader, or null for a plain stream.
 * `gone`: true once nobody waits for the connection (the client left).
 */
export async function connectRoute(
  route: Route,
  timeoutMs: number,
  reader: DownstreamReader | null,
  gone: () => boolean = () => false,
): Promise<Dialed> {
  const rule = route.decision.rule;
  const left = (detail: string): Dialed => ({ ok: false, decision: refuse('upstream_unreachable', detail, rule) });
  if (route.via === 'parent') {
    const dialed = await dialParent(route.parent, route.host, route.port, timeoutMs, reader);
    if (!dialed.ok) return left(dialed.detail);
    if (gone()) {
      dialed.socket.destroy();
      return left('client went away before the tunnel opened');
    }
    return { ok: true, upstream: dialed.socket, reader, decision: route.decision, ip: null };
  }
  const deadline = performance.now() + timeoutMs;
  let ip = route.ip;
  let decision = route.decision;
  let next = nextVetted(route.policy, route.match, route.addresses, route.index + 1);
  const failures: string[] = [];
  for (;;) {
    const budget = Math.max(1, Math.round(deadline - performance.now()));
    const dialed = await dial(ip, route.port, next !== null ? Math.max(1, Math.round(budget / 2)) : budget, reader);
    if (dialed.ok && gone()) {
      dialed.socket.destroy();
      return {
        ok: false,
        decision: refuse('upstream_unreachable', 'client went away before the tunnel opened', decision.rule),
      };
    }
    if (dialed.ok) return { ok: true, upstream: dialed.socket, reader, decision, ip };
    failures.push(dialed.detail);
    if (next === null || performance.now() >= deadline || gone()) break;
    ip = next.ip;
    decision = chain(route.base, next.decision);
    next = nextVetted(route.policy, route.match, route.addresses, next.index + 1);
  }
  return { ok: false, decision: refuse('upstream_unreachable', failures.join('; '), decision.rule) };
}

/** Who a vetted dial is made for: the policy's client checks (groups, learned hosts) read these. */
export interface DialFor {
  readonly client: string | null;
  readonly user: string | null;
}

/**
 * The one vetted dial for a host not yet decided (a registry redirect to a storage host): the
 * policy's host check, then the route (service-tag and private-address checks, or the parent), then
 * a plain connection. Report mode softens blocks as everywhere else; the decision says so.
 */
export async function vettedDial(deps: DialDeps, who: DialFor, host: string, port: number): Promise<Dialed> {
  const policy = deps.policy();
  const request = checkRequest(policy, { client: who.client, user: who.user, host, port }, deps.learned ?? null);
  if (!request.decision.allowed || request.host === null) return { ok: false, decision: request.decision };
  const routed = await routeTo(deps, policy, request.host, port, request.match, request.decision);
  if (!routed.ok) return { ok: false, decision: routed.decision };
  return connectRoute(routed.route, deps.settings().connectTimeoutMs, null);
}
