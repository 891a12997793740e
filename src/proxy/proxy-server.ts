// The forward-proxy listener: accepts TCP connections (up to maxConnections), hands them to Node's
// HTTP parser, and routes CONNECT to tunnels and absolute-form requests to the HTTP forwarder.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { refuse } from '../policy/decide.js';
import type { ListenAddress } from '../net/listen.js';
import { handleConnect } from './connect-handler.js';
import { clientAddress, type ProxyDeps } from './context.js';
import { createHttpForwarder } from './http-forward.js';
import { blockResponse, refuseSocket } from './responses.js';

export class ProxyServer {
  #deps: ProxyDeps;
  #net: NetServer;
  #http: HttpServer;

  constructor(deps: ProxyDeps) {
    this.#deps = deps;
    this.#http = createHttpServer({
      headersTimeout: 30_000,
      requestTimeout: 60_000,
      maxHeaderSize: 16 * 1024,
      keepAliveTimeout: 5_000,
    });
    this.#http.on('connect', (req, socket: Socket, head: Buffer) => {
      handleConnect(deps, req, socket, head).catch((err: unknown) => {
        deps.log.error({ err }, 'CONNECT handling failed');
        socket.destroy();
      });
    });
    this.#http.on('request', createHttpForwarder(deps));
    this.#http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket));
    this.#net = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
    this.#net.on('error', (err) => deps.log.error({ err }, 'proxy listener error'));
  }

  #accept(socket: Socket): void {
    socket.on('error', () => undefined);
    const max = this.#deps.settings().maxConnections;
    if (!this.#deps.connections.admit(socket, max)) {
      const decision = refuse('too_many_connections', `proxy.maxConnections (${max}) reached`);
      socket.end(blockResponse('too_many_connections', decision.detail));
      socket.setTimeout(2_000, () => socket.destroy());
      this.#deps.recorder.record({
        mode: 'connect',
        client: clientAddress(socket.remoteAddress),
        host: null,
        port: null,
        decision,
      });
      return;
    }
    this.#http.emit('connection', socket);
  }

  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const detail = `malformed proxy request (${err.code ?? err.message})`;
    refuseSocket(socket, 'bad_request', detail);
    this.#deps.recorder.record({
      mode: 'connect',
      client: clientAddress(socket.remoteAddress),
      host: null,
      port: null,
      decision: refuse('bad_request', detail),
    });
  }

  listen(addr: ListenAddress): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#net.once('error', onError);
      this.#net.listen(addr.port, addr.host, () => {
        this.#net.off('error', onError);
        resolve(this.#net.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; open connections drain through the shared ConnectionTracker. */
  async close(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    await this.#deps.connections.drain(drainMs, () => this.#http.closeIdleConnections());
    await closed;
  }
}
