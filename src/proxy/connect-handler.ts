// One CONNECT request, start to end: parse, decide, resolve, dial, 200, ClientHello, SNI, splice, record.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { block, checkRequest, checkSni, refuse, chain, type Decision } from '../policy/decide.js';
import { parseAuthority } from '../net/authority.js';
import { chooseDestination } from './destination.js';
import { readClientHello } from './hello-reader.js';
import { dialViaParent } from './parent.js';
import { dialVetted, runTunnel, type Dialed } from './tunnel.js';
import { CONNECT_ESTABLISHED, refuseSocket } from './responses.js';
import { clientAddress, recordConnection, type ConnectionContext, type ProxyDeps } from './context.js';

export async function handleConnect(
  deps: ProxyDeps,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): Promise<void> {
  socket.on('error', () => undefined); // every error ends in 'close', which the steps below observe
  const ctx: ConnectionContext = {
    startedAt: Date.now(),
    mode: 'connect',
    client: clientAddress(socket.remoteAddress),
    host: null,
    port: null,
    sni: null,
    ip: null,
    decision: null,
  };
  const t0 = performance.now();
  const settings = deps.settings();
  const policy = deps.policy();
  const finishBlocked = (decision: Decision): void => {
    ctx.decision = decision;
    if (decision.reason !== null) refuseSocket(socket, decision.reason, decision.detail);
    recordConnection(deps, ctx);
  };

  const authority = parseAuthority(req.url);
  if (authority === null) {
    ctx.host = (req.url ?? '').slice(0, 256) || null;
    return finishBlocked(refuse('bad_request', `CONNECT target "${(req.url ?? '').slice(0, 100)}" is not host:port`));
  }
  ctx.host = authority.host;
  ctx.port = authority.port;
  const request = checkRequest(policy, { client: ctx.client, host: authority.host, port: authority.port });
  if (request.host !== null) ctx.host = request.host;
  let decision = request.decision;
  if (!decision.allowed) return finishBlocked(decision);

  // With proxy.parent the parent resolves the name: no address to check here (parent.ts).
  const parent = deps.parent?.() ?? null;
  let dialed: Dialed;
  if (parent === null) {
    const dest = await chooseDestination(policy, deps.resolver(), ctx.host, request.match);
    deps.events?.decided?.((performance.now() - t0) / 1000);
    ctx.ip = dest.ip;
    decision = chain(decision, dest.decision);
    if (!dest.ok || !decision.allowed) return finishBlocked(decision);
    dialed = await dialVetted(deps, socket, dest.ip, authority.port, decision.rule);
  } else {
    ctx.via = 'parent';
    dialed = await dialViaParent(deps, socket, parent, ctx.host, authority.port, decision.rule);
  }
  if (!dialed.ok) return finishBlocked(dialed.decision);
  socket.write(CONNECT_ESTABLISHED);

  const helloFrom = performance.now();
  const hello = await readClientHello(socket, head, settings.clientHelloTimeoutMs, settings.maxClientHelloBytes);
  deps.events?.helloWaited?.((performance.now() - helloFrom) / 1000);
  if (hello.kind === 'closed') {
    dialed.upstream.destroy();
    ctx.decision = decision;
    return recordConnection(deps, ctx, 0, 0);
  }
  if (hello.kind === 'hello') {
    ctx.sni = hello.sni;
    decision = chain(decision, checkSni(policy, ctx.host, hello.sni, decision.rule, hello.hasEch));
  } else if (hello.kind === 'not_tls') {
    decision = chain(decision, block(policy, 'not_tls', hello.detail, decision.rule));
  } else {
    decision = chain(
      decision,
      block(
        policy,
        'client_hello_timeout',
        `no complete ClientHello within ${settings.clientHelloTimeoutMs} ms`,
        decision.rule,
      ),
    );
  }
  if (!decision.allowed) {
    // The 200 is already sent: a block now closes the tunnel.
    dialed.upstream.destroy();
    socket.destroy();
    ctx.decision = decision;
    return recordConnection(deps, ctx, 0, 0);
  }
  ctx.decision = decision;
  await runTunnel(deps, ctx, socket, dialed, hello.buffered);
}
