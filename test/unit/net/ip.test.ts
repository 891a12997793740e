import { isIPv4 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BARE_IP,
  formatIp,
  formatV4,
  formatV6,
  isV4Mapped,
  readIp,
  readIpSpan,
  readPrefixLength,
  V4_WORD,
  wordMask,
  type IpTextOptions,
} from '../../../src/net/ip.js';

const UNMAP: IpTextOptions = { brackets: false, zone: false, unmap: true };
const BRACKETS: IpTextOptions = { brackets: true, zone: false, unmap: false };
const ZONE: IpTextOptions = { brackets: false, zone: true, unmap: false };
const ALL: IpTextOptions = { brackets: true, zone: true, unmap: true };

/** The words readIp wrote, or null; out starts as a marker so partial writes would show. */
function read(text: string, options: IpTextOptions = BARE_IP): { family: number; words: number[] } | null {
  const out = Uint32Array.of(7, 7, 7, 7);
  const family = readIp(text, out, options);
  if (family === 0) {
    expect([...out]).toEqual([7, 7, 7, 7]);
    return null;
  }
  return { family, words: [...out] };
}

const v4 = (n: number) => [0, 0, 0xffff, n >>> 0];

describe('readIp accepts the strict text forms', () => {
  const valid: ReadonlyArray<readonly [text: string, family: 4 | 6, words: number[], what: string]> = [
    ['0.0.0.0', 4, v4(0), 'the lowest IPv4 address'],
    ['255.255.255.255', 4, v4(0xffffffff), 'the highest IPv4 address'],
    ['1.2.3.4', 4, v4(0x01020304), 'a dotted quad, kept at ::ffff:0:0/96'],
    ['10.0.0.0', 4, v4(0x0a000000), 'a lone zero octet'],
    ['::', 6, [0, 0, 0, 0], 'the unspecified address'],
    ['::1', 6, [0, 0, 0, 1], 'loopback'],
    ['1::', 6, [0x00010000, 0, 0, 0], ':: at the end'],
    [
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      6,
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      'the highest IPv6 address',
    ],
    ['2001:DB8::1', 6, [0x20010db8, 0, 0, 1], 'upper-case hex'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 6, [0x20010db8, 0, 0, 1], 'four-digit groups with leading zeros'],
    ['1:2:3:4:5:6:7::', 6, [0x00010002, 0x00030004, 0x00050006, 0x00070000], ':: standing for one trailing group'],
    ['::2:3:4:5:6:7:8', 6, [0x00000002, 0x00030004, 0x00050006, 0x00070008], ':: standing for one leading group'],
    ['1:2:3::6:7:8', 6, [0x00010002, 0x00030000, 0x00000006, 0x00070008], ':: in the middle'],
    ['::1.2.3.4', 6, [0, 0, 0, 0x01020304], 'an IPv4-compatible address with an IPv4 tail'],
    ['64:ff9b::1.2.3.4', 6, [0x0064ff9b, 0, 0, 0x01020304], 'a NAT64 address with an IPv4 tail'],
    ['1:2:3:4:5:6:1.2.3.4', 6, [0x00010002, 0x00030004, 0x00050006, 0x01020304], 'six groups and an IPv4 tail'],
    ['::ffff:1.2.3.4', 6, v4(0x01020304), 'an IPv4-mapped address, IPv6 unless unmapped'],
    ['0000:0000:0000:0000:0000:ffff:255.255.255.255', 6, v4(0xffffffff), 'the longest text form (45 characters)'],
  ];
  it.each(
    valid.map(
      ([text, family, words, what]) => [`reads ${text} as IPv${family} (${what})`, text, family, words] as const,
    ),
  )('%s', (_name, text, family, words) => {
    expect(read(text)).toEqual({ family, words });
  });
});

