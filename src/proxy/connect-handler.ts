// One connection on the proxy listener, start to end: PROXY header, request head, authentication,
// per-client limits, decide, resolve, dial, 200, ClientHello, SNI, splice, record; or the handover of a
// plain-HTTP request to the http.Server-based forwarder. Every path ends in conn.finish().
import type { Socket } from 'node:net';
import { auditGate } from '../audit/recorder.js';
import { block, checkRequest, checkSni, refuse, chain } from '../policy/decide.js';
import { parseAuthority } from '../net/authority.js';
import { parseIp } from '../net/address.js';
import { ClientConnection } from './client-connection.js';
import type { ProxyDeps } from './context.js';
import { chooseDestination } from './destination.js';
import { readClientHello } from './hello-reader.js';
import { parseProxyHeader } from './proxy-protocol.js';
import { printable } from './request-head.js';
import { RequestReader } from './request-reader.js';
import { CONNECT_ESTABLISHED } from './responses.js';
import { dialViaParent } from './parent.js';
import { admitClient, dialVetted, runTunnel, type Dialed } from './tunnel.js';

/** Gives a socket (and the bytes already read from it) to the plain-HTTP forwarder. */
export type HandOver = (socket: Socket, bytes: Buffer, client: string | null) => void;

export async function handleProxyConnection(deps: ProxyDeps, socket: Socket, handOver: HandOver): Promise<void> {
  const conn = new ClientConnection(deps, socket, 'connect', 'request');
  const trusted = deps.proxyProtocolTrusted();
  // The peer as matched everywhere else (`::ffff:10.0.0.5` as 10.0.0.5); parsed only when configured.
  const peer = trusted === null ? null : parseIp(conn.ctx.client ?? '');
  const expectHeader = peer !== null && trusted !== null && trusted.contains(peer);
  if (expectHeader) conn.enter('proxy_header');
  try {
    await serve(deps, conn, expectHeader, handOver);
  } finally {
    conn.finish();
  }
}

async function serve(
  deps: ProxyDeps,
  conn: ClientConnection,
  expectHeader: boolean,
  handOver: HandOver,
): Promise<void> {
  const settings = deps.settings();
  const { ctx, socket } = conn;
  const reader = new RequestReader(
    socket,
    settings.maxHeaderBytes,
    settings.maxClientHelloBytes,
    expectHeader ? parseProxyHeader : null,
  );
  const got = await reader.read(settings.headersTimeoutMs);
  if (reader.proxied !== null && reader.proxied.client !== null) ctx.client = reader.proxied.client;
  if (got.kind === 'closed') return; // gone before a request: nothing was asked, nothing to record
  if (got.kind === 'timeout') {
    const detail = `no complete request within proxy.headersTimeoutMs (${settings.headersTimeoutMs} ms)`;
    return conn.refuse(refuse('bad_request', detail));
  }
  if (got.kind === 'invalid') return conn.refuse(refuse('bad_request', got.detail));
  const head = got.head;

  if (head.method !== 'CONNECT') {
    if (!/^http:\/\//i.test(head.target))
      return conn.refuse(refuse('bad_request', 'only CONNECT or absolute-form http:// requests are proxied'));
    if (!settings.allowPlainHttp) {
      ctx.host = hostOf(head.target);
      return conn.refuse(refuse('plain_http_not_allowed', 'plain http:// requests are off (proxy.allowPlainHttp)'));
    }
    conn.handOver();
    handOver(socket, reader.take(true), reader.proxied?.client ?? null);
    return;
  }

  conn.enter('deciding');
  const authority = parseAuthority(head.target);
  if (authority === null) {
    const shown = printable(head.target);
    ctx.host = shown.slice(0, 256) || null;
    return conn.refuse(refuse('bad_request', `CONNECT target "${shown}" is not host:port`));
  }
  ctx.host = authority.host;
  ctx.port = authority.port;
  const auth = deps.auth();
  if (auth !== null) {
    const who = await auth.check(head.proxyAuthorization, ctx.client);
    if (!who.ok) return conn.refuse(refuse('proxy_auth_required', who.detail));
    ctx.user = who.user;
  }
  const limited = admitClient(deps, conn);
  if (limited !== null) return conn.refuse(limited);

  const t0 = performance.now();
  const policy = deps.policy();
  const request = checkRequest(
    policy,
    {
      client: ctx.client,
      user: ctx.user,
      host: authority.host,
      port: authority.port,
    },
    deps.learned,
  );
  if (request.host !== null) ctx.host = request.host;
  if (!request.decision.allowed) return conn.refuse(request.decision);
  const unaudited = auditGate(deps);
  if (unaudited !== null) return conn.refuse(chain(request.decision, unaudited));

  // With proxy.parent the parent resolves the name: no address to check here (parent.ts).
  const parent = deps.parent?.() ?? null;
  let dialed: Dialed;
  if (parent === null) {
    const dest = await chooseDestination(policy, deps.resolver(), ctx.host, request.match);
    deps.events?.decided?.((performance.now() - t0) / 1000);
    ctx.ip = dest.ip;
    if (!dest.ok) return conn.refuse(chain(request.decision, dest.decision));
    dialed = await dialVetted(deps, conn, policy, request.match, request.decision, dest, authority.port);
  } else {
    ctx.via = 'parent';
    dialed = await dialViaParent(deps, conn.socket, parent, ctx.host, authority.port, request.decision.rule);
  }
  if (!dialed.ok) return conn.refuse(dialed.decision);
  conn.upstream = dialed.upstream;
  let decision = dialed.decision ?? request.decision;
  if (!decision.allowed) return conn.refuse(decision);
  if (reader.ended && reader.tailLength === 0) {
    // Half-closed before the 200 with nothing sent: no ClientHello can follow.
    return conn.record(decision, 0, 0);
  }
  socket.write(CONNECT_ESTABLISHED);

  conn.enter('client_hello');
  const helloFrom = performance.now();
  const hello = await readClientHello(
    socket,
    reader.take(),
    settings.clientHelloTimeoutMs,
    settings.maxClientHelloBytes,
    true, // nothing below waits on I/O before the pump reads: no pause/resume
  );
  deps.events?.helloWaited?.((performance.now() - helloFrom) / 1000);
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
  if (deps.inspector?.wants(decision.rule)) {
    // Inspection takes the tunnel over and writes its record; finish() still closes the client. The
    // hello reader left the socket flowing for the pump: paused, the ClientHello the inspector puts
    // back (unshift) stays buffered for its TLS socket instead of being emitted to no listener.
    socket.pause();
    ctx.decision = decision;
    conn.upstream = null;
    conn.enter('tunnel');
    return deps.inspector.run(deps, ctx, socket, dialed.upstream, hello.buffered);
  }
  await runTunnel(deps, conn, dialed, hello.buffered, decision);
}

/** The host of an absolute-form target, for the record of a refused plain request. */
function hostOf(target: string): string | null {
  try {
    return new URL(target).hostname || null;
  } catch {
    return null;
  }
}
