// The proxy request head (request line and headers), parsed by hand from the bytes of the socket.
// Why not Node's http.Server: it builds an IncomingMessage and a headers object per CONNECT, its
// header deadline only runs for servers that listen themselves (not for sockets handed to it), and it
// takes `CONNECT host:443` with no version as HTTP/0.9. A CONNECT head is one line and a few headers:
// this parser is bounded (maxBytes), strict about HTTP/1.x, and keeps only what the proxy reads.

export interface RequestHead {
  readonly method: string;
  /** The request target as sent: `host:port` for CONNECT, `http://...` for a plain request. */
  readonly target: string;
  readonly version: '1.0' | '1.1';
  /** The Proxy-Authorization value, if any (a secret: never logged or recorded). */
  readonly proxyAuthorization: string | undefined;
  /** Bytes of the head, terminator included; what follows belongs to the tunnel. */
  readonly length: number;
}

export type HeadResult =
  | { readonly kind: 'incomplete'; readonly scanFrom: number }
  | { readonly kind: 'request'; readonly head: RequestHead }
  | { readonly kind: 'invalid'; readonly detail: string };

const LF = 0x0a;
const CR = 0x0d;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/;
const NO_VERSION = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e]+$/;
const OTHER_VERSION = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e]+ HTTP\/[0-9.]+$/;
const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
// Control bytes are exactly what this rejects (RFC 9110: field values are VCHAR, SP and HTAB).
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Looks for the end of the head in `buf` (`\r\n\r\n`, or bare `\n` line ends, which RFC 9112 lets a
 * recipient accept) starting at `scanFrom` (what the last call returned), so a head that arrives a
 * byte at a time is scanned once, not once per byte. Then parses it.
 */
export function parseRequestHead(buf: Buffer, maxBytes: number, scanFrom = 0): HeadResult {
  let i = scanFrom;
  for (;;) {
    const lf = buf.indexOf(LF, i);
    if (lf === -1 || lf >= maxBytes) break;
    let end = -1;
    if (buf[lf + 1] === LF) end = lf + 2;
    else if (buf[lf + 1] === CR && buf[lf + 2] === LF) end = lf + 3;
    else if (lf + 2 >= buf.length) break; // the terminator may still be arriving
    if (end !== -1) return end > maxBytes ? tooLarge(maxBytes) : parseHead(buf, end);
    i = lf + 1;
  }
  if (buf.length >= maxBytes) return tooLarge(maxBytes);
  return { kind: 'incomplete', scanFrom: Math.max(0, buf.length - 2) };
}

function tooLarge(maxBytes: number): HeadResult {
  return { kind: 'invalid', detail: `request head larger than proxy.maxHeaderBytes (${maxBytes} bytes)` };
}

function invalid(detail: string): HeadResult {
  return { kind: 'invalid', detail };
}

function parseHead(buf: Buffer, end: number): HeadResult {
  const text = buf.toString('latin1', 0, end);
  const lines = text.split('\n');
  lines.length -= 2; // the empty line and what follows the final LF
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] as string;
    if (line.endsWith('\r')) lines[n] = line.slice(0, -1);
  }
  const requestLine = lines[0] ?? '';
  const m = REQUEST_LINE.exec(requestLine);
  if (m === null) return invalid(describeBadLine(requestLine));
  let proxyAuthorization: string | undefined;
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n] as string;
    if (line.startsWith(' ') || line.startsWith('\t')) return invalid('folded header lines are not accepted');
    const h = HEADER.exec(line);
    if (h === null) return invalid(`malformed header line "${printable(line)}"`);
    const value = h[2] as string;
    if (BAD_VALUE.test(value)) return invalid(`control character in header ${h[1]}`);
    if ((h[1] as string).length === 19 && (h[1] as string).toLowerCase() === 'proxy-authorization') {
      if (proxyAuthorization !== undefined) return invalid('more than one Proxy-Authorization header');
      proxyAuthorization = value;
    }
  }
  return {
    kind: 'request',
    head: {
      method: m[1] as string,
      target: m[2] as string,
      version: m[3] === '0' ? '1.0' : '1.1',
      proxyAuthorization,
      length: end,
    },
  };
}

function describeBadLine(line: string): string {
  if (line === '') return 'empty request line';
  if (NO_VERSION.test(line)) return `request line "${printable(line)}" has no HTTP version (HTTP/0.9 is not accepted)`;
  if (OTHER_VERSION.test(line)) return `request line "${printable(line)}" is not HTTP/1.0 or HTTP/1.1`;
  return `malformed request line "${printable(line)}"`;
}

/** At most 100 characters, control bytes escaped: details end up in records and answers. */
function printable(s: string): string {
  const cut = s.length > 100 ? `${s.slice(0, 100)}...` : s;
  return cut.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