describe('readIp refuses everything else, whatever the options', () => {
  const invalid: ReadonlyArray<readonly [text: string, why: string]> = [
    ['', 'empty'],
    ['localhost', 'a name'],
    ['1.2.3', 'three parts'],
    ['1.2.3.4.5', 'five parts'],
    ['256.0.0.0', 'a part over 255'],
    ['1.2.3.1000', 'a four-digit part'],
    ['010.0.0.1', 'a leading zero (octal or decimal?)'],
    ['1.2.3.04', 'a leading zero in the last part'],
    ['0x7f.0.0.1', 'a hex part'],
    ['127.1', 'the short form'],
    ['2130706433', 'an integer'],
    ['1..2.3', 'an empty part'],
    ['.1.2.3', 'a leading dot'],
    ['1.2.3.4.', 'a trailing dot'],
    [' 1.2.3.4', 'a leading space'],
    ['1.2.3.4 ', 'a trailing space'],
    ['1.2.3.4/32', 'a prefix length'],
    ['1:2:3:4:5:6:7:8:9', 'nine groups'],
    ['1:2:3:4:5:6:7', 'seven groups without ::'],
    ['1:2:3:4:5:6:7:8::', 'eight groups and ::'],
    ['1:2:3:4::5:6:7:8', ':: standing for no group'],
    ['1::2::3', 'two ::'],
    [':', 'a lone colon'],
    [':::', 'three colons'],
    ['1:', 'a trailing single colon'],
    [':1', 'a leading single colon'],
    ['12345::', 'a five-digit group'],
    ['g::', 'a non-hex group'],
    ['::ffff:1.2.3', 'a short IPv4 tail'],
    ['::ffff:1.2.3.256', 'an IPv4 tail with a part over 255'],
    ['::ffff:01.2.3.4', 'an IPv4 tail with a leading zero'],
    ['1:2:3:4:5:6:7:1.2.3.4', 'seven groups and an IPv4 tail'],
    ['1.2.3.4::', 'IPv4 before ::'],
    ['::1.2.3.4:5', 'a group after the IPv4 tail'],
    ['[1.2.3.4]', 'a bracketed IPv4'],
    ['1.2.3.4%eth0', 'a zone on IPv4'],
    ['[::1', 'an unclosed bracket'],
    ['::1]', 'an unopened bracket'],
    ['[]', 'empty brackets'],
    ['fe80::1%', 'an empty zone'],
    ['[fe80::1]%eth0', 'a zone outside the brackets'],
  ];
  const optionSets = { bare: BARE_IP, unmap: UNMAP, brackets: BRACKETS, zone: ZONE, all: ALL };
  it.each(invalid.map(([text, why]) => [`refuses ${JSON.stringify(text)} (${why})`, text] as const))(
    '%s',
    (_name, text) => {
      for (const options of Object.values(optionSets)) expect(read(text, options)).toBeNull();
    },
  );

  it('returns 0 for non-strings instead of throwing', () => {
    for (const junk of [undefined, null, 42, {}, ['1.2.3.4']])
      expect(readIp(junk as string, new Uint32Array(4))).toBe(0);
  });
});

describe('readIp options decide brackets, zones and mapped addresses', () => {
  const cases: ReadonlyArray<readonly [text: string, options: keyof typeof named, family: 0 | 4 | 6, what: string]> = [
    ['[::1]', 'bare', 0, 'brackets are refused by default'],
    ['[::1]', 'brackets', 6, 'brackets are dropped when accepted'],
    ['fe80::1%eth0', 'bare', 0, 'a zone is refused by default'],
    ['fe80::1%eth0', 'brackets', 0, 'accepting brackets does not accept a zone'],
    ['fe80::1%eth0', 'zone', 6, 'a zone is dropped when accepted'],
    ['fe80::1%25eth0', 'zone', 6, 'the URI form of a zone'],
    ['[fe80::1%25eth0]', 'all', 6, 'a zone inside brackets'],
    ['[fe80::1%eth0]', 'zone', 0, 'accepting a zone does not accept brackets'],
    ['::ffff:1.2.3.4', 'bare', 6, 'a mapped address stays IPv6 by default'],
    ['::ffff:1.2.3.4', 'unmap', 4, 'a mapped address is IPv4 when unmapped'],
    ['::FFFF:0102:0304', 'unmap', 4, 'a mapped address in hex is IPv4 when unmapped'],
    ['[::ffff:10.0.0.1]', 'all', 4, 'a bracketed mapped address is IPv4 when unmapped'],
    ['::fffe:1.2.3.4', 'unmap', 6, 'only ::ffff:0:0/96 is mapped'],
    ['::1.2.3.4', 'unmap', 6, 'an IPv4-compatible address stays IPv6'],
  ];
  const named = { bare: BARE_IP, unmap: UNMAP, brackets: BRACKETS, zone: ZONE, all: ALL };
  it.each(
    cases.map(
      ([text, options, family, what]) =>
        [`${what}: ${text} with ${options} -> ${family}`, text, options, family] as const,
    ),
  )('%s', (_name, text, options, family) => {
    expect(read(text, named[options])?.family ?? 0).toBe(family);
  });

  it('writes the same words whether or not brackets and a zone were around the address', () => {
    expect(read('[fe80::1%25eth0]', ALL)).toEqual(read('fe80::1'));
  });

  it('writes a mapped address the same as the IPv4 address it carries', () => {
    expect(read('::ffff:10.0.0.1', UNMAP)).toEqual(read('10.0.0.1'));
  });
});

