// Fuzz target: the PROXY protocol v1/v2 parser. Random and mutated bytes keep the invariants;
// generated headers parse to their own values, and every prefix of one is incomplete.
import fc from 'fast-check';
import { parseIp } from '../../src/net/address.js';
import { formatIp, readIp, V4_WORD } from '../../src/net/ip.js';
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
export interface Header {
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

/** A v1 field and whether the spec allows it there. */
interface Field {
  text: string;
  ok: boolean;
}
const good = (text: string): Field => ({ text, ok: true });
const bad = (...texts: string[]): fc.Arbitrary<Field> => fc.constantFrom(...texts).map((text) => ({ text, ok: false }));

const v4Field = fc.oneof(
  { weight: 4, arbitrary: v4.map((w) => good(formatIp(w, 4))) },
  bad('01.2.3.4', '1.2.3', '256.1.1.1', '1.2.3.4.', '::1', '0x1.2.3.4', '', '1.2.3.04', '1.2.3.4/8', '１.2.3.4'),
);
const v6Field = fc.oneof(
  { weight: 4, arbitrary: v6Text.map((t) => good(t.text)) },
  bad('1.2.3.4', '::1%lo', '[::1]', ':::', '1::2::3', 'fe80::1/64', '12345::', 'g::1', ''),
);
const portField = fc.oneof(
  { weight: 4, arbitrary: port.map((p) => good(String(p))) },
  bad('0', '00', '01', '065535', '65536', '99999', '+1', '-1', '1e3', '0x10', '', '123456'),
);
const separator = fc.oneof({ weight: 8, arbitrary: fc.constant(good(' ')) }, bad('  ', '\t', ''));

/** A v1 line built field by field, valid or not, with the answer the spec gives for it. */
const v1Fields = fc
  .tuple(
    fc.boolean(),
    v4Field,
    v4Field,
    v6Field,
    v6Field,
    portField,
    portField,
    fc.array(separator, { minLength: 5, maxLength: 5 }),
  )
  .map(([six, s4, d4, s6, d6, sp, dp, seps]) => {
    const [src, dst] = six ? [s6, d6] : [s4, d4];
    const parts = [good(six ? 'TCP6' : 'TCP4'), src, dst, sp, dp];
    let line = 'PROXY';
    for (let i = 0; i < 5; i++) line += seps[i]!.text + parts[i]!.text;
    const bytes = Buffer.from(`${line}\r\n`);
    const ok = [...parts, ...seps].every((f) => f.ok) && bytes.length <= MAX_V1_LENGTH;
    const words = new Uint32Array(4);
    const client = ok && readIp(src.text, words) !== 0 ? canonical(words) : null;
    return { bytes, ok, client, port: ok ? Number(sp.text) : null };
  });

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

/**
 * A v2 header from fields chosen near the edges (version, command, family, transport, a block one
 * byte short, ports of 0), with the answer the spec gives for it.
 */
const v2Fields = fc
  .record({
    version: fc.constantFrom(2, 2, 2, 1, 3),
    command: fc.constantFrom(1, 1, 1, 0, 2, 15),
    family: fc.constantFrom(1, 2, 1, 2, 0, 3, 4),
    transport: fc.constantFrom(1, 1, 1, 0, 2),
    src: v6,
    sp: fc.oneof({ weight: 5, arbitrary: port }, fc.constant(0)),
    dp: fc.oneof({ weight: 5, arbitrary: port }, fc.constant(0)),
    short: fc.boolean(),
    tlv: fc.oneof({ weight: 5, arbitrary: tlvs }, fc.constant(Buffer.alloc(0))),
  })
  .map((f) => {
    const size = f.family === 1 ? 12 : f.family === 2 ? 36 : f.family === 3 ? 216 : 0;
    const block = Buffer.alloc(size);
    const words = f.family === 1 ? Uint32Array.of(0, 0, 0xffff, f.src[3]!) : f.src;
    if (f.family === 1) block.writeUInt32BE(f.src[3]!, 0);
    if (f.family === 2) for (let k = 0; k < 4; k++) block.writeUInt32BE(f.src[k]!, 4 * k);
    if (size === 12 || size === 36) {
      block.writeUInt16BE(f.sp, size - 4);
      block.writeUInt16BE(f.dp, size - 2);
    }
    const cut = f.short && size > 0 && f.tlv.length === 0;
    const body = Buffer.concat([cut ? block.subarray(0, size - 1) : block, f.tlv]);
    const bytes = v2Bytes((f.version << 4) | f.command, (f.family << 4) | f.transport, body);
    const headerOk = f.version === 2 && (f.command === 0 || f.command === 1);
    const local = f.command === 0 || f.family === 0;
    const proxied = f.transport === 1 && (f.family === 1 || f.family === 2) && !cut && f.sp !== 0 && f.dp !== 0;
    const ok = headerOk && (local || proxied);
    return { bytes, ok, client: ok && !local ? canonical(words) : null, port: ok && !local ? f.sp : null };
  });

/** Every field-built header gets the spec's answer: header with its values, or invalid. */
function expectVerdict(c: { bytes: Buffer; ok: boolean; client: string | null; port: number | null }): void {
  const r = parseProxyHeader(c.bytes);
  const want = c.ok
    ? { kind: 'header', client: c.client, clientPort: c.port, consumed: c.bytes.length }
    : { kind: 'invalid' };
  const got = r.kind === 'invalid' ? { kind: 'invalid' } : r;
  must(
    JSON.stringify(got) === JSON.stringify(want),
    `${JSON.stringify(c.bytes.toString('latin1'))}: expected ${JSON.stringify(want)}, got ${JSON.stringify(r)}`,
  );
}

export const anyHeader = fc.oneof(v1Header, v2Header);
const junk = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));

