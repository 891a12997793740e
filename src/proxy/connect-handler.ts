// The CONNECT entry point: PROXY header and request head, then the tunnel pipeline (pipeline.ts)
// with the 200 and the ClientHello as its hello stage; or the handover of a plain-HTTP request to
// the http.Server-based forwarder. Every path ends in conn.finish().
import type { Socket } from 'node:net';
import { refuse } from '../policy/decide.js';
import { parseAuthority } from '../net/authority.js';
import { parseIp } from '../net/address.js';
import { ClientConnection } from './client-connection.js';
import type { ProxyDeps } from './context.js';
import { readClientHello, type HelloOutcome } from './hello-reader.js';
import { runPipeline } from './pipeline.js';
import { parseProxyHeader } from './proxy-protocol.js';
import { printable } from './request-head.js';
import { RequestReader } from './request-reader.js';
import { CONNECT_ESTABLISHED } from './responses.js';

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

  const authority = parseAuthority(head.target);
  if (authority === null) {
    const shown = printable(head.target);
    ctx.host = shown.slice(0, 256) || null;
    return conn.refuse(refuse('bad_request', `CONNECT target "${shown}" is not host:port`));
  }
  await runPipeline(deps, conn, {
    host: authority.host,
    port: authority.port,
    credentials: { header: head.proxyAuthorization },
    hello: (c) => answerThenReadHello(deps, c, reader),
  });
}

/** The ClientHello stage of a CONNECT: the 200, then the hello (often already read with the head). */
async function answerThenReadHello(
  deps: ProxyDeps,
  conn: ClientConnection,
  reader: RequestReader,
): Promise<HelloOutcome> {
  const { socket } = conn;
  const settings = deps.settings();
  if (reader.ended && reader.tailLength === 0) {
    // CONNECT and FIN together: the client still waits for its answer. Nothing can follow it, so
    // the 200 is the last thing written, and the connection ends once it is delivered.
    socket.write(CONNECT_ESTABLISHED);
    reader.take();
    conn.endGracefully();
    return { kind: 'closed' };
  }
  socket.write(CONNECT_ESTABLISHED);
  conn.enter('client_hello');
  const helloFrom = performance.now();
  // Left flowing: a splice attaches its reader in the same tick; the inspector pauses first.
  const hello = await readClientHello(
    socket,
    reader.take(),
    settings.clientHelloTimeoutMs,
    settings.maxClientHelloBytes,
    true,
  );
  deps.events?.helloWaited?.((performance.now() - helloFrom) / 1000);
  return hello;
}

/** The host of an absolute-form target, for the record of a refused plain request. */
function hostOf(target: string): string | null {
  try {
    return new URL(target).hostname || null;
  } catch {
    return null;
  }
}
