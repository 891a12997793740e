import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseClientHello, type ClientHelloResult } from '../../../src/proxy/client-hello.js';
import {
  alpnData,
  buildClientHello,
  captureNodeTlsHello,
  captureOpensslHello,
  clientHelloBody,
  frameRecords,
  handshakeMessage,
  hasOpenssl,
  recordOffsets,
  reframe,
  serverNameData,
  u16,
  vec8,
  vec16,
  type ClientHelloSpec,
} from '../../helpers/client-hello-capture.js';

const SNI = 'myregistry.azurecr.io';
const STATUSES: ReadonlyArray<ClientHelloResult['status']> = ['incomplete', 'not_tls', 'too_large', 'malformed', 'ok'];
const OPENSSL = hasOpenssl();

function parsed(buf: Buffer, maxBytes?: number): ClientHelloResult {
  return parseClientHello(buf, maxBytes);
}

function ok(result: ClientHelloResult): Extract<ClientHelloResult, { status: 'ok' }> {
  expect(result).toMatchObject({ status: 'ok' });
  return result as Extract<ClientHelloResult, { status: 'ok' }>;
}

const hello = buildClientHello;

// ---- real clients -----------------------------------------------------------------------------

interface RealClient {
  name: string;
  needsOpenssl: boolean;
  capture: () => Promise<Buffer>;
  sni: string | null;
  alpn: string[];
}

const REAL_CLIENTS: RealClient[] = [
  {
    name: "Node tls.connect with servername and ALPN ['h2', 'http/1.1']",
    needsOpenssl: false,
    capture: () => captureNodeTlsHello({ servername: SNI, ALPNProtocols: ['h2', 'http/1.1'] }),
    sni: SNI,
    alpn: ['h2', 'http/1.1'],
  },
  {
    name: 'openssl s_client -servername',
    needsOpenssl: true,
    capture: () => captureOpensslHello(['-servername', SNI]),
    sni: SNI,
    alpn: [],
  },
  {
    name: 'openssl s_client -noservername',
    needsOpenssl: true,
    capture: () => captureOpensslHello(['-noservername']),
    sni: null,
    alpn: [],
  },
];

const captured = new Map<string, Buffer>();

beforeAll(async () => {
  const available = REAL_CLIENTS.filter((c) => OPENSSL || !c.needsOpenssl);
  await Promise.all(available.map(async (c) => captured.set(c.name, await c.capture())));
});

function capturedHello(name: string): Buffer {
  const buf = captured.get(name);
  if (!buf) throw new Error(`no hello captured for ${name}`);
  return buf;
}

for (const client of REAL_CLIENTS) {
  const skip = client.needsOpenssl && !OPENSSL;
  const suffix = skip ? ' (skipped: openssl is not on PATH)' : '';
  const want = `sni ${client.sni ?? 'null'} and alpn [${client.alpn.join(', ')}]`;

  describe.skipIf(skip)(`real hello from ${client.name}${suffix}`, () => {
    it(`parses at once to ok with ${want}, bytes covering the whole hello`, () => {
      const buf = capturedHello(client.name);
      const result = ok(parsed(buf));
      expect(result).toEqual({
        status: 'ok',
        sni: client.sni,
        alpn: client.alpn,
        bytes: buf.length,
        version: 0x0303,
        hasEch: false,
      });
    });

    it('answers incomplete for every proper prefix (fed one byte at a time) and ok for the whole', () => {
      const buf = capturedHello(client.name);
      for (let n = 0; n < buf.length; n++) {
        const status = parsed(buf.subarray(0, n)).status;
        if (status !== 'incomplete') expect.fail(`prefix of ${n}/${buf.length} bytes answered ${status}`);
      }
      expect(ok(parsed(buf)).sni).toBe(client.sni);
    });

    it.each([[[1]], [[7]], [[100]], [[1, 7, 100]], [[3, 500]]])(
      `parses to the same ${want} when re-framed into records of %j bytes`,
      (sizes) => {
        const records = reframe(capturedHello(client.name), sizes);
        expect(recordOffsets(records).length).toBeGreaterThan(1);
        expect(parsed(records)).toMatchObject({
          status: 'ok',
          sni: client.sni,
          alpn: client.alpn,
          bytes: records.length,
        });
      },
    );

    it('answers incomplete for every proper prefix of the hello re-framed into 7-byte records', () => {
      const records = reframe(capturedHello(client.name), [7]);
      const answered: string[] = [];
      for (let n = 0; n < records.length; n++) {
        const status = parsed(records.subarray(0, n)).status;
        if (status !== 'incomplete') answered.push(`prefix of ${n}/${records.length} bytes answered ${status}`);
      }
      expect(answered).toEqual([]);
    });

    it('answers too_large when maxBytes is below the hello body length', () => {
      const buf = capturedHello(client.name);
      const bodyLength = buf.readUIntBE(6, 3);
      expect(ok(parsed(buf, bodyLength)).sni).toBe(client.sni);
      expect(parsed(buf, bodyLength - 1)).toMatchObject({ status: 'too_large' });
    });
  });
}