function expectHeader(h: Header, input: Buffer): void {
  const r = parseProxyHeader(input);
  must(
    r.kind === 'header' && r.client === h.client && r.clientPort === h.port && r.consumed === h.bytes.length,
    `expected ${JSON.stringify({ client: h.client, port: h.port, consumed: h.bytes.length })}, got ${JSON.stringify(r)}`,
  );
}

/** Generated cases carry their header, so a property can check the values, not just the invariants. */
/** The bytes fed to the parser; generated cases also carry what they should parse to. */
interface Case {
  bytes: Buffer;
  header?: Header;
  verdict?: { bytes: Buffer; ok: boolean; client: string | null; port: number | null };
}

const bytesOnly = (b: Uint8Array): Case => ({ bytes: Buffer.from(b) });

export const proxyProtocolTarget: FuzzTarget<Case> = {
  name: 'proxy-protocol',
  ext: 'bin',
  encode: (c) => Buffer.from(c.bytes),
  decode: (bytes) => ({ bytes }),
  invariants: (c) => invariants(c.bytes),
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
        .map(bytesOnly),
    },
    {
      name: 'generated header parses to its values, whatever follows',
      cases: fc.tuple(anyHeader, junk).map(([h, rest]): Case => ({ bytes: Buffer.concat([h.bytes, rest]), header: h })),
      expect: (c) => expectHeader(c.header!, c.bytes),
    },
    {
      name: 'headers built field by field near the edges get the spec answer',
      cases: fc.oneof(v1Fields, v2Fields).map((v): Case => ({ bytes: v.bytes, verdict: v })),
      expect: (c) => expectVerdict(c.verdict!),
    },
    {
      name: 'every prefix of a generated header is incomplete',
      cases: fc
        .tuple(anyHeader, fc.nat())
        .map(([h, at]): Case => ({ bytes: h.bytes.subarray(0, at % h.bytes.length), header: h })),
      expect: (c) => {
        const r = parseProxyHeader(c.bytes);
        must(r.kind === 'incomplete', `prefix of ${c.bytes.length} bytes answered ${JSON.stringify(r)}`);
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
          return bytesOnly(b.subarray(0, b.length - (cut % 8)));
        }),
    },
  ],
};
