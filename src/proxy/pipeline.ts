// The one tunnel pipeline, fed by both listeners' thin entry points (connect-handler.ts,
// transparent-handler.ts). Its stages, in this order, each a step below:
//   admit -> authenticate -> decide -> audit gate -> route -> ClientHello and SNI -> handle -> record
// A feature plugs into a stage (a handler into `handle`), never into an entry point.
import { auditGate } from '../audit/recorder.js';
import { block, chain, checkRequest, checkSni, refuse } from '../policy/decide.js';
import { admitClient } from './admit.js';
import type { ClientConnection } from './client-connection.js';
import type { ProxyDeps, TunnelHandler, TunnelJob } from './context.js';
import type { HelloOutcome } from './hello-reader.js';
import { DownstreamReader } from './pump.js';
import { SPLICE } from './splice-handler.js';
import { connectRoute, routeTo, vettedDial, type Dialed } from './vetted-dial.js';

/** What an entry point knows when it hands a connection to the pipeline. */
export interface TunnelEntry {
  /** The host and port asked for: the CONNECT authority, or the SNI and proxy.transparentUpstreamPort. */
  readonly host: string;
  readonly port: number;
  /** CONNECT: the Proxy-Authorization value; null on the transparent listener (no HTTP to carry one). */
  readonly credentials: { readonly header: string | undefined } | null;
  /**
   * The ClientHello stage: CONNECT answers 200 and reads it; the transparent listener already has it.
   * 'closed': the client went (or half-closed with nothing to send; the entry answered it).
   */
  hello(conn: ClientConnection): Promise<HelloOutcome>;
}

export async function runPipeline(deps: ProxyDeps, conn: ClientConnection, entry: TunnelEntry): Promise<void> {
  const { ctx } = conn;
  const settings = deps.settings();
  ctx.host = entry.host;
  ctx.port = entry.port;
  conn.enter('deciding');

  // admit: before the password check, so a flood of bad credentials is limited like any other.
  const limited = admitClient(deps, conn);
  if (limited !== null) return conn.refuse(limited);

  // authenticate
  const auth = entry.credentials === null ? null : deps.auth();
  if (auth !== null) {
    const who = await auth.check(entry.credentials?.header, ctx.client);
    if (!who.ok) return conn.refuse(refuse('proxy_auth_required', who.detail));
    ctx.user = who.user;
  }

  // decide
  const t0 = performance.now();
  const policy = deps.policy();
  const request = checkRequest(
    policy,
    { client: ctx.client, user: ctx.user, host: entry.host, port: entry.port },
    deps.learned ?? null,
  );
  if (request.host !== null) ctx.host = request.host;
  if (!request.decision.allowed) return conn.refuse(request.decision);

  // audit gate
  const unaudited = auditGate(deps);
  if (unaudited !== null) return conn.refuse(chain(request.decision, unaudited));

  // route: the handler is chosen first, so that only a handler that splices gets a raw upstream.
  const handler: TunnelHandler = deps.handlers?.find((h) => h.claims(request.match)) ?? SPLICE;
  const routed = await routeTo(deps, policy, ctx.host ?? entry.host, entry.port, request.match, request.decision);
  deps.events?.decided?.((performance.now() - t0) / 1000);
  if (!routed.ok) {
    ctx.ip = routed.ip;
    return conn.refuse(routed.decision);
  }
  const route = routed.route;
  if (route.via === 'parent') ctx.via = 'parent';
  else ctx.ip = route.ip;
  let decision = route.decision;
  if (!decision.allowed) return conn.refuse(decision);
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
    decision = chain(decision, checkSni(policy, ctx.host, hello.sni, decision.rule, hello.hasEch));
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
    match: request.match,
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
