// Reads the server name (SNI), ALPN and ECH flag from the TLS ClientHello at the start of a tunnel,
// answering on as few bytes as it can. Pure: the caller buffers the bytes and calls again per chunk.

export type ClientHelloResult =
  | { status: 'incomplete' }
  | { status: 'not_tls'; detail: string }
  | { status: 'too_large'; detail: string }
  | { status: 'malformed'; detail: string }
  | { status: 'ok'; sni: string | null; alpn: string[]; bytes: number; version: number; hasEch: boolean };

const CONTENT_TYPE_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
// RFC 8446 5.2: no record, even encrypted, carries more than 2^14 + 2048 bytes.
const MAX_RECORD_LENGTH = 16384 + 2048;
const DEFAULT_MAX_BYTES = 65536;
// legacy_version (2) + random (32) + session id length (1).
const FIXED_PREFIX = 35;
const MAX_SESSION_ID = 32;

const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
const EXT_ECH = 0xfe0d;
const NAME_TYPE_HOST = 0;

// Returned for every chunk until the hello is complete, so it is shared rather than allocated.
const INCOMPLETE: ClientHelloResult = Object.freeze({ status: 'incomplete' });

/**
 * Parses the ClientHello at the start of `buf` (everything received so far). Every answer but
 * `incomplete` is final: more bytes never change it. `maxBytes` bounds the ClientHello body length.
 * `version` is the hello's legacy_version (0x0303 for TLS 1.2 and 1.3 clients alike); `bytes` is
 * the length of the records holding the hello.
 */
