// Counts the client connections open on all listeners (for proxy.maxConnections) and drains them
// on stop: wait up to a bound, cut the rest, then wait for their close events.
import type { Socket } from 'node:net';
import { DRAIN_CLOSE_WAIT_MS } from './defaults.js';

export class ConnectionTracker {
  #sockets = new Set<Socket>();

  get size(): number {
    return this.#sockets.size;
  }

  /** Takes the socket into account unless `max` connections are already open; false = refuse it. */
  admit(socket: Socket, max: number): boolean {
    if (this.#sockets.size >= max) return false;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    return true;
  }

  /**
   * Waits up to drainMs for the connections to end (calling `nudge` between checks, e.g. to close
   * idle keep-alives), then destroys the rest and waits for their 'close' events: those come in a
   * later loop phase than destroy(), and the tunnels' records are written from them.
   */
  async drain(drainMs: number, nudge: () => void = () => undefined): Promise<void> {
    const deadline = Date.now() + drainMs;
    nudge();
    while (this.#sockets.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      nudge();
    }
    for (const s of this.#sockets) s.destroy();
    const cutoff = Date.now() + DRAIN_CLOSE_WAIT_MS;
    while (this.#sockets.size > 0 && Date.now() < cutoff) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setImmediate(r));
  }
}
