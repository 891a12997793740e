// One connection on the transparent listener (traffic redirected to the gateway without CONNECT):
// the ClientHello's SNI names the destination, then the same checks and tunnel as CONNECT.
import type { Socket } from 'node:net';
import { chain, checkRequest, checkSni, refuse, type Decision } from '../policy/decide.js';
import { clientAddress, recordConnection, type ConnectionContext, type ProxyDeps } from './context.js';
import { chooseDestination } from './destination.js';
import { readClientHello } from './hello-reader.js';
import { dialViaParent } from './parent.js';
import { dialVetted, runTunnel, type Dialed } from './tunnel.js';

export async function handleTransparent(deps: ProxyDeps, socket: Socket, upstreamPort: number): Promise<void> {
  socket.on('error', () => undefined);
  const ctx: ConnectionContext = {
    startedAt: Date.now(),
    mode: 'transparent',
    client: clientAddress(socket.remoteAddress),
    host: null,
    port: upstreamPort,
    sni: null,
    ip: null,
    decision: null,
  };
  const settings = deps.settings();
  const policy = deps.policy();
  // Nothing has been answered yet and there is no HTTP to answer with: a block closes the socket.
  const blocked = (decision: Decision): void => {
    ctx.decision = decision;
    socket.destroy();
    recordConnection(deps, ctx);
  };

  const hello = await readClientHello(
    socket,
    Buffer.alloc(0),
    settings.clientHelloTimeoutMs,
    settings.maxClientHelloBytes,
  );
  if (hello.kind === 'closed') return;
  // Without a ClientHello there is no destination to let through, so report mode cannot soften these.
  if (hello.kind === 'timeout')
    return blocked(
      refuse('client_hello_timeout', `no complete ClientHello within ${settings.clientHelloTimeoutMs} ms`),
    );
  if (hello.kind === 'not_tls') return blocked(refuse('not_tls', hello.detail));
  ctx.sni = hello.sni;
  if (hello.sni === null || hello.sni === '')
    return blocked(refuse('sni_missing', 'the ClientHello has no server_name: nothing to route by'));

  const request = checkRequest(policy, { client: ctx.client, host: hello.sni, port: upstreamPort });
  ctx.host = request.host ?? hello.sni;
  let decision = chain(
    request.decision,
    checkSni(policy, request.host ?? hello.sni, hello.sni, request.decision.rule, hello.hasEch),
  );
  if (!decision.allowed) return blocked(decision);
  if (request.host === null) return blocked(refuse('bad_request', 'SNI is not a host name'));

  // With proxy.parent the parent resolves the name: no address to check here (parent.ts).
  const parent = deps.parent?.() ?? null;
  let dialed: Dialed;
  if (parent === null) {
    const dest = await chooseDestination(policy, deps.resolver(), request.host, request.match);
    ctx.ip = dest.ip;
    decision = chain(decision, dest.decision);
    if (!dest.ok || !decision.allowed) return blocked(decision);
    dialed = await dialVetted(deps, socket, dest.ip, upstreamPort, decision.rule);
  } else {
    ctx.via = 'parent';
    dialed = await dialViaParent(deps, socket, parent, request.host, upstreamPort, decision.rule);
  }
  if (!dialed.ok) return blocked(dialed.decision);
  ctx.decision = decision;
  await runTunnel(deps, ctx, socket, dialed, hello.buffered);
}
