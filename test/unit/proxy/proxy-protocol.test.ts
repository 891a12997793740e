// PROXY protocol v1 and v2 headers: valid ones give the client, every malformed one is invalid,
// and every prefix of a valid header is incomplete.
import { describe, expect, it } from 'vitest';
import { MAX_V1_LENGTH, MAX_V2_BODY, parseProxyHeader } from '../../../src/proxy/proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: command 0 LOCAL / 1 PROXY, family<<4|transport, then the body. */
function v2(command: number, famProto: number, body: Buffer, version = 2): Buffer {
  const head = Buffer.alloc(4);
  head[0] = (version << 4) | command;
  head[1] = famProto;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}

function inet(src: number[], dst: number[], sport: number, dport: number, tlv = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return Buffer.concat([b, tlv]);
}

function inet6(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(36);
  Buffer.from(src, 'hex').copy(b, 0);
  Buffer.from(dst, 'hex').copy(b, 16);
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(dport, 34);
  return b;
}

const text = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('parseProxyHeader v1', () => {
  const valid: [string, string, string | null, number | null][] = [
    ['TCP4', 'PROXY TCP4 192.0.2.10 10.0.0.1 56324 3128\r\n', '192.0.2.10', 56324],
    ['TCP6', 'PROXY TCP6 2001:DB8:0:0::1 2001:db8::2 1 65535\r\n', '2001:db8::1', 1],
    ['TCP6 with an IPv4-mapped source', 'PROXY TCP6 ::ffff:192.0.2.1 ::1 443 3128\r\n', '192.0.2.1', 443],
    ['UNKNOWN', 'PROXY UNKNOWN\r\n', null, null],
    ['UNKNOWN with addresses', 'PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n', null, null],
  ];
  it.each(valid)('reads %s', (_name, header, client, port) => {
    const r = parseProxyHeader(text(header + 'CONNECT x'));
    expect(r).toEqual({ kind: 'header', client, clientPort: port, consumed: header.length });
  });

  it('accepts a header of exactly 107 bytes', () => {
    const header = `PROXY UNKNOWN ${'x'.repeat(MAX_V1_LENGTH - 16)}\r\n`;
    expect(header.length).toBe(MAX_V1_LENGTH);
    expect(parseProxyHeader(text(header))).toMatchObject({ kind: 'header', consumed: MAX_V1_LENGTH });
  });

  const bad: [string, string][] = [
    ['lower-case proxy', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['double space', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'],
    ['trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'],
    ['LF without CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
    ['CR without LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx'],
    ['tab', 'PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n'],
    ['UDP4', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['TCP4 with IPv6', 'PROXY TCP4 ::1 ::1 1 2\r\n'],
    ['TCP6 with IPv4', 'PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['octal-looking octet', 'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'],
    ['short IPv4', 'PROXY TCP4 127.1 5.6.7.8 1 2\r\n'],
    ['zone id', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'],
    ['bracketed IPv6', 'PROXY TCP6 [::1] ::1 1 2\r\n'],
    ['port 0', 'PROXY TCP4 1.2.3.4 5.6.7.8 0 2\r\n'],
    ['port 65536', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'],
    ['leading-zero port', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'],
    ['signed port', 'PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n'],
    ['missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n'],
    ['bad destination', 'PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n'],
    ['non-ASCII', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xe9\r\n'],
    ['CONNECT without header', 'CONNECT myregistry.azurecr.io:443 HTTP/1.1\r\n'],
    ['no CRLF in 107 bytes', `PROXY UNKNOWN ${'x'.repeat(200)}`],
    ['CR at byte 107', `PROXY UNKNOWN ${'x'.repeat(MAX_V1_LENGTH - 15)}\r\n`],
  ];
  it.each(bad)('refuses %s', (_name, header) => {
    const r = parseProxyHeader(text(header));
    expect(r.kind).toBe('invalid');
  });

  it('answers incomplete for every prefix of a valid header', () => {
    const header = text('PROXY TCP6 2001:db8::1 2001:db8::2 56324 3128\r\n');
    for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n)).kind).toBe('incomplete');
  });

  it('refuses early: the first wrong byte decides', () => {
    expect(parseProxyHeader(text('PRX')).kind).toBe('invalid');
    expect(parseProxyHeader(text('PROXY TCP4 1.2\x00')).kind).toBe('invalid');
  });
});

describe('parseProxyHeader v2', () => {
  it('reads PROXY over AF_INET STREAM and reports the header length', () => {
    const h = v2(1, 0x11, inet([192, 0, 2, 10], [10, 0, 0, 1], 56324, 3128));
    expect(parseProxyHeader(Buffer.concat([h, text('CONNECT')]))).toEqual({
      kind: 'header',
      client: '192.0.2.10',
      clientPort: 56324,
      consumed: 28,
    });
  });

  it('reads PROXY over AF_INET6 STREAM in RFC 5952 form', () => {
    const h = v2(1, 0x21, inet6('20010db8000000000000000000000001', '00000000000000000000000000000001', 443, 3128));
    expect(parseProxyHeader(h)).toEqual({ kind: 'header', client: '2001:db8::1', clientPort: 443, consumed: 52 });
  });

  it('writes an IPv4-mapped AF_INET6 source as IPv4', () => {
    const h = v2(1, 0x21, inet6('00000000000000000000ffffc0000201', '00000000000000000000000000000001', 9, 9));
    expect(parseProxyHeader(h)).toMatchObject({ client: '192.0.2.1' });
  });

  it('skips TLVs (Azure Private Link LINKID) after the address block', () => {
    const tlv = Buffer.from([0xee, 0x00, 0x05, 0x01, 0x11, 0x22, 0x33, 0x44]);
    const h = v2(1, 0x11, inet([10, 1, 2, 3], [10, 0, 0, 1], 1000, 3128, tlv));
    expect(parseProxyHeader(h)).toEqual({ kind: 'header', client: '10.1.2.3', clientPort: 1000, consumed: 36 });
  });

  it('gives no client for LOCAL (health checks) and AF_UNSPEC', () => {
    expect(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)))).toEqual({
      kind: 'header',
      client: null,
      clientPort: null,
      consumed: 16,
    });
    expect(parseProxyHeader(v2(0, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toMatchObject({ client: null });
    expect(parseProxyHeader(v2(1, 0x00, Buffer.alloc(4)))).toMatchObject({ client: null, consumed: 20 });
  });

  const bad: [string, Buffer][] = [
    ['version 1', v2(1, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), 1)],
    ['command 2', v2(2, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
    ['DGRAM', v2(1, 0x12, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
    ['AF_UNIX', v2(1, 0x31, Buffer.alloc(216))],
    ['family 4', v2(1, 0x41, Buffer.alloc(36))],
    ['short AF_INET block', v2(1, 0x11, Buffer.alloc(11))],
    ['short AF_INET6 block', v2(1, 0x21, Buffer.alloc(35))],
    ['source port 0', v2(1, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 0, 2))],
    ['length over the cap', v2(1, 0x11, Buffer.alloc(MAX_V2_BODY + 1))],
    ['broken signature', Buffer.concat([SIG.subarray(0, 11), Buffer.from([0x0b])])],
  ];
  it.each(bad)('refuses %s', (_name, header) => {
    expect(parseProxyHeader(header).kind).toBe('invalid');
  });

  it('refuses an over-long length as soon as the length field arrives', () => {
    expect(parseProxyHeader(v2(1, 0x11, Buffer.alloc(MAX_V2_BODY + 1)).subarray(0, 16)).kind).toBe('invalid');
  });

  it('answers incomplete for every prefix of a valid header', () => {
    const h = v2(1, 0x21, inet6('20010db8000000000000000000000001', '00000000000000000000000000000001', 443, 3128));
    for (let n = 0; n < h.length; n++) expect(parseProxyHeader(h.subarray(0, n)).kind).toBe('incomplete');
  });
});