describe('readIpSpan', () => {
  const spans: ReadonlyArray<[text: string, from: number, to: number, family: number, what: string]> = [
    ['10.0.0.1/8', 0, 8, 4, 'reads the address before a prefix length'],
    ['x2001:db8::/32', 1, 11, 6, 'reads an address inside other text'],
    ['10.0.0.1/8', 0, 10, 0, 'refuses a span that takes in the prefix length'],
    ['10.0.0.1', 0, 7, 0, 'refuses a span that cuts the last part off'],
    ['[::1]/128', 0, 5, 6, 'drops brackets at the ends of the span'],
  ];
  it.each(spans)('%s [%i, %i) -> %i (%s)', (text, from, to, family) => {
    expect(readIpSpan(text, from, to, new Uint32Array(4), BRACKETS)).toBe(family);
  });
});

describe('isV4Mapped', () => {
  const cases: ReadonlyArray<[words: number[], offset: number, mapped: boolean, what: string]> = [
    [[0, 0, 0xffff, 0x01020304], 0, true, '::ffff:1.2.3.4'],
    [[0, 0, 0xffff, 0], 0, true, '::ffff:0.0.0.0'],
    [[0, 0, 0, 0x01020304], 0, false, 'IPv4-compatible ::1.2.3.4'],
    [[0, 1, 0xffff, 0], 0, false, 'a nonzero word 1'],
    [[0, 0, 0xfffe, 0], 0, false, '::fffe:0:0'],
    [[9, 0, 0, 0xffff, 5], 1, true, 'words read from an offset'],
  ];
  it.each(cases)('%j at %i -> %s (%s)', (words, offset, expected) => {
    expect(isV4Mapped(words, offset)).toBe(expected);
  });
});

describe('readPrefixLength', () => {
  it.each([
    ['0', 0],
    ['8', 8],
    ['32', 32],
    ['128', 128],
    ['999', 999], // the caller refuses what is over its family's maximum
    ['', -1],
    ['08', -1],
    ['00', -1],
    ['1234', -1],
    ['-1', -1],
    ['+8', -1],
    ['1a', -1],
    [' 8', -1],
  ] as const)('%j -> %i', (text, expected) => {
    expect(readPrefixLength(text, 0)).toBe(expected);
  });

  it('reads only text[from, to)', () => {
    expect(readPrefixLength('10.0.0.0/24', 9)).toBe(24);
    expect(readPrefixLength('/24/', 1, 3)).toBe(24);
  });
});

describe('wordMask', () => {
  it.each([
    [-5, 0],
    [0, 0],
    [1, 0x80000000],
    [8, 0xff000000],
    [31, 0xfffffffe],
    [32, 0xffffffff],
    [40, 0xffffffff],
  ] as const)('of %i bits is %i', (bits, mask) => {
    expect(wordMask(bits)).toBe(mask);
  });
});

