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
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const NO_VERSION = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e]+$/;
const OTHER_VERSION = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e]+ HTTP\/[0-9.]+$/;
const HTTP_1 = Buffer.from('HTTP/1.', 'latin1');
const PROXY_AUTHORIZATION = Buffer.from('proxy-authorization', 'latin1');

/** RFC 9110 tchar: the bytes a method or a header name may hold. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TCHAR[c.charCodeAt(0)] = 1;

/** What a TLS client configured with HTTPS_PROXY=https://... sends to an HTTP proxy port. */
export const TLS_ON_PROXY_PORT = 'a TLS handshake: this is an HTTP proxy port: use http:// in HTTPS_PROXY';

/**
 * Whether the bytes so far can still start an HTTP request (null) or why not, so such a client is
 * answered at once instead of at proxy.headersTimeoutMs: a TLS record (0x16 0x03), or any byte in the
 * method that is not a tchar. Leading empty lines are allowed (RFC 9112 section 2.2).
 */
export function headStartProblem(buf: Buffer): string | null {
  if (buf.length === 0) return null;
  if (buf[0] === 0x16) return buf.length < 2 ? null : buf[1] === 0x03 ? TLS_ON_PROXY_PORT : notHttp(buf[0]);
  let i = 0;
  while (i < buf.length && (buf[i] === CR || buf[i] === LF)) i++;
  for (; i < buf.length && i < 64; i++) {
    const c = buf[i] as number;
    if (c === SP) return null;
    if (TCHAR[c] !== 1) return notHttp(c);
  }
  return null;
}

function notHttp(byte: number): string {
  return `bytes that cannot start an HTTP request (0x${byte.toString(16).padStart(2, '0')})`;
}

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

/** Scans the bytes once: only the method, the target and Proxy-Authorization become strings. */
function parseHead(buf: Buffer, end: number): HeadResult {
  const lineEnd = buf.indexOf(LF);
  const rl = lineEnd > 0 && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
  let i = 0;
  while (i < rl && TCHAR[buf[i] as number] === 1) i++;
  const methodEnd = i;
  let ok = methodEnd > 0 && buf[i] === SP;
  const targetStart = ++i;
  while (ok && i < rl && (buf[i] as number) > SP && (buf[i] as number) < 0x7f) i++;
  const targetEnd = i;
  ok &&= targetEnd > targetStart && buf[i] === SP && rl - i === 9;
  ok &&= buf.compare(HTTP_1, 0, HTTP_1.length, i + 1, i + 8) === 0 && (buf[i + 8] === 0x30 || buf[i + 8] === 0x31);
  if (!ok) return invalid(describeBadLine(buf.toString('latin1', 0, rl)));

  let proxyAuthorization: string | undefined;
  for (let at = lineEnd + 1; ;) {
    const lf = buf.indexOf(LF, at);
    const stop = lf > at && buf[lf - 1] === CR ? lf - 1 : lf;
    if (stop === at) break; // the empty line that ends the head
    const first = buf[at] as number;
    if (first === SP || first === HTAB) return invalid('folded header lines are not accepted');
    let j = at;
    while (j < stop && TCHAR[buf[j] as number] === 1) j++;
    if (j === at || buf[j] !== COLON)
      return invalid(`malformed header line "${printable(buf.toString('latin1', at, j))}..."`); // never its value: it may be a secret
    const nameEnd = j;
    let v = j + 1;
    while (v < stop && (buf[v] === SP || buf[v] === HTAB)) v++;
    let w = stop;
    while (w > v && (buf[w - 1] === SP || buf[w - 1] === HTAB)) w--;
    for (let k = v; k < w; k++) {
      const c = buf[k] as number;
      if ((c < SP && c !== HTAB) || c === 0x7f)
        return invalid(`control character in header ${buf.toString('latin1', at, nameEnd)}`);
    }
    if (nameEnd - at === PROXY_AUTHORIZATION.length && isProxyAuthorization(buf, at)) {
      if (proxyAuthorization !== undefined) return invalid('more than one Proxy-Authorization header');
      proxyAuthorization = buf.toString('latin1', v, w);
    }
    at = lf + 1;
  }
  return {
    kind: 'request',
    head: {
      method: buf.toString('latin1', 0, methodEnd),
      target: buf.toString('latin1', targetStart, targetEnd),
      version: buf[rl - 1] === 0x30 ? '1.0' : '1.1',
      proxyAuthorization,
      length: end,
    },
  };
}

function isProxyAuthorization(buf: Buffer, at: number): boolean {
  for (let k = 0; k < PROXY_AUTHORIZATION.length; k++) {
    if (((buf[at + k] as number) | 0x20) !== PROXY_AUTHORIZATION[k]) return false;
  }
  return true;
}

function describeBadLine(line: string): string {
  if (line === '') return 'empty request line';
  if (NO_VERSION.test(line)) return `request line "${printable(line)}" has no HTTP version (HTTP/0.9 is not accepted)`;
  if (OTHER_VERSION.test(line)) return `request line "${printable(line)}" is not HTTP/1.0 or HTTP/1.1`;
  return `malformed request line "${printable(line)}"`;
}

/**
 * At most 100 characters, control bytes escaped, user:password@ masked: details end up in records
 * and answers, and a client may put credentials in a request target.
 */
export function printable(s: string): string {
  const cut = s.length > 100 ? `${s.slice(0, 100)}...` : s;
  return cut
    .replace(/[^\s/@]*@/g, '***@')
    .replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
