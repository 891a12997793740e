// What the proxy needs from the rest of the gateway, and the per-connection state it keeps.
import type { Logger } from 'pino';
import { newRecordId, type Recorder, type RecordInput } from '../audit/recorder.js';
import type { RequestFields } from '../audit/record.js';
import type { Socket } from 'node:net';
import type { Decision } from '../policy/decide.js';
import type { HostMatch } from '../policy/rules.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import type { CidrList } from '../net/address.js';
import type { ClientLimits } from './client-limits.js';
import type { ConnectionTracker } from './connection-tracker.js';
import type { Dialed, DialDeps } from './vetted-dial.js';

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
type ClientLimit = 'connections' | 'rate' | 'lifetime';

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

export interface ProxyDeps extends DialDeps {
  settings(): ProxySettings;
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
  /** Handlers that may take an allowed tunnel instead of the splice, asked in order (inspection). */
  readonly handlers?: readonly TunnelHandler[];
}

/**
 * The handle stage's plug-in point. The pipeline asks each handler, in order, whether it takes a
 * tunnel allowed under `match` (after decide, before route); the first that does runs it, and the
 * splice runs the rest. A handler that wants no raw upstream (rawUpstream: false) opens its own
 * connections with `job.connect()`, the vetted dial along the tunnel's route.
 */
export interface TunnelHandler {
  claims(match: HostMatch | null): boolean;
  /** True: the pipeline dials before the 200 and hands the connection over (a splice does). */
  readonly rawUpstream: boolean;
  /** Runs the tunnel to its end and writes its record with job.record(); never throws for I/O. */
  run(job: TunnelJob): Promise<void>;
}

/** An allowed tunnel after its ClientHello, as the handle stage gets it. */
export interface TunnelJob {
  /** The connection's facts; the source of every record the tunnel writes (recordOf). */
  readonly ctx: Readonly<ConnectionContext>;
  readonly client: Socket;
  /** What the client sent so far (its ClientHello), to be replayed first. */
  readonly first: Buffer;
  readonly decision: Decision;
  readonly match: HostMatch | null;
  readonly policy: PolicySnapshot;
  /** The raw upstream when the handler asked for one (rawUpstream), else null. */
  readonly upstream: Extract<Dialed, { ok: true }> | null;
  /** A new plain connection along the tunnel's vetted route (same addresses or the same parent). */
  readonly connect: () => Promise<Dialed>;
  /** The vetted dial to another host (policy host check, addresses or parent) for this client. */
  readonly dial: (host: string, port: number) => Promise<Dialed>;
  /** A key naming the route, for pooling connections made with `connect` across tunnels. */
  readonly routeKey: string;
  readonly settings: ProxySettings;
  readonly recorder: Recorder;
  readonly events?: TunnelEvents;
  /** Writes the tunnel's record once (a later call is ignored). */
  record(decision: Decision, bytesUp: number | null, bytesDown: number | null): void;
}

/** Per-connection state, one typed object rather than properties glued onto sockets. */
export interface ConnectionContext {
  readonly startedAt: number;
  readonly mode: 'connect' | 'transparent' | 'http';
  /** The tunnel record's id, taken when the connection starts: request records point at it. */
  readonly id: string;
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
  const now = Date.now();
  return {
    startedAt: now,
    mode,
    id: newRecordId(now),
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
function clientAddress(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  return raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
}

/** What happened, on top of the connection's facts: a tunnel's end, or one request inside it. */
export interface Outcome {
  readonly decision: Decision;
  readonly bytesUp?: number | null;
  readonly bytesDown?: number | null;
  /** A request record: its own start and fields; the tunnel's facts (user, via, ip...) are shared. */
  readonly request?: { readonly startedAt: number; readonly fields: RequestFields };
}

/** The one function that turns a connection's facts into a record of any kind. */
export function recordOf(ctx: Readonly<ConnectionContext>, outcome: Outcome): RecordInput {
  const input: RecordInput = {
    mode: ctx.mode,
    client: ctx.client,
    user: ctx.user,
    host: ctx.host,
    port: ctx.port,
    sni: ctx.sni,
    ip: ctx.ip,
    decision: outcome.decision,
    startedAt: outcome.request?.startedAt ?? ctx.startedAt,
    bytesUp: outcome.bytesUp ?? null,
    bytesDown: outcome.bytesDown ?? null,
    via: ctx.via,
  };
  if (outcome.request !== undefined) input.request = outcome.request.fields;
  else input.id = ctx.id;
  return input;
}
