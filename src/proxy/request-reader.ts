// Reads a client's first bytes off the raw socket: an optional PROXY protocol header, then the proxy
// request head, within proxy.headersTimeoutMs of accept (however slowly they drip); then keeps what
// follows (often the ClientHello, in the same segment) for the tunnel, without pausing the socket.
import type { Socket } from 'node:net';
import { headStartProblem, parseRequestHead, type RequestHead } from './request-head.js';

/** What parseProxyHeader (src/proxy/proxy-protocol.ts) answers; a parameter, so this file stays a reader. */
export type ProxyHeaderResult =
  | { kind: 'incomplete' }
  | { kind: 'header'; client: string | null; clientPort: number | null; consumed: number }
  | { kind: 'invalid'; detail: string };

export type HeadOutcome =
  | { kind: 'request'; head: RequestHead }
  | { kind: 'invalid'; detail: string }
  | { kind: 'timeout' }
  | { kind: 'closed' };

/** The client address a PROXY header named (null for LOCAL/UNKNOWN: the peer itself speaks). */
export interface ProxiedClient {
  readonly client: string | null;
}

const EMPTY = Buffer.alloc(0);
const PROXY_V1 = Buffer.from('PROXY ', 'latin1');
const PROXY_V2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export class RequestReader {
  readonly #socket: Socket;
  readonly #maxBytes: number;
  readonly #maxTail: number;
  readonly #proxyHeader: ((buf: Buffer) => ProxyHeaderResult) | null;
  #buf: Buffer = EMPTY;
  #len = 0;
  /** True once #buf is ours (allocated here), not a chunk the socket handed over. */
  #owned = false;
  /** Where the request head starts (after a PROXY header). */
  #start = 0;
  #scanFrom = 0;
  /** Where the bytes after the head start, once it is complete; -1 before. */
  #tail = -1;
  #settle: ((outcome: HeadOutcome) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #ended = false;
  proxied: ProxiedClient | null = null;

  /**
   * `proxyHeader`: the PROXY protocol parser when the peer is trusted to send one (then it must);
   * null when it is not (then a PROXY header is refused). `maxTail` bounds what is kept after the head.
   */
  constructor(
    socket: Socket,
    maxBytes: number,
    maxTail: number,
    proxyHeader: ((buf: Buffer) => ProxyHeaderResult) | null,
  ) {
    this.#socket = socket;
    this.#maxBytes = maxBytes;
    this.#maxTail = maxTail;
    this.#proxyHeader = proxyHeader;
  }

  /** True once the client has half-closed (sent FIN). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes read after the head so far. */
  get tailLength(): number {
    return this.#tail === -1 ? 0 : Math.max(0, this.#len - this.#tail);
  }

  /** Resolves once with the head or why there is none; `timeoutMs` counts from this call (accept). */
  read(timeoutMs: number): Promise<HeadOutcome> {
    return new Promise((resolve) => {
      this.#settle = (outcome) => {
        this.#settle = null;
        if (this.#timer !== null) clearTimeout(this.#timer);
        this.#timer = null;
        if (outcome.kind !== 'request') this.#detach();
        resolve(outcome);
      };
      this.#timer = setTimeout(() => this.#settle?.({ kind: 'timeout' }), timeoutMs);
      this.#socket.on('data', this.#onData);
      this.#socket.on('end', this.#onEnd);
      this.#socket.on('close', this.#onClose);
    });
  }

  /**
   * Stops reading and returns the bytes after the head (`withHead`: from the head on, for a handover
   * to http.Server). The caller attaches its own reader in the same tick, so nothing is lost.
   */
  take(withHead = false): Buffer {
    this.#detach();
    const bytes = this.#tail === -1 ? EMPTY : this.#buf.subarray(withHead ? this.#start : this.#tail, this.#len);
    // The reader lives as long as the tunnel: it must not keep the first bytes alive with it.
    this.#buf = EMPTY;
    this.#len = 0;
    return bytes;
  }

  #detach(): void {
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onClose);
  }

  #onEnd = (): void => {
    this.#ended = true;
    this.#settle?.({ kind: 'closed' });
  };

  #onClose = (): void => {
    this.#settle?.({ kind: 'closed' });
  };

  #onData = (chunk: Buffer): void => {
    this.#append(chunk);
    if (this.#tail !== -1) {
      // Between the head and the ClientHello reader: keep the bytes, up to a bound.
      if (this.#len - this.#tail > this.#maxTail) this.#socket.pause();
      return;
    }
    if (this.#proxyHeader !== null && this.proxied === null) {
      const got = this.#proxyHeader(this.#buf.subarray(0, this.#len));
      if (got.kind === 'incomplete') return;
      if (got.kind === 'invalid') return this.#settle?.({ kind: 'invalid', detail: `PROXY protocol: ${got.detail}` });
      this.proxied = { client: got.client };
      this.#start = got.consumed;
    }
    const view = this.#start === 0 ? this.#buf.subarray(0, this.#len) : this.#buf.subarray(this.#start, this.#len);
    const got = parseRequestHead(view, this.#maxBytes, this.#scanFrom);
    if (got.kind === 'incomplete') {
      this.#scanFrom = got.scanFrom;
      // Bounded (it looks at the method only), and only on a head that did not come whole.
      const problem = headStartProblem(view);
      if (problem !== null && !(this.#proxyHeader === null && looksLikeProxyHeader(view)))
        this.#settle?.({ kind: 'invalid', detail: problem });
      return;
    }
    if (got.kind === 'invalid') {
      const detail =
        this.#proxyHeader === null && looksLikeProxyHeader(view)
          ? 'a PROXY protocol header from a peer not in proxy.proxyProtocol.trusted'
          : got.detail;
      return this.#settle?.({ kind: 'invalid', detail });
    }
    this.#tail = this.#start + got.head.length;
    this.#settle?.({ kind: 'request', head: got.head });
  };

  /** The common case (the whole head in one chunk) copies nothing; a dripped head grows by doubling. */
  #append(chunk: Buffer): void {
    if (this.#len === 0) {
      this.#buf = chunk;
      this.#len = chunk.length;
      return;
    }
    const need = this.#len + chunk.length;
    if (!this.#owned || need > this.#buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.#len * 2, 1024));
      this.#buf.copy(next, 0, 0, this.#len);
      this.#buf = next;
      this.#owned = true;
    }
    chunk.copy(this.#buf, this.#len);
    this.#len = need;
  }
}

/** A PROXY protocol header (v1, or a v2 signature so far), sent by a peer not trusted to send one. */
export function looksLikeProxyHeader(buf: Buffer): boolean {
  const v1 = buf.subarray(0, PROXY_V1.length);
  const v2 = buf.subarray(0, PROXY_V2.length);
  return v1.equals(PROXY_V1) || (v2.length >= 5 && PROXY_V2.subarray(0, v2.length).equals(v2));
}