export function parseClientHello(buf: Buffer, maxBytes: number = DEFAULT_MAX_BYTES): ClientHelloResult {
  try {
    return parse(buf, maxBytes);
  } catch (err) {
    // Unreachable by design (every read is bounds-checked); kept so a parser bug cannot kill the proxy.
    return malformed(`parser error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parse(buf: Buffer, maxBytes: number): ClientHelloResult {
  let off = 0; // start of the current record
  let records = 0;
  let payload = 0; // handshake bytes seen so far, across records
  let header = 0; // the 4-byte handshake header, gathered byte by byte as it may straddle records
  let needed = -1; // header + body length, once the header is known

  while (needed < 0 || payload < needed) {
    const have = buf.length - off;
    if (have < 1) return INCOMPLETE;
    if (buf[off] !== CONTENT_TYPE_HANDSHAKE) {
      return records === 0
        ? notTls(`first byte 0x${hex(buf[off]!)} is not a TLS handshake record`)
        : malformed(`record ${records} has content type ${buf[off]}, not handshake, inside the ClientHello`);
    }
    if (have < 2) return INCOMPLETE;
    if (buf[off + 1] !== 0x03) {
      return records === 0
        ? notTls(`record version major byte 0x${hex(buf[off + 1]!)} is not TLS (0x03)`)
        : malformed(`record ${records} has version major byte 0x${hex(buf[off + 1]!)}`);
    }
    if (have < RECORD_HEADER) return INCOMPLETE;
    const recordLength = buf.readUInt16BE(off + 3);
    if (recordLength === 0 || recordLength > MAX_RECORD_LENGTH) {
      return malformed(`record ${records} has record length ${recordLength}`);
    }

    const start = off + RECORD_HEADER;
    const end = start + Math.min(recordLength, have - RECORD_HEADER);
    let i = start;
    // Check the handshake type and length as soon as each byte arrives, to refuse early.
    while (payload < HANDSHAKE_HEADER && i < end) {
      header = header * 256 + buf[i]!;
      i++;
      payload++;
      if (payload === 1 && header !== HANDSHAKE_CLIENT_HELLO) {
        return malformed(`handshake type ${header} is not client_hello (1)`);
      }
      if (payload === HANDSHAKE_HEADER) {
        const bodyLength = header & 0xffffff;
        if (bodyLength > maxBytes) return tooLarge(`ClientHello length ${bodyLength} exceeds ${maxBytes}`);
        needed = HANDSHAKE_HEADER + bodyLength;
      }
    }
    payload += end - i;
    // `bytes` promises whole records, so wait for the rest of this one even if the hello is done.
    if (end - start < recordLength) return INCOMPLETE;
    off = start + recordLength;
    records++;
  }

  // The common case, one record, is parsed in place; only a hello split over records is copied.
  if (records === 1) return parseBody(buf, RECORD_HEADER + HANDSHAKE_HEADER, RECORD_HEADER + needed, off);
  return parseBody(reassemble(buf, records, needed), HANDSHAKE_HEADER, needed, off);
}

// Copies the handshake payloads of the (already validated) records into one buffer.
function reassemble(buf: Buffer, records: number, needed: number): Buffer {
  const out = Buffer.allocUnsafe(needed);
  let off = 0;
  let filled = 0;
  for (let r = 0; r < records; r++) {
    const length = buf.readUInt16BE(off + 3);
    const take = Math.min(length, needed - filled);
    buf.copy(out, filled, off + RECORD_HEADER, off + RECORD_HEADER + take);
    filled += take;
    off += RECORD_HEADER + length;
  }
  return out;
}

function parseBody(b: Buffer, start: number, end: number, bytes: number): ClientHelloResult {
  if (end - start < FIXED_PREFIX) return malformed(`ClientHello body of ${end - start} bytes is too short`);
  const version = b.readUInt16BE(start);
  let p = start + FIXED_PREFIX - 1;
  const sessionIdLength = b[p]!;
  if (sessionIdLength > MAX_SESSION_ID) return malformed(`session id length ${sessionIdLength} exceeds 32`);
  p += 1 + sessionIdLength;

  if (end - p < 2) return malformed('cipher suites length runs past the ClientHello');
  const suitesLength = b.readUInt16BE(p);
  if (suitesLength < 2 || suitesLength % 2 !== 0) return malformed(`cipher suites length ${suitesLength} is invalid`);
  p += 2 + suitesLength;

  if (end - p < 1) return malformed('cipher suites run past the ClientHello');
  const compressionLength = b[p]!;
  if (compressionLength < 1) return malformed('compression methods list is empty');
  p += 1 + compressionLength;
  if (p > end) return malformed('compression methods run past the ClientHello');

  // SSLv3-style hellos end here, with no extensions block.
  if (p === end) return { status: 'ok', sni: null, alpn: [], bytes, version, hasEch: false };
  if (end - p < 2) return malformed('extensions length runs past the ClientHello');
  const extensionsLength = b.readUInt16BE(p);
  p += 2;
  if (p + extensionsLength !== end) {
    return malformed(`extensions length ${extensionsLength} does not match the ${end - p} bytes left`);
  }
  return parseExtensions(b, p, end, bytes, version);
}

function parseExtensions(b: Buffer, p: number, end: number, bytes: number, version: number): ClientHelloResult {
  let sni: string | null = null;
  let alpn: string[] = [];
  let hasEch = false;
  const seen = new Set<number>();

  while (p < end) {
    if (end - p < 4) return malformed('extension header runs past the extensions block');
    const type = b.readUInt16BE(p);
    const dataEnd = p + 4 + b.readUInt16BE(p + 2);
    p += 4;
    if (dataEnd > end) return malformed(`extension ${type} runs past the extensions block`);
    // RFC 8446 4.2 forbids repeats; GREASE values are meaningless, so they are neither counted nor read.
    if (!isGrease(type)) {
      if (seen.has(type)) return malformed(`duplicate extension ${type}`);
      seen.add(type);
    }
    if (type === EXT_SERVER_NAME) {
      const name = readServerName(b, p, dataEnd);
      if (typeof name !== 'string' && name !== null) return name;
      sni = name;
    } else if (type === EXT_ALPN) {
      const protocols = readAlpn(b, p, dataEnd);
      if (!Array.isArray(protocols)) return protocols;
      alpn = protocols;
    } else if (type === EXT_ECH) {
      hasEch = true;
    }
    p = dataEnd;
  }
  return { status: 'ok', sni, alpn, bytes, version, hasEch };
}

// RFC 6066 3: a list of (name_type, name); at most one host_name, which must be printable ASCII
// so that no NUL, space or UTF-8 trick can make the policy and the upstream see different names.
function readServerName(b: Buffer, p: number, end: number): string | null | ClientHelloResult {
  if (end - p < 2) return malformed('server_name extension is empty');
  const listLength = b.readUInt16BE(p);
  p += 2;
  if (listLength === 0 || p + listLength !== end)
    return malformed('server_name list length does not match the extension');
  let host: string | null = null;
  while (p < end) {
    if (end - p < 3) return malformed('server_name entry header runs past the list');
    const nameType = b[p]!;
    const nameEnd = p + 3 + b.readUInt16BE(p + 1);
    p += 3;
    if (nameEnd > end) return malformed('server_name entry runs past the list');
    if (nameType === NAME_TYPE_HOST) {
      if (host !== null) return malformed('server_name lists more than one host_name');
      if (nameEnd === p) return malformed('host_name is empty');
      for (let i = p; i < nameEnd; i++) {
        const c = b[i]!;
        if (c < 0x21 || c > 0x7e) return malformed(`host_name byte 0x${hex(c)} at ${i - p} is not printable ASCII`);
      }
      host = b.toString('latin1', p, nameEnd);
    }
    p = nameEnd;
  }
  return host;
}

// RFC 7301 3.1: a non-empty list of non-empty opaque names; latin1 keeps any byte as one char.
function readAlpn(b: Buffer, p: number, end: number): string[] | ClientHelloResult {
  if (end - p < 2) return malformed('ALPN extension is empty');
  const listLength = b.readUInt16BE(p);
  p += 2;
  if (listLength < 2 || p + listLength !== end) return malformed('ALPN list length does not match the extension');
  const protocols: string[] = [];
  while (p < end) {
    const length = b[p]!;
    p += 1;
    if (length === 0) return malformed('ALPN protocol name is empty');
    if (p + length > end) return malformed('ALPN protocol name runs past the list');
    protocols.push(b.toString('latin1', p, p + length));
    p += length;
  }
  return protocols;
}

// RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa.
function isGrease(type: number): boolean {
  return (type & 0x0f0f) === 0x0a0a && type >> 8 === (type & 0xff);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function notTls(detail: string): ClientHelloResult {
  return { status: 'not_tls', detail };
}

function tooLarge(detail: string): ClientHelloResult {
  return { status: 'too_large', detail };
}

function malformed(detail: string): ClientHelloResult {
  return { status: 'malformed', detail };
}