// ---- synthetic hellos -------------------------------------------------------------------------

const GREASE_AND_ECH: ClientHelloSpec = {
  alpn: ['h2'],
  extraExtensions: [
    { type: 0x0a0a, data: Buffer.alloc(0) },
    { type: 0xfe0d, data: Buffer.from([0x00, 0x00, 0x01, 0x00, 0x01, 0x2a]) },
    { type: 0x1a1a, data: Buffer.from([0x00]) },
  ],
};

describe('parseClientHello on well-formed hellos', () => {
  const cases: Array<{ name: string; input: Buffer; want: Partial<Extract<ClientHelloResult, { status: 'ok' }>> }> = [
    {
      name: 'returns the host name and ALPN list',
      input: hello({ alpn: ['h2', 'http/1.1'] }),
      want: { sni: SNI, alpn: ['h2', 'http/1.1'], hasEch: false },
    },
    {
      name: 'returns sni null for a hello without server_name',
      input: hello({ sni: null }),
      want: { sni: null, alpn: [] },
    },
    {
      name: 'returns sni null for an SSLv3-style hello without an extensions block',
      input: hello({ raw: { extensions: Buffer.alloc(0) } }),
      want: { sni: null, alpn: [], hasEch: false },
    },
    {
      name: 'ignores GREASE extensions and reports hasEch with the outer SNI',
      input: hello(GREASE_AND_ECH),
      want: { sni: SNI, alpn: ['h2'], hasEch: true },
    },
    {
      name: 'does not count two GREASE extensions of the same value as a duplicate',
      input: hello({
        extraExtensions: [
          { type: 0x2a2a, data: Buffer.alloc(0) },
          { type: 0x2a2a, data: Buffer.alloc(0) },
        ],
      }),
      want: { sni: SNI },
    },
    {
      name: 'skips unknown extension types',
      input: hello({ extraExtensions: [{ type: 0x4469, data: Buffer.from([1, 2, 3]) }] }),
      want: { sni: SNI },
    },
    {
      name: 'accepts an empty session id',
      input: hello({ raw: { sessionId: vec8(Buffer.alloc(0)) } }),
      want: { sni: SNI },
    },
    {
      name: 'returns the host name exactly as sent, case included',
      input: hello({ sni: 'MyRegistry.AzureCR.io' }),
      want: { sni: 'MyRegistry.AzureCR.io' },
    },
    {
      name: 'skips server_name entries of unknown name types',
      input: hello({
        sni: null,
        extraExtensions: [
          {
            type: 0,
            data: vec16(
              Buffer.concat([Buffer.from([7]), vec16(Buffer.from([0xff])), Buffer.from([0]), vec16(Buffer.from(SNI))]),
            ),
          },
        ],
      }),
      want: { sni: SNI },
    },
  ];

  it.each(cases)('$name', ({ input, want }) => {
    expect(ok(parsed(input))).toMatchObject({ ...want, bytes: input.length, version: 0x0303 });
  });

  it('counts in bytes only the records holding the hello, not the bytes that follow', () => {
    const first = hello({});
    const result = ok(parsed(Buffer.concat([first, Buffer.from([0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5])])));
    expect(result.bytes).toBe(first.length);
  });

  it('accepts a hello whose body length equals maxBytes and refuses it one byte lower', () => {
    const input = hello({});
    const bodyLength = input.readUIntBE(6, 3);
    expect(parsed(input, bodyLength).status).toBe('ok');
    expect(parsed(input, bodyLength - 1)).toMatchObject({ status: 'too_large' });
  });

  it('parses a 16 KiB+ hello spread over two full-size records', () => {
    const padding = { type: 0x0015, data: Buffer.alloc(20_000) };
    const input = hello({ extraExtensions: [padding] });
    expect(recordOffsets(input)).toHaveLength(2);
    expect(ok(parsed(input)).sni).toBe(SNI);
  });
});

