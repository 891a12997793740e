// Reads a TLS ClientHello off a client socket, incrementally, before any byte goes upstream.
import type { Socket } from 'node:net';
import { parseClientHello, type ClientHelloResult } from './client-hello.js';

export type HelloOutcome =
  | { kind: 'hello'; sni: string | null; hasEch: boolean; buffered: Buffer }
  | { kind: 'not_tls'; detail: string; buffered: Buffer }
  | { kind: 'timeout'; buffered: Buffer }
  | { kind: 'closed' };

/**
 * Waits for a complete ClientHello (or a definite refusal), starting from bytes already read (`head`).
 * `flowing`: leave the socket flowing; the caller must then take over 'data' before any I/O wait.
 */
export function readClientHello(
  socket: Socket,
  head: Buffer,
  timeoutMs: number,
  maxBytes: number,
  flowing = false,
): Promise<HelloOutcome> {
  return new Promise((resolve) => {
    let buffered = head;
    let settled = false;
    const settle = (outcome: HelloOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('end', onClose);
      // A caller that splices right away (CONNECT: the upstream is already dialled) attaches its own
      // 'data' listener before the event loop can read again, so the socket may stay flowing: a
      // pause here and a resume in the pump cost a stream state change and a nextTick per tunnel.
      if (!flowing) socket.pause();
      resolve(outcome);
    };
    const judge = (result: ClientHelloResult): void => {
      switch (result.status) {
        case 'incomplete':
          return;
        case 'ok':
          return settle({ kind: 'hello', sni: result.sni, hasEch: result.hasEch, buffered });
        case 'not_tls':
          return settle({ kind: 'not_tls', detail: result.detail, buffered });
        case 'too_large':
          return settle({ kind: 'not_tls', detail: `ClientHello too large: ${result.detail}`, buffered });
        case 'malformed':
          return settle({ kind: 'not_tls', detail: `malformed ClientHello: ${result.detail}`, buffered });
      }
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      judge(parseClientHello(buffered, maxBytes));
    };
    const onClose = (): void => settle({ kind: 'closed' });
    const timer = setTimeout(() => settle({ kind: 'timeout', buffered }), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('end', onClose);
    if (buffered.length > 0) judge(parseClientHello(buffered, maxBytes));
    if (!settled) socket.resume();
  });
}
