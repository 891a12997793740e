// The bench's own client for setup and idle scenarios: CONNECT through a proxy (or straight to the
// upstream for `direct`), a TLS handshake with SNI, and a tiny GET.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface TunnelEnd {
  /** Proxy port on 127.0.0.1, or null to connect to ip:port directly. */
  proxyPort: number | null;
  host: string;
  ip: string;
  port: number;
  ca: string;
}

function tcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, noDelay: true }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Sends CONNECT and reads the status line and headers; rejects on anything but 200. */
function connectThrough(socket: Socket, authority: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      cleanup();
      socket.pause();
      if (!/^HTTP\/1\.[01] 200/.test(buf))
        return reject(new Error(`CONNECT ${authority}: ${buf.split('\r\n')[0] ?? ''}`));
      // A proxy never sends tunnel bytes before the client's first one; nothing is lost here.
      if (end + 4 !== buf.length) return reject(new Error(`CONNECT ${authority}: unexpected bytes after the response`));
      resolve();
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`CONNECT ${authority}: closed (${buf.split('\r\n')[0] ?? 'no answer'})`));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

function handshake(socket: Socket, host: string, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, servername: host, ca }, () => {
      tls.off('error', reject);
      resolve(tls);
    });
    tls.once('error', reject);
  });
}

/** An open TLS connection to the upstream, through the proxy when there is one. */
export async function openTunnel(end: TunnelEnd): Promise<TLSSocket> {
  const raw = await tcp(end.proxyPort === null ? end.ip : '127.0.0.1', end.proxyPort ?? end.port);
  try {
    if (end.proxyPort !== null) await connectThrough(raw, `${end.host}:${end.port}`);
    const tls = await handshake(raw, end.host, end.ca);
    tls.on('error', () => undefined);
    return tls;
  } catch (err) {
    raw.destroy();
    throw err;
  }
}

/** GET /tiny; resolves when the whole response has arrived (keepOpen) or the server closed (not). */
export function tinyGet(tls: TLSSocket, host: string, keepOpen: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (err?: Error): void => {
      tls.off('data', onData);
      tls.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('latin1');
      if (keepOpen && buf.endsWith('\r\n\r\nok\n')) done();
    };
    const onClose = (): void =>
      buf.startsWith('HTTP/1.1 200') ? done() : done(new Error(`GET /tiny: ${buf.slice(0, 80) || 'closed'}`));
    tls.on('data', onData);
    tls.once('close', onClose);
    tls.write(`GET /tiny HTTP/1.1\r\nHost: ${host}\r\n${keepOpen ? '' : 'Connection: close\r\n'}\r\n`);
  });
}
