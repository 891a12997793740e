// The soak's client kinds: each opens one connection from its own loopback address (so records can be
// told apart by `client`), behaves well or badly, and gives up at its own cap. Nothing here throws.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export const KINDS = [
  'allowed',
  'refused',
  'half-close-after-200',
  'half-close-before-200',
  'slow',
  'reset',
  'idle',
] as const;
export type Kind = (typeof KINDS)[number];

/** How often each kind is picked, out of the sum. Slow and idle clients hold a worker until closed. */
export const WEIGHTS: Record<Kind, number> = {
  allowed: 40,
  refused: 15,
  'half-close-after-200': 10,
  'half-close-before-200': 10,
  slow: 5,
  reset: 12,
  idle: 8,
};

/** The loopback address each kind connects from: 127.0.1.1, 127.0.1.2, ... */
export function clientAddressOf(kind: Kind): string {
  return `127.0.1.${KINDS.indexOf(kind) + 1}`;
}

export interface ClientSetup {
  readonly proxyPort: number;
  /** An allowed CONNECT target (host:port) served by the loopback upstream. */
  readonly allowed: string;
  readonly upstreamHost: string;
  readonly ca: string;
  /** How long a client waits for the gateway to close on it before it gives up (ms). */
  readonly capMs: number;
  /** Interval between the bytes a slow client drips (ms). */
  readonly dripMs: number;
}

export interface Outcome {
  readonly kind: Kind;
  /** The TCP connection to the gateway was established (it counts as a connection made). */
  readonly connected: boolean;
  /** Status of the gateway's answer, or null when none came. */
  readonly status: number | null;
  /** The gateway ended the connection before the client's cap. */
  readonly closedByGateway: boolean;
  /** The client's cap passed with the connection still open. */
  readonly gaveUp: boolean;
  readonly error: string | null;
}

/** One connection's life as the client sees it. */
class Conn {
  readonly socket: Socket;
  readonly connected: Promise<boolean>;
  readonly closed: Promise<void>;
  #data = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  isClosed = false;
  /** The gateway sent FIN or the socket closed without the client closing it. */
  peerEnded = false;
  error: string | null = null;

  constructor(setup: ClientSetup, kind: Kind) {
    this.socket = connect({ host: '127.0.0.1', port: setup.proxyPort, localAddress: clientAddressOf(kind) });
    this.socket.setNoDelay(true);
    this.connected = new Promise((resolve) => {
      this.socket.once('connect', () => resolve(true));
      this.socket.once('close', () => resolve(false));
    });
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('close', () => {
      this.isClosed = true;
      this.#wake();
    });
    this.socket.on('end', () => {
      this.peerEnded = true;
      this.#wake();
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err.code ?? err.message;
      if (err.code === 'ECONNRESET') this.peerEnded = true;
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.#data = Buffer.concat([this.#data, chunk]);
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The status of the first response head, or null once closed or the deadline passed. */
  async status(deadline: number): Promise<number | null> {
    for (;;) {
      const end = this.#data.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.#data.subarray(0, end).toString('latin1');
        this.socket.pause();
        this.socket.removeAllListeners('data');
        const rest = this.#data.subarray(end + 4);
        if (rest.length > 0) this.socket.unshift(rest);
        return Number(head.split(' ')[1]) || null;
      }
      if (this.isClosed || this.peerEnded || !(await this.#wait(deadline))) return null;
    }
  }

  /** The status of an answer already received in full or in part, without waiting. */
  statusNow(): number | null {
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(this.#data.subarray(0, 16).toString('latin1'));
    return m ? Number(m[1]) : null;
  }

  /** Waits until the gateway closes or ends the connection; false when the deadline came first. */
  async gatewayCloses(deadline: number): Promise<boolean> {
    this.socket.resume();
    while (!this.isClosed && !this.peerEnded) if (!(await this.#wait(deadline))) return false;
    return true;
  }

  #wait(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), left);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function connectRequest(authority: string): string {
  return `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
}

/** Runs one client of `kind` to its end; the socket is always destroyed before this resolves. */
export async function runClient(kind: Kind, setup: ClientSetup): Promise<Outcome> {
  const conn = new Conn(setup, kind);
  const deadline = Date.now() + setup.capMs;
  let status: number | null = null;
  let closedByGateway = false;
  let gaveUp = false;
  const connected = await conn.connected;
  try {
    if (!connected) return { kind, connected, status, closedByGateway, gaveUp, error: conn.error ?? 'not connected' };
    switch (kind) {
      case 'allowed': {
        conn.socket.write(connectRequest(setup.allowed));
        status = await conn.status(deadline);
        if (status !== 200) {
          closedByGateway = await conn.gatewayCloses(deadline);
          break;
        }
        const tls = tlsConnect({ socket: conn.socket, servername: setup.upstreamHost, ca: setup.ca });
        tls.on('error', (err) => (conn.error ??= `tls: ${err.message}`));
        tls.write(`GET /v2/ HTTP/1.1\r\nHost: ${setup.upstreamHost}\r\nConnection: close\r\n\r\n`);
        tls.resume();
        closedByGateway = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
          tls.once('close', () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        tls.destroy();
        break;
      }
      case 'refused':
        conn.socket.write(connectRequest('evil.example.com:443'));
        status = await conn.status(deadline);
        closedByGateway = await conn.gatewayCloses(deadline);
        break;
      case 'half-close-after-200':
        conn.socket.write(connectRequest(setup.allowed));
        status = await conn.status(deadline);
        conn.socket.end();
        closedByGateway = await conn.gatewayCloses(deadline);
        break;
      case 'half-close-before-200':
        conn.socket.end(connectRequest(setup.allowed));
        status = await conn.status(deadline);
        closedByGateway = await conn.gatewayCloses(deadline);
        break;
      case 'slow': {
        // Slowloris: a request line and then header bytes, one per drip, never the blank line.
        const bytes = Buffer.from(`CONNECT ${setup.allowed} HTTP/1.1\r\nHost: ${setup.allowed}\r\nX-Drip: `);
        for (let i = 0; !conn.isClosed && !conn.peerEnded && Date.now() < deadline; i++) {
          conn.socket.write(i < bytes.length ? bytes.subarray(i, i + 1) : 'a');
          await Promise.race([sleep(setup.dripMs), conn.closed]);
        }
        conn.socket.resume();
        closedByGateway = conn.isClosed || conn.peerEnded;
        break;
      }
      case 'reset': {
        conn.socket.write(connectRequest(setup.allowed));
        status = await conn.status(deadline);
        // Half a TLS record header, then a RST: the gateway is mid-read of the ClientHello.
        if (status === 200 && !conn.isClosed) conn.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02]));
        await sleep(5);
        if (!conn.isClosed) conn.socket.resetAndDestroy();
        break;
      }
      case 'idle':
        closedByGateway = await conn.gatewayCloses(deadline);
        break;
    }
    // Slow and idle clients never ask for the answer; whatever came before the close is it.
    status ??= conn.statusNow();
    // Every other path waits for the gateway until the cap: not closed by it means the cap passed.
    gaveUp = kind !== 'reset' && !closedByGateway;
    return { kind, connected, status, closedByGateway, gaveUp, error: conn.error };
  } catch (err) {
    return { kind, connected, status, closedByGateway, gaveUp, error: (err as Error).message };
  } finally {
    conn.socket.destroy();
  }
}
