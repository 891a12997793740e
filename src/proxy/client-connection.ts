// One client connection from accept to close, on either listener. Every path ends in finish(), the
// one `finally`: it gives back what the connection holds (its per-client slot, its upstream) exactly
// once and closes the socket, so the ConnectionTracker slot (freed on 'close') comes back too.
//
// States and their deadlines (each ends in finish()):
//   proxy_header, request   proxy.headersTimeoutMs from accept (RequestReader)    400 bad_request
//   deciding                dns.timeoutMs, then proxy.connectTimeoutMs per dial     the block's answer
//   client_hello            proxy.clientHelloTimeoutMs after the 200 (or half-close) the tunnel closes
//   tunnel, half-closed     proxy.idleTimeoutMs idle, proxy.limits.maxTunnelSeconds  the tunnel closes
//   refused                 REFUSAL_LINGER_MS for the client to read the answer      socket destroyed
import type { Socket } from 'node:net';
import type { Decision } from '../policy/decide.js';
import { Admitted } from './admitted.js';
import { newContext, type ConnectionContext, type ProxyDeps } from './context.js';
import { linger, refuseSocket } from './responses.js';

export type ConnectionState =
  'proxy_header' | 'request' | 'deciding' | 'client_hello' | 'tunnel' | 'refused' | 'handed_over' | 'closed';

export class ClientConnection extends Admitted {
  readonly socket: Socket;
  #state: ConnectionState;
  /** The dialled upstream until the tunnel owns it; destroyed by finish() if still here. */
  upstream: Socket | null = null;

  constructor(deps: ProxyDeps, socket: Socket, mode: ConnectionContext['mode'], state: ConnectionState) {
    super(deps.recorder, newContext(mode, socket.remoteAddress));
    this.socket = socket;
    this.#state = state;
    // Every socket error also ends in 'close', which each state observes; never crash on one.
    socket.on('error', ignore);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  enter(state: ConnectionState): void {
    this.#state = state;
  }

  /**
   * Ends a connection whose client has half-closed after its answer: our side ends too, so what was
   * written (the 200) is delivered before the close; lingers like a refusal, then finish() leaves it.
   */
  endGracefully(): void {
    this.#state = 'refused';
    if (!this.socket.destroyed) this.socket.end();
    linger(this.socket);
  }

  /**
   * Ends the connection with a block: an HTTP answer while the client still waits for one, a
   * plain close once the 200 is out (or on the transparent listener, which has no HTTP to answer).
   */
  refuse(decision: Decision): void {
    const answered = this.#state === 'client_hello' || this.#state === 'tunnel' || this.ctx.mode === 'transparent';
    this.#state = 'refused';
    if (answered) this.socket.destroy();
    else if (decision.reason !== null) refuseSocket(this.socket, decision.reason, decision.detail);
    const bytes = answered && this.ctx.mode !== 'transparent' ? 0 : null;
    this.record(decision, bytes, bytes);
  }

  /** The socket now belongs to http.Server (plain HTTP); finish() leaves it alone. */
  handOver(): void {
    this.#state = 'handed_over';
  }

  /** The one end of every path: idempotent. */
  finish(): void {
    const state = this.#state;
    if (state === 'closed') return;
    this.#state = 'closed';
    this.releaseSlot();
    this.upstream?.destroy();
    this.upstream = null;
    // A refused socket is already lingering (responses.ts) or destroyed; http.Server owns a handed-over one.
    if (state === 'handed_over' || state === 'refused' || this.socket.destroyed) return;
    this.socket.destroy();
  }
}

function ignore(): void {}
