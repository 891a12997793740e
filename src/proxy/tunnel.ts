// The part of a tunnel both listeners share once a destination is vetted: dial it, splice, record.
import type { Socket } from 'node:net';
import { refuse, type Decision } from '../policy/decide.js';
import { recordConnection, type ConnectionContext, type ProxyDeps } from './context.js';
import { dial } from './dial.js';
import { DownstreamReader, pump } from './pump.js';

export type Dialed = { ok: true; upstream: Socket; reader: DownstreamReader } | { ok: false; decision: Decision };

/** Connects to the vetted address; upstream_unreachable when that fails or the client has gone meanwhile. */
export async function dialVetted(
  deps: ProxyDeps,
  client: Socket,
  ip: string,
  port: number,
  rule: string | null,
): Promise<Dialed> {
  const reader = new DownstreamReader();
  const dialed = await dial(ip, port, deps.settings().connectTimeoutMs, reader);
  if (!dialed.ok) return { ok: false, decision: refuse('upstream_unreachable', dialed.detail, rule) };
  if (client.destroyed) {
    dialed.socket.destroy();
    return { ok: false, decision: refuse('upstream_unreachable', 'client went away before the tunnel opened', rule) };
  }
  return { ok: true, upstream: dialed.socket, reader };
}

/** Splices an allowed tunnel until it ends, then writes its record with the bytes it carried. */
export async function runTunnel(
  deps: ProxyDeps,
  ctx: ConnectionContext,
  client: Socket,
  dialed: Extract<Dialed, { ok: true }>,
  first: Buffer,
): Promise<void> {
  const { upstream, reader } = dialed;
  deps.events?.opened();
  await pump(client, upstream, reader, first, deps.settings().idleTimeoutMs);
  deps.events?.closed(reader.stats.bytesUp, reader.stats.bytesDown);
  recordConnection(deps, ctx, reader.stats.bytesUp, reader.stats.bytesDown);
}
