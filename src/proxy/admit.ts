// The admit stage: the per-client limits (proxy.limits), taken before any password is checked so a
// client flooding bad credentials pays for its own flood.
import { refuse, type Decision } from '../policy/decide.js';
import { ClientLimits } from './client-limits.js';
import type { ConnectionContext, ProxyDeps } from './context.js';

/** What admit needs of a tunnel or a plain-HTTP request: who the client is, and where to hand the slot. */
export interface Admittee {
  readonly ctx: ConnectionContext;
  /** Keeps the slot's release until the tunnel or request ends, which calls it exactly once. */
  hold(release: () => void): void;
}

/**
 * Takes a per-client slot (given back when the tunnel or request ends), or the refusal: 503
 * too_many_connections "per client" or 429 rate_limited. Keyed by the client address: it runs
 * before authentication, so no user is known yet (and a claimed one is not trusted).
 */
export function admitClient(deps: ProxyDeps, conn: Admittee): Decision | null {
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
  const plain = conn.ctx.mode === 'http';
  return verdict === 'connections'
    ? refuse(
        'too_many_connections',
        `per client: ${who} has ${limits.perClientConnections} ${plain ? 'requests in flight' : 'tunnels open'} ` +
          '(proxy.limits.perClientConnections)',
      )
    : refuse(
        'rate_limited',
        `per client: ${who} is over ${limits.perClientRate} new ${plain ? 'requests' : 'tunnels'}/s ` +
          '(proxy.limits.perClientRate)',
      );
}
