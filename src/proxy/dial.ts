// Opens the upstream TCP connection to one already-vetted address, with a connect timeout. With a
// reader the socket reads straight into the splice's buffers (pump.ts); without one it is a plain
// stream, for a handler that speaks TLS over it (inspection).
import { connect, type Socket } from 'node:net';
import type { DownstreamReader } from './pump.js';

export type DialResult = { ok: true; socket: Socket } | { ok: false; detail: string };

export function dial(
  ip: string,
  port: number,
  timeoutMs: number,
  reader: DownstreamReader | null,
): Promise<DialResult> {
  return new Promise((resolve) => {
    const socket = connect({
      host: ip,
      port,
      allowHalfOpen: reader !== null, // a splice carries half-closes; a plain stream closes at the FIN
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
      ...(reader === null ? {} : { onread: reader.onread }),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, detail: `connect to ${ip}:${port} timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      // Errors after connect are seen through 'close' by whoever owns the socket; never crash on one.
      socket.on('error', () => undefined);
      resolve({ ok: true, socket });
    });
    const onError = (err: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, detail: `connect to ${ip}:${port} failed: ${err.code ?? err.message}` });
    };
    socket.once('error', onError);
  });
}
