// A real TLS server on a loopback address, posing as a registry host, that remembers the SNI and the
// requests it saw. Certificates come from test/helpers/certs.ts.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { makeCa, makeLeaf } from './certs.js';

export interface Upstream {
  readonly host: string;
  readonly port: number;
  readonly ca: string;
  /** SNI of every TLS connection accepted, in order. */
  readonly snis: (string | false)[];
  /** Request lines seen (`GET /v2/ HTTP/1.1`). */
  readonly requests: string[];
  /** Whole request heads as received (request line and every header), to count what arrived. */
  readonly heads: string[];
  close(): Promise<void>;
}

export interface UpstreamOptions {
  /** Loopback address to listen on, e.g. 127.0.0.2. */
  host?: string;
  port?: number;
  names: string[];
  /** Bytes to send as the body of every response (default: "ok <sni>"). */
  body?: (sni: string) => Buffer | string;
  /** Speak raw: write this on connect, after the handshake, instead of parsing HTTP. */
  rawGreeting?: string;
  /** A redirect to answer instead of the 200 (its Location), or null for the usual answer. */
  redirect?: (requestLine: string, sni: string) => string | null;
}

export async function startUpstream(opts: UpstreamOptions): Promise<Upstream> {
  const ca = makeCa();
  const leaf = makeLeaf(ca, opts.names);
  const snis: (string | false)[] = [];
  const requests: string[] = [];
  const heads: string[] = [];
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer({ key: leaf.key, cert: leaf.cert }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const sni = socket.servername ?? false;
    snis.push(sni);
    if (opts.rawGreeting !== undefined) {
      socket.write(opts.rawGreeting);
    }
    let buf = '';
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const line = head.split('\r\n')[0] ?? '';
        requests.push(line);
        heads.push(head);
        const location = opts.redirect?.(line, sni || '') ?? null;
        if (location !== null) {
          socket.write(`HTTP/1.1 307 Temporary Redirect\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`);
          continue;
        }
        const body = opts.body ? opts.body(sni || '') : `ok ${sni || ''}\n`;
        const bytes = typeof body === 'string' ? Buffer.from(body) : body;
        socket.write(
          `HTTP/1.1 200 OK\r\nContent-Length: ${bytes.length}\r\nContent-Type: application/octet-stream\r\n\r\n`,
        );
        socket.write(bytes);
        if (/\r\nconnection: close/i.test(head)) socket.end();
      }
    });
  });
  server.on('tlsClientError', () => undefined);
  server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  return {
    host: addr.address,
    port: addr.port,
    ca: ca.cert,
    snis,
    requests,
    heads,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}
