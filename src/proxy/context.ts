// What the proxy needs from the rest of the gateway, and the per-connection state it keeps.
import type { Logger } from 'pino';
import type { ParentProxy } from '../config/parent.js';
import type { Recorder } from '../audit/recorder.js';
import type { Socket } from 'node:net';
import type { Decision, LearnedLookup } from '../policy/decide.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import type { CidrList } from '../net/address.js';
import type { ClientLimits } from './client-limits.js';
import type { ConnectionTracker } from './connection-tracker.js';
import type { HostResolver } from './resolver.js';

export interface ProxySettings {
  readonly connectTimeoutMs: number;
  readonly clientHelloTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxClientHelloBytes: number;
  readonly allowPlainHttp: boolean;
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  readonly limits: {
    readonly perClientConnections: number;
    readonly perClientRate: number;
    readonly maxTunnelSeconds: number;
  };
}

/** Which per-client limit refused or ended a tunnel; for metrics. */
export type ClientLimit = 'connections' | 'rate' | 'lifetime';

/** The answer of proxy authentication: the user, or why not (never the password). */
export type AuthResult = { ok: true; user: string } | { ok: false; detail: string };

/** Checks a Proxy-Authorization value against proxy.auth.usersFile; the client pays for its checks. */
export interface ProxyAuthenticator {
  check(header: string | undefined, client: string | null): Promise<AuthResult>;
}

export interface TunnelEvents {
  opened(): void;
  closed(bytesUp: number, bytesDown: number): void;
  /** Seconds from the request to a vetted destination (policy, DNS, address checks); for metrics. */
  decided?(seconds: number): void;
  /** Seconds spent waiting for the TLS ClientHello after the 200; for metrics. */
  helloWaited?(seconds: number): void;
  /** A per-client limit fired (refused a tunnel, or ended one at its maximum lifetime). */
  limited?(limit: ClientLimit): void;
}

export interface ProxyDeps {
  /** The current snapshot; a tunnel reads it once and keeps it (reloads affect new tunnels only). */
  policy(): PolicySnapshot;
  settings(): ProxySettings;
  resolver(): HostResolver;
  readonly recorder: Recorder;
  /** Open client connections across all listeners (proxy.maxConnections is gateway-wide). */
  readonly connections: ConnectionTracker;
  /** Per-client concurrency and rate (proxy.limits), shared by both listeners. */
  readonly limits: ClientLimits;
  /** Peers allowed (and then required) to send a PROXY protocol header; null: none. */
  proxyProtocolTrusted(): CidrList | null;
  /** Proxy authentication, when proxy.auth.usersFile is set; null: off. */
  auth(): ProxyAuthenticator | null;
  readonly log: Logger;
  readonly events?: TunnelEvents;
  /** Storage hosts learned from registry redirects (blobStorage: learned), read by the host check. */
  readonly learned?: LearnedLookup;
  /** Terminates and checks tunnels of registries with inspect: true (src/inspect/). */
  readonly inspector?: TunnelInspector;
  /** The parent proxy allowed tunnels go through (proxy.parent); absent or null = direct. */
  readonly parent?: () => ParentProxy | null;
}

/** What the proxy asks of inspection: whether a vetted tunnel is inspected, and to run it if so. */
export interface TunnelInspector {
  wants(rule: string | null): boolean;
  /** Takes over an allowed tunnel after the ClientHello; writes the tunnel's record when it ends. */
  run(deps: ProxyDeps, ctx: ConnectionContext, client: Socket, upstream: Socket, first: Buffer): Promise<void>;
}

/** Per-connection state, one typed object rather than properties glued onto sockets. */
export interface ConnectionContext {
  readonly startedAt: number;
  readonly mode: 'connect' | 'transparent' | 'http';
  /** The peer, or the client a trusted PROXY protocol header named. */
  client: string | null;
  /** The authenticated proxy user, when proxy authentication is on. */
  user: string | null;
  host: string | null;
  port: number | null;
  sni: string | null;
  ip: string | null;
  decision: Decision | null;
  /** 'parent' when the tunnel went through proxy.parent (no address was checked). */
  via?: 'parent';
}

/** The one factory of per-connection state, for every listener and the plain-HTTP forwarder. */
export function newContext(mode: ConnectionContext['mode'], peer: string | undefined): ConnectionContext {
  return {
    startedAt: Date.now(),
    mode,
    client: clientAddress(peer),
    user: null,
    host: null,
    port: null,
    sni: null,
    ip: null,
    decision: null,
  };
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
    user: ctx.user,
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
