// The transparent entry point (traffic redirected to the gateway without CONNECT): the ClientHello's
// SNI names the destination, then the same tunnel pipeline as CONNECT (pipeline.ts), inspection
// included. There is no HTTP here: no proxy authentication (no user), and a block closes the socket.
import type { Socket } from 'node:net';
import { refuse } from '../policy/decide.js';
import { ClientConnection } from './client-connection.js';
import type { ProxyDeps } from './context.js';
import { readClientHello } from './hello-reader.js';
import { runPipeline } from './pipeline.js';

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
  await runPipeline(deps, conn, {
    host: hello.sni,
    port: upstreamPort,
    credentials: null,
    hello: () => Promise.resolve(hello),
  });
}