describe('parseClientHello on bytes that are not TLS', () => {
  it.each([
    { name: 'plain HTTP request', input: 'GET / HTTP/1.1\r\nHost: myregistry.azurecr.io\r\n\r\n' },
    { name: 'nested CONNECT request', input: 'CONNECT myregistry.azurecr.io:443 HTTP/1.1\r\n\r\n' },
    { name: 'SSH banner', input: 'SSH-2.0-OpenSSH_9.6\r\n' },
    { name: 'SSLv2-compatible hello', input: Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]) },
    { name: 'TLS application data record', input: Buffer.from([0x17, 0x03, 0x03, 0x00, 0x10]) },
    { name: 'NUL bytes', input: Buffer.alloc(16) },
  ])('answers not_tls for $name after its first byte', ({ input }) => {
    const buf = Buffer.from(input);
    expect(parsed(buf)).toMatchObject({ status: 'not_tls', detail: expect.stringMatching(/first byte/) });
    expect(parsed(buf.subarray(0, 1)).status).toBe('not_tls');
  });

  it('answers not_tls for a handshake content type with a non-TLS record version after two bytes', () => {
    expect(parsed(Buffer.from([0x16]))).toEqual({ status: 'incomplete' });
    expect(parsed(Buffer.from([0x16, 0x02]))).toMatchObject({
      status: 'not_tls',
      detail: expect.stringMatching(/version/),
    });
  });
});

describe('parseClientHello decides as early as the bytes allow', () => {
  it.each([
    {
      name: 'malformed for record length 0 after the record header',
      input: [0x16, 0x03, 0x01, 0x00, 0x00],
      status: 'malformed',
    },
    {
      name: 'malformed for record length 2^14 + 2049 after the record header',
      input: [0x16, 0x03, 0x01, 0x48, 0x01],
      status: 'malformed',
    },
    {
      name: 'malformed for a ServerHello after the handshake type byte',
      input: [0x16, 0x03, 0x03, 0x00, 0x40, 0x02],
      status: 'malformed',
    },
    {
      name: 'too_large for body length 65537 after the handshake header',
      input: [0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x01],
      status: 'too_large',
    },
    {
      name: 'too_large for body length 2^24 - 1 after the handshake header',
      input: [0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff],
      status: 'too_large',
    },
  ])('answers $name', ({ input, status }) => {
    const buf = Buffer.from(input);
    expect(parsed(buf.subarray(0, buf.length - 1)).status).toBe('incomplete');
    expect(parsed(buf).status).toBe(status);
  });

  it('answers too_large from a handshake header split over 1-byte records', () => {
    const header = Buffer.from([0x01, 0x01, 0x00, 0x01]);
    expect(parsed(frameRecords(header, [1])).status).toBe('too_large');
  });

  it.each([
    { name: 'an empty buffer', input: Buffer.alloc(0) },
    { name: 'a record header alone', input: hello({}).subarray(0, 5) },
    { name: 'a hello missing its last byte', input: hello({}).subarray(0, -1) },
    { name: 'the first of two records of a hello', input: reframe(hello({}), [50]).subarray(0, 55) },
  ])('answers incomplete for $name', ({ input }) => {
    expect(parsed(input)).toEqual({ status: 'incomplete' });
  });
});

function withExtensions(...extensions: Array<[type: number, data: Buffer]>): ClientHelloSpec {
  return { sni: null, extraExtensions: extensions.map(([type, data]) => ({ type, data })) };
}

function secondRecordPatched(offsetInHeader: number, value: number): Buffer {
  const records = reframe(hello({}), [7]);
  const second = recordOffsets(records)[1]!;
  records[second + offsetInHeader] = value;
  return records;
}

