// The part of a tunnel both listeners share once a host is allowed: the per-client limits, the dial
// (falling back to the next vetted address of the same answer), the splice and its record.
import type { Socket } from 'node:net';
import { chain, refuse, type Decision } from '../policy/decide.js';
import type { HostMatch } from '../policy/rules.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import type { ClientConnection } from './client-connection.js';
import { ClientLimits } from './client-limits.js';
import type { ProxyDeps } from './context.js';
import { nextVetted, type DestinationResult } from './destination.js';
import { dial } from './dial.js';
import { DownstreamReader, pump } from './pump.js';

/**
 * An upstream connection, or why there is none. `decision`: the request's decision chained with the
 * checks of the address actually dialled (absent when no address was checked here).
 */
export type Dialed =
  { ok: true; upstream: Socket; reader: DownstreamReader; decision?: Decision } | { ok: false; decision: Decision };

/**
 * Takes a per-client slot (given back by the connection's finish()), or the refusal: 503
 * too_many_connections "per client" or 429 rate_limited. Keyed by the user when there is one.
 */
export function admitClient(deps: ProxyDeps, conn: ClientConnection): Decision | null {
  const limits = deps.settings().limits;
  if (limits.perClientConnections === 0 && limits.perClientRate === 0) return null;
  const key = ClientLimits.key(conn.ctx.client, conn.ctx.user);
  const verdict = deps.limits.admit(key, limits);
  if (verdict === 'ok') {
    conn.hold(() => deps.limits.release(key));
    return null;
  }
  deps.events?.limited?.(verdict);
  const who = conn.ctx.user !== null ? `user ${conn.ctx.user}` : `client ${conn.ctx.client ?? 'unknown'}`;
  return verdict === 'connections'
    ? refuse(
        'too_many_connections',
        `per client: ${who} has ${limits.perClientConnections} tunnels open (proxy.limits.perClientConnections)`,
      )
    : refuse(
        'rate_limited',
        `per client: ${who} is over ${limits.perClientRate} new tunnels/s (proxy.limits.perClientRate)`,
      );
}

/**
 * Connects to the vetted address; when it refuses or times out, to the next address of the same
 * answer that passes the same checks, all within one proxy.connectTimeoutMs. An attempt with another
 * vetted address behind it gets half the time left, so one silent address cannot use up the deadline.
 * `base` is the decision before the address checks; the answer carries the dialled address's.
 */
export async function dialVetted(
  deps: ProxyDeps,
  conn: ClientConnection,
  policy: PolicySnapshot,
  match: HostMatch | null,
  base: Decision,
  dest: Extract<DestinationResult, { ok: true }>,
  port: number,
): Promise<Dialed> {
  const deadline = performance.now() + deps.settings().connectTimeoutMs;
  let ip = dest.ip;
  let decision = chain(base, dest.decision);
  let next = nextVetted(policy, match, dest.addresses, dest.index + 1);
  const failures: string[] = [];
  for (;;) {
    conn.ctx.ip = ip;
    const left = Math.max(1, Math.round(deadline - performance.now()));
    const reader = new DownstreamReader();
    const dialed = await dial(ip, port, next !== null ? Math.max(1, Math.round(left / 2)) : left, reader);
    if (dialed.ok && conn.socket.destroyed) {
      dialed.socket.destroy();
      return {
        ok: false,
        decision: refuse('upstream_unreachable', 'client went away before the tunnel opened', decision.rule),
      };
    }
    if (dialed.ok) return { ok: true, upstream: dialed.socket, reader, decision };
    failures.push(dialed.detail);
    if (next === null || performance.now() >= deadline || conn.socket.destroyed) break;
    ip = next.ip;
    decision = chain(base, next.decision);
    next = nextVetted(policy, match, dest.addresses, next.index + 1);
  }
  return { ok: false, decision: refuse('upstream_unreachable', failures.join('; '), decision.rule) };
}

/**
 * Splices an allowed tunnel until it ends (idle, either side closing, or proxy.limits.maxTunnelSeconds),
 * then writes its record (the `allowed` decision) with the bytes it carried.
 */
export async function runTunnel(
  deps: ProxyDeps,
  conn: ClientConnection,
  dialed: Extract<Dialed, { ok: true }>,
  first: Buffer,
  allowed: Decision,
): Promise<void> {
  const { upstream, reader } = dialed;
  conn.upstream = null; // the pump owns (and destroys) it from here
  conn.enter('tunnel');
  const settings = deps.settings();
  const maxSeconds = settings.limits.maxTunnelSeconds;
  let expired = false;
  const timer =
    maxSeconds > 0
      ? setTimeout(() => {
          expired = true;
          conn.socket.destroy();
        }, maxSeconds * 1000)
      : null;
  deps.events?.opened();
  await pump(conn.socket, upstream, reader, first, settings.idleTimeoutMs);
  if (timer !== null) clearTimeout(timer);
  deps.events?.closed(reader.stats.bytesUp, reader.stats.bytesDown);
  let decision = allowed;
  if (expired) {
    deps.events?.limited?.('lifetime');
    decision = { ...decision, detail: `closed at proxy.limits.maxTunnelSeconds (${maxSeconds} s)` };
  }
  conn.record(decision, reader.stats.bytesUp, reader.stats.bytesDown);
}
