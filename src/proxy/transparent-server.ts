// The transparent listener: raw TLS connections redirected to the gateway (iptables REDIRECT, a
// sidecar), routed by SNI. Shares the connection limit semantics of the CONNECT listener.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { refuse } from '../policy/decide.js';
import { newContext, recordOf, type ProxyDeps } from './context.js';
import type { ListenAddress } from '../net/listen.js';
import { listenOn } from './listen-on.js';
import { handleTransparent } from './transparent-handler.js';

export class TransparentServer {
  #deps: ProxyDeps;
  #server: Server;
  #upstreamPort: () => number;

  constructor(deps: ProxyDeps, upstreamPort: () => number) {
    this.#deps = deps;
    this.#upstreamPort = upstreamPort;
    this.#server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (socket) =>
      this.#accept(socket),
    );
    this.#server.on('error', (err) => deps.log.error({ err }, 'transparent listener error'));
  }

  #accept(socket: Socket): void {
    socket.on('error', () => undefined);
    const max = this.#deps.settings().maxConnections;
    if (!this.#deps.connections.admit(socket, max)) {
      socket.destroy();
      const decision = refuse('too_many_connections', `proxy.maxConnections (${max}) reached`);
      this.#deps.recorder.record(recordOf(newContext('transparent', socket.remoteAddress), { decision }));
      return;
    }
    handleTransparent(this.#deps, socket, this.#upstreamPort()).catch((err: unknown) => {
      this.#deps.log.error({ err }, 'transparent connection failed');
      socket.destroy();
    });
  }

  listen(addr: ListenAddress): Promise<AddressInfo> {
    return listenOn(this.#server, addr, 'proxy.transparentListen');
  }

  /** Stops accepting; open connections drain through the shared ConnectionTracker. */
  async close(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.#deps.connections.drain(drainMs);
    await closed;
  }
}