describe('formatting (RFC 5952)', () => {
  const texts: ReadonlyArray<[words: number[], text: string, what: string]> = [
    [[0, 0, 0, 0], '::', 'all zeros'],
    [[0, 0, 0, 1], '::1', 'a leading run'],
    [[0x00010000, 0, 0, 0], '1::', 'a trailing run'],
    [[0x20010db8, 0, 0, 1], '2001:db8::1', 'no leading zeros in a group'],
    [[0x20010db8, 0, 0x00010000, 1], '2001:db8::1:0:0:1', 'the first of two equal runs'],
    [[0x20010000, 0x00000001, 0, 1], '2001:0:0:1::1', 'the longest run, not the first'],
    [[0x20010db8, 0x00000001, 0x00010001, 0x00010001], '2001:db8:0:1:1:1:1:1', 'a single zero group is not shortened'],
    [[0xabcdef00, 0, 0, 0xffff], 'abcd:ef00::ffff', 'lower-case hex'],
    [[0, 0, 0xffff, 0x01020304], '::ffff:102:304', 'an IPv4-mapped address in hex, as URLs write it'],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'no zeros'],
  ];
  it.each(texts)('%j -> %s (%s)', (words, text) => {
    expect(formatV6(words)).toBe(text);
  });

  it('formats the 4 words at an offset', () => {
    expect(formatV6([1, 2, 0x20010db8, 0, 0, 1], 2)).toBe('2001:db8::1');
  });

  it.each([
    [0, '0.0.0.0'],
    [0x7f000001, '127.0.0.1'],
    [0xffffffff, '255.255.255.255'],
  ] as const)('writes %i as %s', (n, text) => {
    expect(formatV4(n)).toBe(text);
  });

  it('writes what readIp read in its family', () => {
    const out = new Uint32Array(4);
    expect(formatIp(out, readIp('::ffff:10.0.0.1', out, UNMAP) as 4)).toBe('10.0.0.1');
    expect(formatIp(out, readIp('::ffff:10.0.0.1', out) as 6)).toBe('::ffff:a00:1');
    expect(formatIp(out, readIp('2001:0DB8::0001', out) as 6)).toBe('2001:db8::1');
  });
});

describe('round trips', () => {
  // Zero-heavy words so runs of zero groups, and so "::", are common.
  const word = fc.oneof(
    fc.constant(0),
    fc.constant(0xffff),
    fc.constant(0xffff0000),
    fc.integer({ min: 0, max: 0xffff }),
    fc.integer({ min: 0, max: 0xffffffff }),
  );
  const words128 = fc.array(word, { minLength: 4, maxLength: 4 });

  it('reads back every 128-bit value it writes, and writes what it read', () => {
    fc.assert(
      fc.property(words128, (words) => {
        const text = formatV6(words);
        const out = new Uint32Array(4);
        expect(readIp(text, out)).toBe(6);
        expect([...out]).toEqual(words);
        expect(formatV6(out)).toBe(text);
        expect(readIp(text, out, UNMAP)).toBe(isV4Mapped(words) ? 4 : 6);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads every other spelling of a 128-bit value to the same words', () => {
    fc.assert(
      fc.property(words128, fc.boolean(), (words, upper) => {
        const groups = words.flatMap((w) => [w >>> 16, w & 0xffff]).map((g) => g.toString(16).padStart(4, '0'));
        const padded = groups.join(':');
        const out = new Uint32Array(4);
        expect(readIp(upper ? padded.toUpperCase() : padded, out)).toBe(6);
        expect([...out]).toEqual(words);
        const dotted = `${groups.slice(0, 6).join(':')}:${formatV4(words[3]!)}`;
        expect(readIp(dotted, out)).toBe(6);
        expect([...out]).toEqual(words);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back every 32-bit value it writes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const out = new Uint32Array(4);
        expect(readIp(formatV4(n), out)).toBe(4);
        expect([...out]).toEqual(v4(n));
        expect(out[V4_WORD]).toBe(n);
        expect(formatIp(out, 4)).toBe(formatV4(n));
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts exactly the dotted quads node:net accepts', () => {
    const text = fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9', '.', '.', '25', '00'), maxLength: 18 });
    fc.assert(
      fc.property(text, (raw) => {
        expect(readIp(raw, new Uint32Array(4)) === 4).toBe(isIPv4(raw));
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts exactly the IPv6 text a WHATWG URL parser accepts, and writes it as the URL does', () => {
    const text = fc.string({
      unit: fc.constantFrom('0', '1', 'f', 'F', 'g', ':', ':', ':', '.', '2', '5', '00', 'ffff'),
      maxLength: 32,
    });
    fc.assert(
      fc.property(text, (raw) => {
        let url: string | null = null;
        try {
          url = new URL(`http://[${raw}]/`).hostname.slice(1, -1);
        } catch {
          // not IPv6 to the URL parser
        }
        const out = new Uint32Array(4);
        const family = raw.includes(':') ? readIp(raw, out) : 0;
        expect(family === 6 ? formatV6(out) : null).toBe(url);
      }),
      { numRuns: 3000 },
    );
  });
});