describe('parseClientHello on broken hellos', () => {
  const suites = (...s: number[]) => vec16(Buffer.concat(s.map(u16)));
  it.each([
    {
      name: 'a ServerHello in place of a ClientHello',
      input: frameRecords(handshakeMessage(2, clientHelloBody())),
      detail: /handshake type 2/,
    },
    {
      name: 'a body shorter than version, random and session id',
      input: frameRecords(handshakeMessage(1, Buffer.alloc(20))),
      detail: /too short/,
    },
    {
      name: 'a session id longer than 32 bytes',
      input: hello({ raw: { sessionId: vec8(Buffer.alloc(33)) } }),
      detail: /session id length 33/,
    },
    {
      name: 'an odd cipher suites length',
      input: hello({ raw: { cipherSuites: Buffer.from([0x00, 0x03, 0x13, 0x01, 0x13]) } }),
      detail: /cipher suites length 3/,
    },
    {
      name: 'an empty cipher suites list',
      input: hello({ raw: { cipherSuites: suites() } }),
      detail: /cipher suites length 0/,
    },
    {
      name: 'a cipher suites length past the end',
      input: hello({ raw: { cipherSuites: u16(0x4000), compression: Buffer.alloc(0), extensions: Buffer.alloc(0) } }),
      detail: /cipher suites run past/,
    },
    {
      name: 'an empty compression methods list',
      input: hello({ raw: { compression: Buffer.from([0]) } }),
      detail: /compression methods list is empty/,
    },
    {
      name: 'a compression methods length past the end',
      input: hello({ raw: { compression: Buffer.from([9, 0]), extensions: Buffer.alloc(0) } }),
      detail: /compression methods run past/,
    },
    {
      name: 'a lone byte where the extensions length belongs',
      input: hello({ raw: { extensions: Buffer.from([0]) } }),
      detail: /extensions length runs past/,
    },
    {
      name: 'an extensions length past the end',
      input: hello({ raw: { extensions: Buffer.concat([u16(100), Buffer.alloc(4)]) } }),
      detail: /extensions length 100/,
    },
    {
      name: 'bytes after the extensions block',
      input: hello({ raw: { extensions: Buffer.concat([u16(0), Buffer.alloc(4)]) } }),
      detail: /extensions length 0/,
    },
    {
      name: 'a truncated extension header',
      input: hello({ raw: { extensions: vec16(Buffer.from([0x00, 0x17, 0x00])) } }),
      detail: /extension header/,
    },
    {
      name: 'an extension longer than the block',
      input: hello({ raw: { extensions: vec16(Buffer.concat([u16(0x17), u16(16), Buffer.alloc(4)])) } }),
      detail: /extension 23 runs past/,
    },
    {
      name: 'an extension exactly one byte longer than the block',
      input: hello({ raw: { extensions: vec16(Buffer.concat([u16(0x17), u16(5), Buffer.alloc(4)])) } }),
      detail: /extension 23 runs past/,
    },
    {
      name: 'a duplicate server_name extension',
      input: hello({ extraExtensions: [{ type: 0, data: serverNameData(['evil.example']) }] }),
      detail: /duplicate extension 0/,
    },
    {
      name: 'a duplicate ALPN extension',
      input: hello({ alpn: ['h2'], extraExtensions: [{ type: 16, data: alpnData(['http/1.1']) }] }),
      detail: /duplicate extension 16/,
    },
    {
      name: 'a duplicate unknown extension',
      input: hello(withExtensions([0x4469, Buffer.alloc(0)], [0x4469, Buffer.alloc(0)])),
      detail: /duplicate extension 17513/,
    },
    {
      name: 'a host_name with a control byte',
      input: hello(withExtensions([0, serverNameData(['myregistry\x07azurecr.io'])])),
      detail: /byte 0x07 at 10/,
    },
    {
      name: 'a host_name with a NUL byte before another name',
      input: hello(withExtensions([0, serverNameData([`${SNI}\0.evil.example`])])),
      detail: /byte 0x00/,
    },
    {
      name: 'a host_name with a space',
      input: hello(withExtensions([0, serverNameData(['my registry.azurecr.io'])])),
      detail: /byte 0x20/,
    },
    {
      name: 'a host_name with DEL',
      input: hello(withExtensions([0, serverNameData(['myregistry\x7f'])])),
      detail: /byte 0x7f/,
    },
    {
      name: 'a host_name with non-ASCII UTF-8',
      input: hello(withExtensions([0, serverNameData(['myrégistry.azurecr.io'])])),
      detail: /byte 0xc3/,
    },
    {
      name: 'an empty host_name',
      input: hello(withExtensions([0, serverNameData([''])])),
      detail: /host_name is empty/,
    },
    {
      name: 'two host_name entries',
      input: hello(withExtensions([0, serverNameData([SNI, 'evil.example'])])),
      detail: /more than one host_name/,
    },
    {
      name: 'an empty server_name extension',
      input: hello(withExtensions([0, Buffer.alloc(0)])),
      detail: /server_name extension is empty/,
    },
    {
      name: 'a server_name list length that disagrees with the extension',
      input: hello(withExtensions([0, Buffer.from([0x00, 0x10, 0x00, 0x00, 0x01, 0x61])])),
      detail: /server_name list length/,
    },
    { name: 'an empty server_name list', input: hello(withExtensions([0, u16(0)])), detail: /server_name list length/ },
    {
      name: 'a server_name list shorter than its extension',
      input: hello(withExtensions([0, Buffer.concat([serverNameData([SNI]), Buffer.from([0])])])),
      detail: /server_name list length/,
    },
    {
      name: 'a server_name entry header cut short',
      input: hello(withExtensions([0, vec16(Buffer.from([0x00, 0x00]))])),
      detail: /entry header/,
    },
    {
      name: 'a host_name length past the list',
      input: hello(withExtensions([0, vec16(Buffer.from([0x00, 0x00, 0x09, 0x61]))])),
      detail: /entry runs past/,
    },
    {
      name: 'an empty ALPN extension',
      input: hello(withExtensions([16, Buffer.alloc(0)])),
      detail: /ALPN extension is empty/,
    },
    {
      name: 'an ALPN list length that disagrees with the extension',
      input: hello(withExtensions([16, Buffer.from([0x00, 0x05, 0x02, 0x68, 0x32])])),
      detail: /ALPN list length/,
    },
    { name: 'an empty ALPN list', input: hello(withExtensions([16, u16(0)])), detail: /ALPN list length/ },
    {
      name: 'an ALPN list shorter than its extension',
      input: hello(withExtensions([16, Buffer.concat([alpnData(['h2']), Buffer.from([0])])])),
      detail: /ALPN list length/,
    },
    {
      name: 'an empty ALPN protocol name',
      input: hello(withExtensions([16, vec16(Buffer.from([0x00, 0x02, 0x68, 0x32]))])),
      detail: /ALPN protocol name is empty/,
    },
    {
      name: 'an ALPN protocol length past the list',
      input: hello(withExtensions([16, vec16(Buffer.from([0x05, 0x68, 0x32]))])),
      detail: /runs past the list/,
    },
    {
      name: 'an alert record inside a multi-record hello',
      input: secondRecordPatched(0, 0x15),
      detail: /content type 21/,
    },
    {
      name: 'a non-TLS record version inside a multi-record hello',
      input: secondRecordPatched(1, 0x02),
      detail: /version major byte 0x02/,
    },
    {
      name: 'a zero-length record inside a multi-record hello',
      input: Buffer.concat([reframe(hello({}), [7]).subarray(0, 12), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])]),
      detail: /record 1 has record length 0/,
    },
  ])('answers malformed for $name', ({ input, detail }) => {
    expect(parsed(input)).toMatchObject({ status: 'malformed', detail: expect.stringMatching(detail) });
  });
});

