// The one tunnel pipeline, fed by both listeners' thin entry points (connect-handler.ts,
// transparent-handler.ts). Its stages, in this order, each a step below:
//   admit -> authenticate -> decide -> audit gate -> route -> ClientHello and SNI -> handle -> record
// Plain-HTTP requests (http-forward.ts) run the same stages up to route (admitToRoute), then forward.
// A feature plugs into a stage (a handler into `handle`), never into an entry point.
import { auditGate } from '../audit/recorder.js';
import { block, chain, checkRequest, checkSni, refuse, type Decision } from '../policy/decide.js';
import type { HostMatch } from '../policy/rules.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import { admitClient, type Admittee } from './admit.js';
import type { ClientConnection } from './client-connection.js';
import type { ProxyDeps, TunnelHandler, TunnelJob } from './context.js';
import type { HelloOutcome } from './hello-reader.js';
import { DownstreamReader } from './pump.js';
import { SPLICE } from './splice-handler.js';
import { connectRoute, routeTo, vettedDial, type Dialed, type Route } from './vetted-dial.js';

/** What was asked, for the stages up to route: by a tunnel's entry point or one plain-HTTP request. */
export interface Asked {
  /** The CONNECT authority, the SNI and proxy.transparentUpstreamPort, or a plain request's target. */
  readonly host: string;
  readonly port: number;
  /** The Proxy-Authorization value; null where there is no HTTP to carry one (transparent listener). */
  readonly credentials: { readonly header: string | undefined } | null;
}

/** What an entry point knows when it hands a connection to the pipeline. */
export interface TunnelEntry extends Asked {
  /**
   * The ClientHello stage: CONNECT answers 200 and reads it; the transparent listener already has it.
   * 'closed': the client went (or half-closed with nothing to send; the entry answered it).
   */
  hello(conn: ClientConnection): Promise<HelloOutcome>;
}

/** The decided and routed request, or the decision that refuses it (the caller answers and records). */
export type Decided =
  | { ok: false; decision: Decision }
  | {
      ok: true;
      policy: PolicySnapshot;
      match: HostMatch | null;
      handler: TunnelHandler;
      route: Route;
      /** The request's decision chained with the route's address checks. */
      decision: Decision;
    };

/**
 * The stages every request shares, a tunnel or a plain-HTTP request (http-forward.ts):
 * admit -> authenticate -> decide -> audit gate -> route. Fills the context (host, user, ip, via).
 */
export async function admitToRoute(deps: ProxyDeps, conn: Admittee, asked: Asked): Promise<Decided> {
  const { ctx } = conn;
  ctx.host = asked.host;
  ctx.port = asked.port;

  // admit: before the password check, so a flood of bad credentials is limited like any other.
  const limited = admitClient(deps, conn);
  if (limited !== null) return { ok: false, decision: limited };

  // authenticate
  const auth = asked.credentials === null ? null : deps.auth();
  if (auth !== null) {
    const who = await auth.check(asked.credentials?.header, ctx.client);
    if (!who.ok) return { ok: false, decision: refuse('proxy_auth_required', who.detail) };
    ctx.user = who.user;
  }

  // decide
  const t0 = performance.now();
  const policy = deps.policy();
  const request = checkRequest(
    policy,
    { client: ctx.client, user: ctx.user, host: asked.host, port: asked.port },
    deps.learned ?? null,
  );
  if (request.host !== null) ctx.host = request.host;
  if (!request.decision.allowed) return { ok: false, decision: request.decision };

  // audit gate
  const unaudited = auditGate(deps);
  if (unaudited !== null) return { ok: false, decision: chain(request.decision, unaudited) };

  // route: the handler is chosen first, so that only a handler that splices gets a raw upstream.
  const handler: TunnelHandler = deps.handlers?.find((h) => h.claims(request.match)) ?? SPLICE;
  const routed = await routeTo(deps, policy, ctx.host ?? asked.host, asked.port, request.match, request.decision);
  deps.events?.decided?.((performance.now() - t0) / 1000);
  if (!routed.ok) {
    ctx.ip = routed.ip;
    return { ok: false, decision: routed.decision };
  }
  const route = routed.route;
  if (route.via === 'parent') ctx.via = 'parent';
  else ctx.ip = route.ip;
  if (!route.decision.allowed) return { ok: false, decision: route.decision };
  return { ok: true, policy, match: request.match, handler, route, decision: route.decision };
}

export async function runPipeline(deps: ProxyDeps, conn: ClientConnection, entry: TunnelEntry): Promise<void> {
  const { ctx } = conn;
  const settings = deps.settings();
  conn.enter('deciding');
  const routed = await admitToRoute(deps, conn, entry);
  if (!routed.ok) return conn.refuse(routed.decision);
  const { policy, handler, route } = routed;
  let decision = routed.decision;
  // route, for a splice: the raw upstream is dialled before the 200.
  let upstream: Extract<Dialed, { ok: true }> | null = null;
  if (handler.rawUpstream) {
    const dialed = await connectRoute(
      route,
      settings.connectTimeoutMs,
      new DownstreamReader(),
      () => conn.socket.destroyed,
    );
    if (!dialed.ok) return conn.refuse(dialed.decision);
    ctx.ip = dialed.ip;
    conn.upstream = dialed.upstream;
    decision = dialed.decision;
    upstream = dialed;
    if (!decision.allowed) return conn.refuse(decision);
  }

  // ClientHello and SNI
  const hello = await entry.hello(conn);
  if (hello.kind === 'closed') return conn.record(decision, 0, 0); // finish() closes both sides
  if (hello.kind === 'hello') {
    ctx.sni = hello.sni;
    decision = chain(decision, checkSni(policy, route.host, hello.sni, decision.rule, hello.hasEch));
  } else if (hello.kind === 'not_tls') {
    decision = chain(decision, block(policy, 'not_tls', hello.detail, decision.rule));
  } else {
    const detail = `no complete ClientHello within ${settings.clientHelloTimeoutMs} ms`;
    decision = chain(decision, block(policy, 'client_hello_timeout', detail, decision.rule));
  }
  if (!decision.allowed) return conn.refuse(decision); // the 200 is out: a block closes the tunnel

  // handle, then record (each handler writes the tunnel's record through job.record)
  ctx.decision = decision;
  conn.upstream = null; // the handler owns (and closes) it from here
  conn.enter('tunnel');
  const routeKey = `${route.via === 'parent' ? `parent ${route.parent.label}` : route.ip} ${route.host} ${route.port}`;
  const job: TunnelJob = {
    ctx,
    client: conn.socket,
    first: hello.buffered,
    decision,
    match: routed.match,
    policy,
    upstream,
    connect: () => connectRoute(route, settings.connectTimeoutMs, null),
    dial: (host, port) => vettedDial(deps, { client: ctx.client, user: ctx.user }, host, port),
    routeKey,
    settings,
    recorder: deps.recorder,
    events: deps.events,
    record: (d, up, down) => conn.record(d, up, down),
  };
  await handler.run(job);
}
