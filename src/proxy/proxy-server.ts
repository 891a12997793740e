// The forward-proxy listener: accepts TCP connections (up to maxConnections) and reads each request
// itself (connect-handler.ts); only plain-HTTP requests, when allowed, go on to Node's http.Server.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { refuse } from '../policy/decide.js';
import type { ListenAddress } from '../net/listen.js';
import { handleProxyConnection, type HandOver } from './connect-handler.js';
import { newContext, recordOf, type ProxyDeps } from './context.js';
import { HTTP_KEEP_ALIVE_MS } from './defaults.js';
import { createHttpForwarder } from './http-forward.js';
import { listenOn } from './listen-on.js';
import { refuseSocket } from './responses.js';

export class ProxyServer {
  #deps: ProxyDeps;
  #net: NetServer;
  #http: HttpServer;
  #handOver: HandOver;

  constructor(deps: ProxyDeps) {
    this.#deps = deps;
    const settings = deps.settings();
    // Sockets reach this server through emit('connection'), for which Node runs no header timer:
    // its socket timeout (idle) is what bounds a keep-alive connection between and inside requests.
    this.#http = createHttpServer({ maxHeaderSize: settings.maxHeaderBytes, keepAliveTimeout: HTTP_KEEP_ALIVE_MS });
    this.#http.timeout = settings.idleTimeoutMs;
    // The client a trusted PROXY header named, for connections handed to http.Server.
    const proxied = new WeakMap<Socket, string>();
    const forward = createHttpForwarder(deps, (req) => proxied.get(req.socket));
    this.#http.on('request', forward);
    // With a listener here Node sends no automatic 100 Continue: the forwarder sends it after the
    // decision, only for a request it forwards.
    this.#http.on('checkContinue', forward);
    this.#http.on('connect', (_req, socket: Socket) => {
      const detail = 'CONNECT after a plain request on the same connection: open a new one';
      refuseSocket(socket, 'bad_request', detail);
      const ctx = newContext('connect', socket.remoteAddress);
      ctx.client = proxied.get(socket) ?? ctx.client;
      deps.recorder.record(recordOf(ctx, { decision: refuse('bad_request', detail) }));
    });
    this.#http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket));
    this.#handOver = (socket, bytes, client) => {
      if (client !== null) proxied.set(socket, client);
      if (bytes.length > 0) socket.unshift(bytes);
      this.#http.emit('connection', socket);
    };
    this.#net = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
    this.#net.on('error', (err) => deps.log.error({ err }, 'proxy listener error'));
  }

  #accept(socket: Socket): void {
    const deps = this.#deps;
    const max = deps.settings().maxConnections;
    if (!deps.connections.admit(socket, max)) {
      socket.on('error', () => undefined);
      const decision = refuse('too_many_connections', `proxy.maxConnections (${max}) reached`);
      refuseSocket(socket, 'too_many_connections', decision.detail);
      deps.recorder.record(recordOf(newContext('connect', socket.remoteAddress), { decision }));
      return;
    }
    handleProxyConnection(deps, socket, this.#handOver).catch((err: unknown) => {
      deps.log.error({ err }, 'proxy connection failed');
      socket.destroy();
    });
  }

  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const detail = `malformed proxy request (${err.code ?? err.message})`;
    refuseSocket(socket, 'bad_request', detail);
    const decision = refuse('bad_request', detail);
    this.#deps.recorder.record(recordOf(newContext('http', socket.remoteAddress), { decision }));
  }

  listen(addr: ListenAddress): Promise<AddressInfo> {
    return listenOn(this.#net, addr, 'proxy.listen');
  }

  /** Stops accepting; open connections drain through the shared ConnectionTracker. */
  async close(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    await this.#deps.connections.drain(drainMs, () => this.#http.closeIdleConnections());
    await closed;
  }
}
