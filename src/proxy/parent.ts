// Hands an allowed tunnel to the parent proxy (proxy.parent) with CONNECT, as Squid's cache_peer
// does. Hand-written like the rest of the tunnel: one request line, one response head, and then the
// socket is the tunnel. The parent resolves the name, so no address is checked or recorded here.
import { connect } from 'node:net';
import type { ParentProxy } from '../config/parent.js';
import type { DownstreamReader } from './pump.js';

/** A parent's answer head larger than this is not a proxy speaking HTTP. */
const MAX_HEAD_BYTES = 16 * 1024;

export type ParentDial =
  { ok: true; socket: import('node:net').Socket } | { ok: false; detail: string; status: number | null };

const authorityOf = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Connects to the parent and asks it for host:port. With a reader (a splice) its onread is wrapped:
 * until the parent's answer head is complete the bytes are parsed here; anything after it (a server
 * speaking first) is passed on to the reader, which keeps it until the tunnel is spliced. Without
 * one (a handler speaking TLS over the tunnel) the head is read from 'data' and the rest put back.
 */
export function dialParent(
  parent: ParentProxy,
  host: string,
  port: number,
  timeoutMs: number,
  reader: DownstreamReader | null,
): Promise<ParentDial> {
  const authority = authorityOf(host, port);
  return new Promise((resolve) => {
    let head = Buffer.alloc(0);
    let open = false;
    let settled = false;
    const own = Buffer.allocUnsafe(MAX_HEAD_BYTES);
    const finish = (result: ParentDial): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!result.ok) socket.destroy();
      resolve(result);
    };
    /** Parses the answer head; returns the bytes after it once the parent said 200, else null. */
    const onHead = (chunk: Buffer): Buffer | null => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length >= MAX_HEAD_BYTES)
          finish({ ok: false, status: null, detail: `parent proxy ${parent.label}: answer head too large` });
        return null;
      }
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      const status = m ? Number(m[1]) : null;
      if (status !== 200) {
        const said = m ? `${status}${m[2] ? ` ${m[2]}` : ''}` : `"${statusLine.slice(0, 80)}"`;
        finish({ ok: false, status, detail: `parent proxy ${parent.label} refused CONNECT ${authority}: ${said}` });
        return null;
      }
      open = true;
      return head.subarray(end + 4);
    };
    const onread =
      reader === null
        ? undefined
        : {
            buffer: () => (open ? reader.onread.buffer() : own),
            callback: (n: number, buf: Uint8Array): boolean => {
              if (open) return reader.onread.callback(n, buf);
              const rest = onHead(Buffer.from(buf.subarray(0, n)));
              if (rest === null) return !settled;
              finish({ ok: true, socket });
              // Bytes after the head belong to the tunnel: the reader keeps a copy until it is spliced.
              return rest.length === 0 ? true : reader.onread.callback(rest.length, Buffer.from(rest));
            },
          };
    const socket = connect({
      host: parent.host,
      port: parent.port,
      allowHalfOpen: reader !== null, // a splice carries half-closes; a plain stream closes at the FIN
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
      ...(onread === undefined ? {} : { onread }),
    });
    if (reader === null) {
      const onData = (chunk: Buffer): void => {
        const rest = onHead(chunk);
        if (rest === null) return;
        socket.off('data', onData);
        socket.pause();
        if (rest.length > 0) socket.unshift(rest);
        finish({ ok: true, socket });
      };
      socket.on('data', onData);
    }
    const timer = setTimeout(
      () =>
        finish({ ok: false, status: null, detail: `parent proxy ${parent.label}: no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.once('connect', () => {
      const auth = parent.authorization === null ? '' : `Proxy-Authorization: ${parent.authorization}\r\n`;
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        status: null,
        detail: `parent proxy ${parent.label} unreachable: ${err.code ?? err.message}`,
      }),
    );
    socket.once('close', () =>
      finish({ ok: false, status: null, detail: `parent proxy ${parent.label} closed before answering CONNECT` }),
    );
  });
}
