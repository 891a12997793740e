// Fuzz target: the PROXY protocol v1/v2 parser. Random and mutated bytes keep the invariants;
// generated headers parse to their own values, and every prefix of one is incomplete.
import fc from 'fast-check';
import { parseIp } from '../../src/net/address.js';
import { formatIp, V4_WORD } from '../../src/net/ip.js';
import { MAX_V1_LENGTH, MAX_V2_BODY, parseProxyHeader } from '../../src/proxy/proxy-protocol.js';
import { must, type FuzzTarget } from '../lib.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const KINDS = new Set(['incomplete', 'header', 'invalid']);

function invariants(buf: Buffer): void {
  const r = parseProxyHeader(buf);
  must(KINDS.has(r.kind), `unknown kind ${String(r.kind)}`);
  if (r.kind === 'invalid') {
    must(typeof r.detail === 'string' && r.detail.length > 0 && r.detail.length <= 200, 'detail is not a short text');
  } else if (r.kind === 'incomplete') {
    must(buf.length < 16 + MAX_V2_BODY, `incomplete after ${buf.length} bytes: the parser buffers without bound`);
  } else {
    must(Number.isInteger(r.consumed) && r.consumed <= buf.length, `consumed ${r.consumed} of ${buf.length} bytes`);
    must(r.consumed <= Math.max(MAX_V1_LENGTH, 16 + MAX_V2_BODY), `consumed ${r.consumed}: beyond the caps`);
    must((r.client === null) === (r.clientPort === null), 'client and clientPort disagree on null');
    if (r.clientPort !== null)
      must(Number.isInteger(r.clientPort) && r.clientPort >= 1 && r.clientPort <= 65535, `port ${r.clientPort}`);
    if (r.client !== null) must(parseIp(r.client)?.address === r.client, `client ${r.client} is not canonical`);
    // A header delimits itself: the bytes after it never change what it says.
    const alone = parseProxyHeader(buf.subarray(0, r.consumed));
    must(JSON.stringify(alone) === JSON.stringify(r), 'the header alone parses differently');
  }
  if (r.kind !== 'incomplete') {
    const more = parseProxyHeader(Buffer.concat([buf, Buffer.from('\r\nX')]));
    must(JSON.stringify(more) === JSON.stringify(r), `a definite ${r.kind} changed when more bytes arrived`);
  }
}

/** A generated header and what it says. */
interface Header {
  bytes: Buffer;
  client: string | null;
  port: number | null;
}

const word = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 1, max: 65535 });
const v4 = word.map((w) => Uint32Array.of(0, 0, 0xffff, w));
const v6 = fc.tuple(word, word, word, word).map((w) => Uint32Array.from(w));
// Spellings of an IPv6 address other than the RFC 5952 one: upper case, every group written out.
const v6Text = fc.tuple(v6, fc.constantFrom('canonical', 'upper', 'full')).map(([w, how]) => {
  const text = formatIp(w, 6);
  if (how === 'upper') return { w, text: text.toUpperCase() };
  if (how === 'canonical') return { w, text };
  const groups = Array.from({ length: 8 }, (_, k) =>
    ((k & 1 ? w[k >> 1]! & 0xffff : w[k >> 1]! >>> 16) >>> 0).toString(16),
  );
  return { w, text: groups.join(':') };
});

function canonical(w: Uint32Array): string {
  return formatIp(w, w[0] === 0 && w[1] === 0 && w[2] === 0xffff ? 4 : 6);
}

const v1Header: fc.Arbitrary<Header> = fc.oneof(
  fc.tuple(v4, v4, port, port).map(([s, d, sp, dp]) => ({
    bytes: Buffer.from(`PROXY TCP4 ${formatIp(s, 4)} ${formatIp(d, 4)} ${sp} ${dp}\r\n`),
    client: formatIp(s, 4),
    port: sp,
  })),
  fc.tuple(v6Text, v6Text, port, port).map(([s, d, sp, dp]) => ({
    bytes: Buffer.from(`PROXY TCP6 ${s.text} ${d.text} ${sp} ${dp}\r\n`),
    client: canonical(s.w),
    port: sp,
  })),
  fc.stringMatching(/^[ -~]{0,90}$/).map((rest) => ({
    bytes: Buffer.from(`PROXY UNKNOWN${rest === '' ? '' : ` ${rest}`}\r\n`),
    client: null,
    port: null,
  })),
);

