// Parses the PROXY protocol header (v1 text, v2 binary) a load balancer puts before the client's bytes.
// Hand-written: it is the product's core (it decides which client a connection belongs to), it is
// bounded (107 bytes for v1, MAX_V2_BODY for v2), and the spec is two pages; no dependency needed.
// Pure: the caller buffers what it received and calls again per chunk; `incomplete` is the only
// answer that more bytes can change.
import { formatIp, isV4Mapped, readIp, V4_WORD, type IpTextOptions } from '../net/ip.js';

export type ProxyHeaderResult =
  | { kind: 'incomplete' }
  | { kind: 'header'; client: string | null; clientPort: number | null; consumed: number }
  | { kind: 'invalid'; detail: string };

/** v1's whole line, "PROXY" to CRLF, is at most 107 bytes (spec section 2.1). */
export const MAX_V1_LENGTH = 107;
/**
 * v2 bodies are addresses (at most 216 bytes for AF_UNIX) plus TLVs; HAProxy, AWS NLB and Azure
 * Private Link send well under 1 KiB. Anything longer is refused rather than buffered.
 */
export const MAX_V2_BODY = 2048;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_HEADER = 16;

const V2_LOCAL = 0x0;
const V2_PROXY = 0x1;
const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const STREAM = 0x1;

const INCOMPLETE: ProxyHeaderResult = Object.freeze({ kind: 'incomplete' });
const BARE: IpTextOptions = { brackets: false, zone: false, unmap: false };

function invalid(detail: string): ProxyHeaderResult {
  return { kind: 'invalid', detail };
}

/**
 * Reads the PROXY header at the start of `buf` (everything received so far). `consumed` is the
 * header's length: the bytes after it belong to the client. `client` is null for v1 UNKNOWN and v2
 * LOCAL or AF_UNSPEC, where the sender says the connection's own peer is the client. Never throws.
 */
export function parseProxyHeader(buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  return invalid('the connection does not start with a PROXY protocol header');
}

function parseV1(buf: Buffer): ProxyHeaderResult {
  const seen = Math.min(buf.length, MAX_V1_LENGTH);
  for (let i = 0; i < Math.min(seen, V1_PREFIX.length); i++)
    if (buf[i] !== V1_PREFIX[i]) return invalid('the connection does not start with a PROXY protocol header');
  let end = -1;
  for (let i = 0; i < seen; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      if (i + 1 >= MAX_V1_LENGTH) break;
      if (i + 1 === buf.length) return INCOMPLETE;
      if (buf[i + 1] !== 0x0a) return invalid('PROXY v1: a CR not followed by LF');
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return invalid('PROXY v1: a byte that is not printable ASCII');
  }
  if (end < 0) return buf.length >= MAX_V1_LENGTH ? invalid(`PROXY v1: no CRLF in ${MAX_V1_LENGTH} bytes`) : INCOMPLETE;
  const line = buf.toString('latin1', V1_PREFIX.length, end);
  const consumed = end + 2;
  // UNKNOWN may carry anything up to the CRLF (spec 2.1); the receiver ignores it.
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN '))
    return { kind: 'header', client: null, clientPort: null, consumed };
  const parts = line.split(' ');
  if (parts.length !== 5) return invalid('PROXY v1: expected "TCP4|TCP6 SRC DST SPORT DPORT" with single spaces');
  const [proto, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0) return invalid('PROXY v1: the protocol is not TCP4, TCP6 or UNKNOWN');
  const words = new Uint32Array(4);
  if (readIp(dst, words, BARE) !== family) return invalid(`PROXY v1: the destination is not an IPv${family} address`);
  if (readIp(src, words, BARE) !== family) return invalid(`PROXY v1: the source is not an IPv${family} address`);
  const clientPort = readPort(sport);
  if (clientPort < 0 || readPort(dport) < 0) return invalid('PROXY v1: a port is not a number from 1 to 65535');
  return { kind: 'header', client: canonical(words), clientPort, consumed };
}

/** 1-65535 in decimal without a leading zero, or -1. A TCP peer never has port 0. */
function readPort(text: string): number {
  if (text.length < 1 || text.length > 5 || text.charCodeAt(0) === 48) return -1;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n <= 65535 ? n : -1;
}

/** The spelling records use everywhere: IPv4-mapped IPv6 is the IPv4 address it reaches. */
function canonical(words: Uint32Array): string {
  return formatIp(words, isV4Mapped(words) ? 4 : 6);
}

function parseV2(buf: Buffer): ProxyHeaderResult {
  const seen = Math.min(buf.length, V2_SIGNATURE.length);
  for (let i = 0; i < seen; i++)
    if (buf[i] !== V2_SIGNATURE[i]) return invalid('the connection does not start with a PROXY protocol header');
  if (buf.length < 13) return INCOMPLETE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return invalid(`PROXY v2: version ${verCmd >> 4} is not 2`);
  const command = verCmd & 0x0f;
  if (command !== V2_LOCAL && command !== V2_PROXY) return invalid(`PROXY v2: unknown command ${command}`);
  if (buf.length < V2_HEADER) return INCOMPLETE;
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  const bodyLength = buf.readUInt16BE(14);
  if (bodyLength > MAX_V2_BODY) return invalid(`PROXY v2: a ${bodyLength}-byte header exceeds ${MAX_V2_BODY} bytes`);
  const consumed = V2_HEADER + bodyLength;
  if (buf.length < consumed) return INCOMPLETE;
  // LOCAL: the balancer's own connection (health checks); the address block is ignored (spec 2.2).
  if (command === V2_LOCAL || family === AF_UNSPEC) return { kind: 'header', client: null, clientPort: null, consumed };
  if (transport !== STREAM) return invalid('PROXY v2: the transport is not STREAM (TCP)');
  const words = new Uint32Array(4);
  let portAt: number;
  if (family === AF_INET) {
    if (bodyLength < 12) return invalid('PROXY v2: the AF_INET address block is shorter than 12 bytes');
    words[2] = 0xffff;
    words[V4_WORD] = buf.readUInt32BE(V2_HEADER);
    portAt = V2_HEADER + 8;
  } else if (family === AF_INET6) {
    if (bodyLength < 36) return invalid('PROXY v2: the AF_INET6 address block is shorter than 36 bytes');
    for (let k = 0; k < 4; k++) words[k] = buf.readUInt32BE(V2_HEADER + 4 * k);
    portAt = V2_HEADER + 32;
  } else {
    return invalid(`PROXY v2: address family ${family} is not AF_INET or AF_INET6`);
  }
  const clientPort = buf.readUInt16BE(portAt);
  if (clientPort === 0 || buf.readUInt16BE(portAt + 2) === 0) return invalid('PROXY v2: a port is 0');
  // TLVs after the address block (ALPN, authority, AWS/Azure endpoint ids) are not needed: skipped.
  return { kind: 'header', client: canonical(words), clientPort, consumed };
}
