// Fuzz target: the TLS ClientHello parser. Random, framed and mutated bytes keep the invariants;
// generated hellos, split into any records, give back their SNI and ALPN.
import fc from 'fast-check';
import { parseClientHello, type ClientHelloResult } from '../../src/proxy/client-hello.js';
import { buildClientHello, frameRecords, handshakeMessage, reframe } from '../../test/helpers/client-hello-capture.js';
import { must, type FuzzTarget } from '../lib.js';

const STATUSES = new Set(['incomplete', 'not_tls', 'too_large', 'malformed', 'ok']);
// The parser's catch-all: reaching it means a read was not bounds-checked.
const PARSER_ERROR = 'parser error';

function invariants(buf: Buffer): void {
  const r = parseClientHello(buf);
  must(STATUSES.has(r.status), `unknown status ${String(r.status)}`);
  if (r.status === 'ok') {
    must(r.bytes <= buf.length, `bytes ${r.bytes} > ${buf.length}`);
    must(r.sni === null || /^[\x21-\x7e]{1,65535}$/.test(r.sni), 'sni is not printable ASCII');
    must(r.alpn.length <= buf.length / 2, `${r.alpn.length} ALPN names from ${buf.length} bytes`);
  } else if (r.status !== 'incomplete') {
    must(!r.detail.startsWith(PARSER_ERROR), `the parser threw: ${r.detail}`);
    must(r.detail.length > 0 && r.detail.length <= 200, 'detail is not a short text');
  }
  if (r.status !== 'incomplete') {
    const more = parseClientHello(Buffer.concat([buf, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x01, 0x01])]));
    must(JSON.stringify(more) === JSON.stringify(r), `a definite ${r.status} changed when more bytes arrived`);
  }
}

interface Spec {
  sni: string | null;
  alpn: string[];
  extra: { type: number; data: Uint8Array }[];
  sizes: number[];
}

const host = fc.stringMatching(/^[!-~]{1,120}$/);
const alpnName = fc.stringMatching(/^[!-~]{1,30}$/);
// Types the parser reads (0 SNI, 16 ALPN, 0xfe0d ECH) are left out: the generated value is known.
const extraType = fc
  .integer({ min: 1, max: 0xffff })
  .filter((t) => t !== 0x10 && t !== 0xfe0d && t !== 0x0a && t !== 0x0d && t !== 0x2b && t !== 0x33);

const spec: fc.Arbitrary<Spec> = fc.record({
  sni: fc.option(host, { nil: null }),
  alpn: fc.array(alpnName, { maxLength: 5 }),
  extra: fc.uniqueArray(fc.record({ type: extraType, data: fc.uint8Array({ maxLength: 60 }) }), {
    selector: (e) => e.type,
    maxLength: 6,
  }),
  sizes: fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 6 }),
});

function build(s: Spec): Buffer {
  return reframe(buildClientHello({ sni: s.sni, alpn: s.alpn, extraExtensions: s.extra }), s.sizes);
}

/** The bytes fed to the parser; generated cases also carry the spec they were built from. */
interface Case {
  bytes: Buffer;
  spec?: Spec;
}

const bytesOnly = (b: Uint8Array): Case => ({ bytes: Buffer.from(b) });

function expectHello(s: Spec, r: ClientHelloResult, length: number): void {
  const want = { status: 'ok', sni: s.sni, alpn: s.alpn, bytes: length, version: 0x0303, hasEch: false };
  must(JSON.stringify(r) === JSON.stringify(want), `expected ${JSON.stringify(want)}, got ${JSON.stringify(r)}`);
}

export const clientHelloTarget: FuzzTarget<Case> = {
  name: 'client-hello',
  ext: 'bin',
  encode: (c) => Buffer.from(c.bytes),
  decode: (bytes) => ({ bytes }),
  invariants: (c) => invariants(c.bytes),
  properties: [
    {
      name: 'random and TLS-framed bytes',
      cases: fc
        .oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.uint8Array({ maxLength: 500 }).map((body) => frameRecords(handshakeMessage(1, body))),
          fc
            .tuple(
              fc.uint8Array({ maxLength: 500 }),
              fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 4 }),
            )
            .map(([body, sizes]) => frameRecords(handshakeMessage(1, body), sizes)),
        )
        .map(bytesOnly),
    },
    {
      name: 'generated hello gives back its SNI and ALPN in any record split',
      cases: spec.map((s): Case => ({ bytes: build(s), spec: s })),
      expect: (c) => expectHello(c.spec!, parseClientHello(c.bytes), c.bytes.length),
    },
    {
      name: 'every prefix of a generated hello is incomplete',
      cases: fc.tuple(spec, fc.nat()).map(([s, at]) => {
        const b = build(s);
        return { bytes: b.subarray(0, at % b.length), spec: s };
      }),
      expect: (c) => {
        const r = parseClientHello(c.bytes);
        must(r.status === 'incomplete', `prefix of ${c.bytes.length} bytes answered ${JSON.stringify(r)}`);
      },
    },
    {
      name: 'mutated hellos keep the invariants',
      cases: fc
        .tuple(
          spec,
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
          fc.nat(),
        )
        .map(([s, edits, cut]) => {
          const b = Buffer.from(build(s));
          for (const [at, v] of edits) b[at % b.length] = v;
          return bytesOnly(b.subarray(0, b.length - (cut % 16)));
        }),
    },
  ],
};
