// The agent that carries an inspected tunnel's requests to the registry: TLS to the address the
// tunnel already vetted (never a new name lookup), SNI and certificate check against the CONNECT
// host, roots from the system plus inspect.upstreamCaFile. Keep-alive; one agent per (host,
// address, port), shared by the tunnels to it: clients such as skopeo open a tunnel per request,
// and a pooled connection spares each of them a TLS handshake with the registry.
import { Agent } from 'node:https';
import type { Socket } from 'node:net';
import { checkServerIdentity, connect, type PeerCertificate, type SecureContext } from 'node:tls';

export interface UpstreamTarget {
  readonly host: string;
  readonly ip: string;
  readonly port: number;
  /** Trusted roots, built once per config (parsing ~150 roots per connection costs ~100 ms). */
  readonly roots: SecureContext;
  readonly connectTimeoutMs: number;
}

export class VettedAgent extends Agent {
  readonly #target: UpstreamTarget;

  constructor(target: UpstreamTarget) {
    // timeout: idle pooled connections are closed after a minute (the agent only times out free ones).
    super({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: 60_000, scheduling: 'lifo' });
    this.#target = target;
  }

  override createConnection(): Socket {
    const { host, ip, port, roots, connectTimeoutMs } = this.#target;
    const socket = connect({
      host: ip,
      port,
      servername: host,
      secureContext: roots,
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: true,
      // The name checked is the CONNECT host, not the address dialled.
      checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert),
    });
    const timer = setTimeout(
      () => socket.destroy(Object.assign(new Error(`connect to ${ip}:${port} timed out`), { code: 'ETIMEDOUT' })),
      connectTimeoutMs,
    );
    socket.once('secureConnect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    return socket;
  }
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_)|CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME|ALTNAME/;

/** Whether an error from the upstream leg is a failed verification (rather than a network failure). */
export function isTlsVerifyError(err: NodeJS.ErrnoException): boolean {
  return TLS_CODE.test(err.code ?? '') || /certificate|altnames/i.test(err.message);
}
