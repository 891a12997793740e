// One connection on the transparent listener (traffic redirected to the gateway without CONNECT):
// the ClientHello's SNI names the destination, then the same checks and tunnel as CONNECT.
import type { Socket } from 'node:net';
import { auditGate } from '../audit/recorder.js';
import { chain, checkRequest, checkSni, refuse } from '../policy/decide.js';
import { ClientConnection } from './client-connection.js';
import type { ProxyDeps } from './context.js';
import { chooseDestination } from './destination.js';
import { readClientHello } from './hello-reader.js';
import { dialViaParent } from './parent.js';
import { admitClient, dialVetted, runTunnel, type Dialed } from './tunnel.js';

const NOTHING = Buffer.alloc(0);

export async function handleTransparent(deps: ProxyDeps, socket: Socket, upstreamPort: number): Promise<void> {
  const conn = new ClientConnection(deps, socket, 'transparent', 'client_hello');
  conn.ctx.port = upstreamPort;
  try {
    await serve(deps, conn, upstreamPort);
  } finally {
    conn.finish();
  }
}

async function serve(deps: ProxyDeps, conn: ClientConnection, upstreamPort: number): Promise<void> {
  const { ctx, socket } = conn;
  const settings = deps.settings();
  const policy = deps.policy();
  // Nothing has been answered yet and there is no HTTP to answer with: a block closes the socket.
  const hello = await readClientHello(socket, NOTHING, settings.clientHelloTimeoutMs, settings.maxClientHelloBytes);
  if (hello.kind === 'closed') return;
  // Without a ClientHello there is no destination to let through, so report mode cannot soften these.
  if (hello.kind === 'timeout')
    return conn.refuse(
      refuse('client_hello_timeout', `no complete ClientHello within ${settings.clientHelloTimeoutMs} ms`),
    );
  if (hello.kind === 'not_tls') return conn.refuse(refuse('not_tls', hello.detail));
  ctx.sni = hello.sni;
  if (hello.sni === null || hello.sni === '')
    return conn.refuse(refuse('sni_missing', 'the ClientHello has no server_name: nothing to route by'));

  conn.enter('deciding');
  const limited = admitClient(deps, conn);
  if (limited !== null) return conn.refuse(limited);
  const request = checkRequest(policy, { client: ctx.client, user: null, host: hello.sni, port: upstreamPort });
  ctx.host = request.host ?? hello.sni;
  const decision = chain(
    request.decision,
    checkSni(policy, request.host ?? hello.sni, hello.sni, request.decision.rule, hello.hasEch),
  );
  if (!decision.allowed) return conn.refuse(decision);
  const unaudited = auditGate(deps);
  if (unaudited !== null) return conn.refuse(chain(decision, unaudited));
  if (request.host === null) return conn.refuse(refuse('bad_request', 'SNI is not a host name'));

  // With proxy.parent the parent resolves the name: no address to check here (parent.ts).
  const parent = deps.parent?.() ?? null;
  let dialed: Dialed;
  if (parent === null) {
    const dest = await chooseDestination(policy, deps.resolver(), request.host, request.match);
    ctx.ip = dest.ip;
    if (!dest.ok) return conn.refuse(chain(decision, dest.decision));
    dialed = await dialVetted(deps, conn, policy, request.match, decision, dest, upstreamPort);
  } else {
    ctx.via = 'parent';
    dialed = await dialViaParent(deps, conn.socket, parent, request.host, upstreamPort, decision.rule);
  }
  if (!dialed.ok) return conn.refuse(dialed.decision);
  conn.upstream = dialed.upstream;
  const allowed = dialed.decision ?? decision;
  if (!allowed.allowed) return conn.refuse(allowed);
  await runTunnel(deps, conn, dialed, hello.buffered, allowed);
}
