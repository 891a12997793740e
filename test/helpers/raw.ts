// Raw proxy clients: send exact bytes to the proxy and read its answer, or open a tunnel by hand.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  head: string;
  /** The socket, still open when the answer was a 200 to CONNECT. */
  socket: Socket;
}

/** Writes `request` to the proxy and resolves with the parsed response head. */
export function rawConnect(port: number, request: string | Buffer, host = '127.0.0.1'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${JSON.stringify(buf.toString('latin1'))}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.off('data', onData);
      const head = buf.subarray(0, end).toString('latin1');
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      const [statusLine, ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number((statusLine ?? '').split(' ')[1]), headers, head, socket });
    };
    socket.on('data', onData);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => socket.write(request));
  });
}

/** CONNECT authority through the proxy; the answer as above. */
export function connectThrough(port: number, authority: string): Promise<RawAnswer> {
  return rawConnect(port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
}

/** Reads until the socket closes; resolves with everything read. */
export function readToEnd(socket: Socket, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** TLS over an open tunnel socket; resolves once the handshake completes (or rejects). */
export function tlsOver(socket: Socket, servername: string, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, servername, ca });
    tls.once('secureConnect', () => resolve(tls));
    tls.once('error', reject);
  });
}

/** Sends one GET over a TLS socket and reads the response (Connection: close). */
export function httpsGet(tls: TLSSocket, host: string, path = '/'): Promise<string> {
  tls.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return readToEnd(tls).then((b) => b.toString('latin1'));
}
