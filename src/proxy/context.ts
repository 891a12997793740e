// What the proxy needs from the rest of the gateway, and the per-connection state it keeps.
import type { Logger } from 'pino';
import type { ParentProxy } from '../config/parent.js';
import type { Recorder } from '../audit/recorder.js';
import type { Decision } from '../policy/decide.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import type { ConnectionTracker } from './connection-tracker.js';
import type { HostResolver } from './resolver.js';

export interface ProxySettings {
  readonly connectTimeoutMs: number;
  readonly clientHelloTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxClientHelloBytes: number;
}

export interface TunnelEvents {
  opened(): void;
  closed(bytesUp: number, bytesDown: number): void;
  /** Seconds from the request to a vetted destination (policy, DNS, address checks); for metrics. */
  decided?(seconds: number): void;
  /** Seconds spent waiting for the TLS ClientHello after the 200; for metrics. */
  helloWaited?(seconds: number): void;
}

export interface ProxyDeps {
  /** The current snapshot; a tunnel reads it once and keeps it (reloads affect new tunnels only). */
  policy(): PolicySnapshot;
  settings(): ProxySettings;
  resolver(): HostResolver;
  readonly recorder: Recorder;
  /** Open client connections across all listeners (proxy.maxConnections is gateway-wide). */
  readonly connections: ConnectionTracker;
  readonly log: Logger;
  readonly events?: TunnelEvents;
  /** The parent proxy allowed tunnels go through (proxy.parent); absent or null = direct. */
  readonly parent?: () => ParentProxy | null;
}

/** Per-connection state, one typed object rather than properties glued onto sockets. */
export interface ConnectionContext {
  readonly startedAt: number;
  readonly mode: 'connect' | 'transparent' | 'http';
  readonly client: string | null;
  host: string | null;
  port: number | null;
  sni: string | null;
  ip: string | null;
  decision: Decision | null;
  /** 'parent' when the tunnel went through proxy.parent (no address was checked). */
  via?: 'parent';
}

/** `::ffff:10.0.0.5` -> `10.0.0.5`: clients are recorded and matched as IPv4 when they are. */
export function clientAddress(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  return raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
}

/** Writes the connection's decision record (once, at its end), with bytes when a tunnel carried any. */
export function recordConnection(
  deps: ProxyDeps,
  ctx: ConnectionContext,
  bytesUp: number | null = null,
  bytesDown: number | null = null,
): void {
  if (ctx.decision === null) return;
  deps.recorder.record({
    mode: ctx.mode,
    client: ctx.client,
    host: ctx.host,
    port: ctx.port,
    sni: ctx.sni,
    ip: ctx.ip,
    decision: ctx.decision,
    startedAt: ctx.startedAt,
    bytesUp,
    bytesDown,
    via: ctx.via,
  });
}
