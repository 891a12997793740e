// The agent that carries an inspected tunnel's requests to the registry: a plain connection from
// the tunnel's vetted dial (the address the pipeline vetted, or the parent proxy; never a new name
// lookup), then TLS over it with SNI and the certificate checked against the CONNECT host, roots
// from the system plus inspect.upstreamCaFile. Keep-alive; one agent per route, shared by the
// tunnels on it: clients such as skopeo open a tunnel per request, and a pooled connection spares
// each of them a TLS handshake with the registry.
import { Agent } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import type { Dialed } from '../proxy/vetted-dial.js';

export interface UpstreamTarget {
  readonly host: string;
  /** Trusted roots, built once per config (parsing ~150 roots per connection costs ~100 ms). */
  readonly roots: SecureContext;
  /** The vetted dial along the tunnel's route: a plain connection, or why there is none. */
  readonly connect: () => Promise<Dialed>;
  /** The TLS handshake's deadline (proxy.connectTimeoutMs, as for the connection itself). */
  readonly handshakeTimeoutMs: number;
}

export class VettedAgent extends Agent {
  readonly #target: UpstreamTarget;

  constructor(target: UpstreamTarget) {
    // timeout: idle pooled connections are closed after a minute (the agent only times out free ones).
    super({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: 60_000, scheduling: 'lifo' });
    this.#target = target;
  }

  // Node's Agent takes the callback form when createConnection returns nothing.
  override createConnection(_options: unknown, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const { host, roots } = this.#target;
    const done = (err: Error | null, socket?: Socket): void => callback?.(err, socket as Duplex);
    this.#target.connect().then(
      (dialed) => {
        if (!dialed.ok) {
          const err = Object.assign(new Error(dialed.decision.detail ?? 'upstream unreachable'), {
            code: 'EUPSTREAM',
          });
          return done(err);
        }
        const tls = verifiedTls(dialed.upstream, host, roots, this.#target.handshakeTimeoutMs);
        done(null, tls);
      },
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
    return undefined;
  }
}

/**
 * TLS over a vetted plain connection: SNI and the certificate checked against `host` (the name the
 * policy allowed, not the address dialled), within `handshakeTimeoutMs`; closing it closes the
 * plain connection too (a dialled socket is half-open capable, as a splice needs).
 */
export function verifiedTls(socket: Socket, host: string, roots: SecureContext, handshakeTimeoutMs: number): TLSSocket {
  const tls = connect({
    socket,
    servername: host,
    secureContext: roots,
    ALPNProtocols: ['http/1.1'],
    rejectUnauthorized: true,
    checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert),
  });
  const timer = setTimeout(
    () => tls.destroy(Object.assign(new Error(`TLS handshake with ${host} timed out`), { code: 'ETIMEDOUT' })),
    handshakeTimeoutMs,
  );
  tls.once('secureConnect', () => clearTimeout(timer));
  tls.once('close', () => {
    clearTimeout(timer);
    socket.destroy();
  });
  return tls;
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_)|CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME|ALTNAME/;

/** Whether an error from the upstream leg is a failed verification (rather than a network failure). */
export function isTlsVerifyError(err: NodeJS.ErrnoException): boolean {
  return TLS_CODE.test(err.code ?? '') || /certificate|altnames/i.test(err.message);
}
