// Hands an allowed tunnel to the parent proxy (proxy.parent) with CONNECT, as Squid's cache_peer
// does. Hand-written like the rest of the tunnel: one request line, one response head, and then the
// socket is the tunnel. The parent resolves the name, so no address is checked or recorded here.
import { connect } from 'node:net';
import type { ParentProxy } from '../config/parent.js';
import { refuse } from '../policy/decide.js';
import type { ProxyDeps } from './context.js';
import { DownstreamReader } from './pump.js';
import type { Dialed } from './tunnel.js';

/** A parent's answer head larger than this is not a proxy speaking HTTP. */
const MAX_HEAD_BYTES = 16 * 1024;

export type ParentDial =
  { ok: true; socket: import('node:net').Socket } | { ok: false; detail: string; status: number | null };

const authorityOf = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Connects to the parent and asks it for host:port. The reader's onread is wrapped: until the
 * parent's answer head is complete the bytes are parsed here; anything after it (a server speaking
 * first) is passed on to the reader, which keeps it until the tunnel is spliced.
 */
export function dialParent(
  parent: ParentProxy,
  host: string,
  port: number,
  timeoutMs: number,
  reader: DownstreamReader,
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
    const onHead = (chunk: Buffer): boolean => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length >= MAX_HEAD_BYTES)
          finish({ ok: false, status: null, detail: `parent proxy ${parent.label}: answer head too large` });
        return !settled;
      }
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      const status = m ? Number(m[1]) : null;
      if (status !== 200) {
        const said = m ? `${status}${m[2] ? ` ${m[2]}` : ''}` : `"${statusLine.slice(0, 80)}"`;
        finish({ ok: false, status, detail: `parent proxy ${parent.label} refused CONNECT ${authority}: ${said}` });
        return false;
      }
      open = true;
      const rest = head.subarray(end + 4);
      finish({ ok: true, socket });
      // Bytes after the head belong to the tunnel: the reader keeps a copy until it is spliced.
      return rest.length === 0 ? true : reader.onread.callback(rest.length, Buffer.from(rest));
    };
    const socket = connect({
      host: parent.host,
      port: parent.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
      onread: {
        buffer: () => (open ? reader.onread.buffer() : own),
        callback: (n: number, buf: Uint8Array) =>
          open ? reader.onread.callback(n, buf) : onHead(Buffer.from(buf.subarray(0, n))),
      },
    });
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

/** dialVetted's twin for a parent: the tunnel to host:port through it, or upstream_unreachable with the parent's answer. */
export async function dialViaParent(
  deps: ProxyDeps,
  client: import('node:net').Socket,
  parent: ParentProxy,
  host: string,
  port: number,
  rule: string | null,
): Promise<Dialed> {
  const reader = new DownstreamReader();
  const dialed = await dialParent(parent, host, port, deps.settings().connectTimeoutMs, reader);
  if (!dialed.ok) return { ok: false, decision: refuse('upstream_unreachable', dialed.detail, rule) };
  if (client.destroyed) {
    dialed.socket.destroy();
    return { ok: false, decision: refuse('upstream_unreachable', 'client went away before the tunnel opened', rule) };
  }
  return { ok: true, upstream: dialed.socket, reader };
}
