// The admit stage: the per-client limits (proxy.limits), taken before any password is checked so a
// client flooding bad credentials pays for its own flood.
import { refuse, type Decision } from '../policy/decide.js';
import type { ClientConnection } from './client-connection.js';
import { ClientLimits } from './client-limits.js';
import type { ProxyDeps } from './context.js';

/**
 * Takes a per-client slot (given back by the connection's finish()), or the refusal: 503
 * too_many_connections "per client" or 429 rate_limited. Keyed by the client address: it runs
 * before authentication, so no user is known yet (and a claimed one is not trusted).
 */
export function admitClient(deps: ProxyDeps, conn: ClientConnection): Decision | null {
  const limits = deps.settings().limits;
  if (limits.perClientConnections === 0 && limits.perClientRate === 0) return null;
  const key = ClientLimits.key(conn.ctx.client);
  const verdict = deps.limits.admit(key, limits);
  if (verdict === 'ok') {
    conn.hold(() => deps.limits.release(key));
    return null;
  }
  deps.events?.limited?.(verdict);
  const who = `client ${conn.ctx.client ?? 'unknown'}`;
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