function v2Bytes(verCmd: number, fam: number, body: Buffer): Buffer {
  const head = Buffer.from([verCmd, fam, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}

const tlvs = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));

const v2Header: fc.Arbitrary<Header> = fc.oneof(
  fc.tuple(v4, v4, port, port, tlvs).map(([s, d, sp, dp, tlv]) => {
    const b = Buffer.alloc(12);
    b.writeUInt32BE(s[V4_WORD]!, 0);
    b.writeUInt32BE(d[V4_WORD]!, 4);
    b.writeUInt16BE(sp, 8);
    b.writeUInt16BE(dp, 10);
    return { bytes: v2Bytes(0x21, 0x11, Buffer.concat([b, tlv])), client: formatIp(s, 4), port: sp };
  }),
  fc.tuple(v6, v6, port, port, tlvs).map(([s, d, sp, dp, tlv]) => {
    const b = Buffer.alloc(36);
    for (let k = 0; k < 4; k++) {
      b.writeUInt32BE(s[k]!, 4 * k);
      b.writeUInt32BE(d[k]!, 16 + 4 * k);
    }
    b.writeUInt16BE(sp, 32);
    b.writeUInt16BE(dp, 34);
    return { bytes: v2Bytes(0x21, 0x21, Buffer.concat([b, tlv])), client: canonical(s), port: sp };
  }),
  // LOCAL, any family and body: the balancer speaking for itself.
  fc.tuple(fc.integer({ min: 0, max: 255 }), tlvs).map(([fam, body]) => ({
    bytes: v2Bytes(0x20, fam, body),
    client: null,
    port: null,
  })),
);

const anyHeader = fc.oneof(v1Header, v2Header);
const junk = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));

function expectHeader(h: Header, input: Buffer): void {
  const r = parseProxyHeader(input);
  must(
    r.kind === 'header' && r.client === h.client && r.clientPort === h.port && r.consumed === h.bytes.length,
    `expected ${JSON.stringify({ client: h.client, port: h.port, consumed: h.bytes.length })}, got ${JSON.stringify(r)}`,
  );
}

/** Generated cases carry their header, so a property can check the values, not just the invariants. */
type Case = Buffer & { header?: Header };

function withHeader(bytes: Buffer, header: Header): Case {
  return Object.assign(bytes, { header });
}

export const proxyProtocolTarget: FuzzTarget<Case> = {
  name: 'proxy-protocol',
  ext: 'bin',
  encode: (b) => Buffer.from(b),
  decode: (b) => b,
  invariants,
  properties: [
    {
      name: 'random bytes',
      cases: fc
        .oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.concat([Buffer.from('PROXY '), b])),
          fc.stringMatching(/^PROXY (TCP4|TCP6|UNKNOWN) [ -~\r\n]{0,100}$/).map((s) => Buffer.from(s)),
          fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.concat([SIG, b])),
        )
        .map((b) => Buffer.from(b) as Case),
    },
    {
      name: 'generated header parses to its values, whatever follows',
      cases: fc.tuple(anyHeader, junk).map(([h, rest]) => withHeader(Buffer.concat([h.bytes, rest]), h)),
      expect: (c) => expectHeader(c.header!, c),
    },
    {
      name: 'every prefix of a generated header is incomplete',
      cases: fc.tuple(anyHeader, fc.nat()).map(([h, at]) => withHeader(h.bytes.subarray(0, at % h.bytes.length), h)),
      expect: (c) => {
        const r = parseProxyHeader(c);
        must(r.kind === 'incomplete', `prefix of ${c.length} bytes answered ${JSON.stringify(r)}`);
      },
    },
    {
      name: 'mutated headers keep the invariants',
      cases: fc
        .tuple(
          anyHeader,
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
          fc.nat(),
        )
        .map(([h, edits, cut]) => {
          const b = Buffer.from(h.bytes);
          for (const [at, v] of edits) b[at % b.length] = v;
          return b.subarray(0, b.length - (cut % 8)) as Case;
        }),
    },
  ],
};