// ---- properties -------------------------------------------------------------------------------

function isKnownAnswer(result: ClientHelloResult, buf: Buffer): boolean {
  if (!STATUSES.includes(result.status)) return false;
  if (result.status !== 'ok') return true;
  return result.bytes <= buf.length && (result.sni === null || /^[\x21-\x7e]+$/.test(result.sni));
}

// Bytes that pass the record and handshake headers, so the body parser sees random input.
const tlsFramedNoise = fc.uint8Array({ maxLength: 400 }).map((body) => frameRecords(handshakeMessage(1, body)));

describe('parseClientHello properties', () => {
  const valid = hello(GREASE_AND_ECH);

  it('never throws and answers a known status for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), tlsFramedNoise), (bytes) => {
        const buf = Buffer.from(bytes);
        expect(isKnownAnswer(parseClientHello(buf), buf)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws and answers a known status for a valid hello with random byte changes and a cut', () => {
    const mutation = fc.record({
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      cut: fc.nat(),
      sizes: fc.constantFrom([16384], [7], [1, 64]),
    });
    fc.assert(
      fc.property(mutation, ({ edits, cut, sizes }) => {
        const buf = Buffer.from(reframe(valid, sizes));
        for (const [at, value] of edits) buf[at % buf.length] = value;
        const input = buf.subarray(0, buf.length - (cut % 16));
        expect(isKnownAnswer(parseClientHello(input), input)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps every definite answer once more bytes arrive', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), tlsFramedNoise), fc.nat(), (bytes, at) => {
        const buf = Buffer.from(bytes);
        const early = parseClientHello(buf.subarray(0, at % (buf.length + 1)));
        if (early.status !== 'incomplete') expect(parseClientHello(buf)).toEqual(early);
      }),
      { numRuns: 1000 },
    );
  });

  it('parses the same sni, alpn and ECH flag for any split of a hello into records, incomplete for any prefix', () => {
    const sizes = fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 10 });
    fc.assert(
      fc.property(sizes, fc.nat(), (recordSizes, at) => {
        const records = reframe(valid, recordSizes);
        expect(parseClientHello(records)).toEqual({
          status: 'ok',
          sni: SNI,
          alpn: ['h2'],
          bytes: records.length,
          version: 0x0303,
          hasEch: true,
        });
        expect(parseClientHello(records.subarray(0, at % records.length)).status).toBe('incomplete');
      }),
      { numRuns: 1000 },
    );
  });
});
