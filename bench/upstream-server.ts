// The bench's stand-in registry host, run as its own process: a TLS server on a loopback address
// speaking just enough HTTP/1.1. `GET /zeros/<n>` streams n zero bytes from one preallocated buffer
// (a layer without disk reads); anything else answers `ok`. Idle connections are kept forever.
// Usage: node --import tsx bench/upstream-server.ts '{"host":..,"port":..,"certFile":..,"keyFile":..}'
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';

interface Options {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const ZEROS = Buffer.alloc(256 * 1024);

function drained(socket: TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

async function sendZeros(socket: TLSSocket, total: number): Promise<void> {
  let left = total;
  while (left > 0 && !socket.destroyed) {
    const n = Math.min(left, ZEROS.length);
    left -= n;
    if (!socket.write(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n))) await drained(socket);
  }
}

async function serve(socket: TLSSocket): Promise<void> {
  let buf = '';
  let busy = false;
  const next = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    let end: number;
    while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      const close = /\r\nconnection:\s*close/i.test(head);
      const m = /^GET \/zeros\/(\d+) /.exec(head);
      if (m) {
        const size = Number(m[1]);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`);
        await sendZeros(socket, size);
      } else {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n');
      }
      if (close) {
        socket.end();
        break;
      }
    }
    busy = false;
  };
  socket.on('data', (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    if (buf.length > 64 * 1024) socket.destroy();
    else void next();
  });
}

// No Nagle, as registries' front ends run: otherwise small responses wait for delayed ACKs and the
// direct connection, not the proxies, pays for it.
const server = createServer(
  { key: readFileSync(opts.keyFile), cert: readFileSync(opts.certFile), noDelay: true },
  (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    void serve(socket);
  },
);
server.on('tlsClientError', () => undefined);
server.listen({ host: opts.host, port: opts.port, backlog: 4096 });
process.on('SIGTERM', () => process.exit(0));
