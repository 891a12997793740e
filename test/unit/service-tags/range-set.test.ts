import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { isAcrEgressError } from '../../../src/errors.js';
import { formatV6, parseAddress, parsePrefix, RangeSet } from '../../../src/service-tags/range-set.js';

describe('RangeSet.has at prefix boundaries', () => {
  const set = RangeSet.fromPrefixes([
    '10.0.0.0/24',
    '192.168.1.128/25',
    '8.8.8.8/32',
    '2603:1030:210::/47',
    '2001:db8::7/128',
  ]);
  it.each([
    ['10.0.0.0', true, 'first address of 10.0.0.0/24'],
    ['10.0.0.255', true, 'last address of 10.0.0.0/24'],
    ['9.255.255.255', false, 'one before 10.0.0.0/24'],
    ['10.0.1.0', false, 'one after 10.0.0.0/24'],
    ['192.168.1.127', false, 'one before 192.168.1.128/25'],
    ['192.168.1.128', true, 'first address of 192.168.1.128/25'],
    ['192.168.1.255', true, 'last address of 192.168.1.128/25'],
    ['192.168.2.0', false, 'one after 192.168.1.128/25'],
    ['8.8.8.8', true, 'the only address of a /32'],
    ['8.8.8.7', false, 'one before a /32'],
    ['8.8.8.9', false, 'one after a /32'],
    ['2603:1030:210::', true, 'first address of 2603:1030:210::/47'],
    ['2603:1030:211:ffff:ffff:ffff:ffff:ffff', true, 'last address of 2603:1030:210::/47'],
    ['2603:1030:20f:ffff:ffff:ffff:ffff:ffff', false, 'one before 2603:1030:210::/47'],
    ['2603:1030:212::', false, 'one after 2603:1030:210::/47'],
    ['2603:1030:0210:0000:0000:0000:0000:0001', true, 'a fully written IPv6 address'],
    ['2603:1030:210::ABCD', true, 'upper-case hex'],
    ['2001:db8::7', true, 'the only address of a /128'],
    ['2001:db8::6', false, 'one before a /128'],
    ['2001:db8::8', false, 'one after a /128'],
    ['::ffff:10.0.0.1', true, 'IPv4-mapped IPv6 looked up as IPv4'],
    ['::ffff:a00:1', true, 'IPv4-mapped IPv6 in hex looked up as IPv4'],
    ['::FFFF:10.0.0.1', true, 'IPv4-mapped IPv6 with upper-case ffff'],
    ['::ffff:10.0.1.0', false, 'IPv4-mapped address outside the IPv4 ranges'],
    ['::10.0.0.1', false, 'IPv4-compatible (not mapped) address stays IPv6'],
  ])('%s -> %s (%s)', (ip, expected) => {
    expect(set.has(ip)).toBe(expected);
  });
});

describe('RangeSet.has with /0', () => {
  const v4all = RangeSet.fromPrefixes(['0.0.0.0/0']);
  const v6all = RangeSet.fromPrefixes(['::/0']);
  it.each([
    [v4all, '0.0.0.0', true, '0.0.0.0/0 contains the lowest IPv4 address'],
    [v4all, '255.255.255.255', true, '0.0.0.0/0 contains the highest IPv4 address'],
    [v4all, '::1', false, '0.0.0.0/0 contains no IPv6 address'],
    [v6all, '::', true, '::/0 contains the lowest IPv6 address'],
    [v6all, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true, '::/0 contains the highest IPv6 address'],
    [v6all, '1.2.3.4', false, '::/0 contains no IPv4 address'],
    [v6all, '::ffff:1.2.3.4', false, '::/0 does not contain an IPv4-mapped address: it is looked up as IPv4'],
  ] as Array<[RangeSet, string, boolean, string]>)('%#: %s', (set, ip, expected) => {
    expect(set.has(ip)).toBe(expected);
  });
});

describe('RangeSet.has refuses what is not an address', () => {
  const everything = RangeSet.fromPrefixes(['0.0.0.0/0', '::/0']);
  it.each([
    '',
    '10.0.0',
    '10.0.0.0.1',
    '10.0.0.256',
    '010.0.0.1',
    '10.0.0.1/32',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '10..0.1',
    '0x0a.0.0.1',
    '[::1]',
    'fe80::1%eth0',
    ':',
    ':::',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7::8',
    '1::2::3',
    ':1::',
    '1:',
    'gggg::',
    '12345::',
    '::ffff:1.2.3',
    '::ffff:1.2.3.256',
    '1:2:3:4:5:6:7:1.2.3.4',
    'example.com',
  ])('returns false for %j', (ip) => {
    expect(everything.has(ip)).toBe(false);
  });

  it('returns false for non-strings instead of throwing', () => {
    for (const junk of [undefined, null, 42, {}, ['1.2.3.4']]) expect(everything.has(junk as string)).toBe(false);
  });
});

describe('RangeSet merging', () => {
  it.each([
    [['10.0.0.0/24', '10.0.0.128/25'], ['10.0.0.0-10.0.0.255'], 'merges a prefix nested in another'],
    [['10.0.0.0/25', '10.0.0.128/25'], ['10.0.0.0-10.0.0.255'], 'merges adjacent prefixes'],
    [['10.0.0.0/25', '10.0.1.0/24'], ['10.0.0.0-10.0.0.127', '10.0.1.0-10.0.1.255'], 'keeps prefixes with a gap apart'],
    [
      ['10.0.1.0/24', '10.0.0.0/24', '8.0.0.0/8'],
      ['8.0.0.0-8.255.255.255', '10.0.0.0-10.0.1.255'],
      'sorts unsorted input',
    ],
    [['10.0.0.0/8', '9.0.0.0/8'], ['9.0.0.0-10.255.255.255'], 'merges adjacent prefixes given out of order'],
    [['10.0.0.0/24', '10.0.0.0/24'], ['10.0.0.0-10.0.0.255'], 'collapses duplicates'],
    [['10.0.0.77/24'], ['10.0.0.0-10.0.0.255'], 'clears host bits'],
    [['0.0.0.0/1', '128.0.0.0/1'], ['0.0.0.0-255.255.255.255'], 'merges up to the last IPv4 address'],
    [
      ['2001:db8::/33', '2001:db8:8000::/33'],
      ['2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'],
      'merges adjacent IPv6',
    ],
    [
      ['2001:db8::/96', '2001:db8::1:0:0/96'],
      ['2001:db8::-2001:db8::1:ffff:ffff'],
      'merges IPv6 adjacent across a word carry',
    ],
    [
      ['2001:db8::/64', '2001:db8::/48'],
      ['2001:db8::-2001:db8:0:ffff:ffff:ffff:ffff:ffff'],
      'merges an IPv6 prefix nested in a later one',
    ],
    [
      ['ffff::/16', '8000::/1'],
      ['8000::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
      'merges up to the last IPv6 address',
    ],
    [['2001:db8::2/127', '2001:db8::/127'], ['2001:db8::-2001:db8::3'], 'sorts unsorted IPv6'],
    [
      ['2001:db8::/128', '2001:db8::2/128'],
      ['2001:db8::-2001:db8::', '2001:db8::2-2001:db8::2'],
      'keeps IPv6 with a gap apart',
    ],
    [
      ['10.0.0.0/8', '::/0'],
      ['10.0.0.0-10.255.255.255', '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
      'lists IPv4 before IPv6',
    ],
    [[], [], 'builds an empty set from no prefixes'],
  ])('%j -> %j (%s)', (prefixes, expected) => {
    const set = RangeSet.fromPrefixes(prefixes);
    expect(set.ranges().map((r) => `${r.first}-${r.last}`)).toEqual(expected);
    expect(set.prefixCount).toBe(prefixes.length);
  });

  it.each([
    '1.2.3.300/24',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    'fe80::/10%eth0',
    '',
  ])('refuses %j with SERVICE_TAGS_INVALID', (prefix) => {
    let caught: unknown;
    try {
      RangeSet.fromPrefixes(['10.0.0.0/8', prefix]);
    } catch (err) {
      caught = err;
    }
    expect(isAcrEgressError(caught, 'SERVICE_TAGS_INVALID')).toBe(true);
    expect((caught as Error).message).toContain(JSON.stringify(prefix));
  });
});

describe('RangeSet.union', () => {
  const a = RangeSet.fromPrefixes(['10.0.0.0/25', '2001:db8::/33']);
  const b = RangeSet.fromPrefixes(['10.0.0.128/25', '2001:db8:8000::/33', '8.8.8.8/32']);
  const union = RangeSet.union([a, b]);

  it('contains what either set contains and nothing else', () => {
    expect(['10.0.0.1', '10.0.0.200', '8.8.8.8', '2001:db8:ffff::1'].every((ip) => union.has(ip))).toBe(true);
    expect(['10.0.1.0', '8.8.8.9', '2001:db9::'].some((ip) => union.has(ip))).toBe(false);
  });

  it('merges ranges that touch across sets and sums prefix counts', () => {
    expect(union.v4RangeCount).toBe(2);
    expect(union.v6RangeCount).toBe(1);
    expect(union.prefixCount).toBe(5);
  });

  it('refuses sets it did not build', () => {
    expect(() => RangeSet.union([a, { has: () => true, prefixCount: 1 }])).toThrow(TypeError);
  });

  it('of nothing is empty', () => {
    const none = RangeSet.union([]);
    expect([none.prefixCount, none.v4RangeCount, none.v6RangeCount, none.has('1.2.3.4')]).toEqual([0, 0, 0, false]);
  });
});

describe('parseAddress', () => {
  it.each([
    ['1.2.3.4', { v: 4, n: 0x01020304 }],
    ['255.255.255.255', { v: 4, n: 0xffffffff }],
    ['::ffff:1.2.3.4', { v: 4, n: 0x01020304 }],
    ['2001:db8::1', { v: 6, w: Uint32Array.of(0x20010db8, 0, 0, 1) }],
    ['::', { v: 6, w: Uint32Array.of(0, 0, 0, 0) }],
    ['1::', { v: 6, w: Uint32Array.of(0x00010000, 0, 0, 0) }],
    ['::1:2:3:4:5:6:7', { v: 6, w: Uint32Array.of(1, 0x00020003, 0x00040005, 0x00060007) }],
    ['64:ff9b::1.2.3.4', { v: 6, w: Uint32Array.of(0x0064ff9b, 0, 0, 0x01020304) }],
    ['1.2.3', null],
    ['fe80::1%1', null],
  ])('%s -> %o', (ip, expected) => {
    expect(parseAddress(ip)).toEqual(expected);
  });
});

describe('address parsing agrees with ipaddr.js', () => {
  const v6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((groups) => {
    // Bias towards zero runs so "::" compression is exercised.
    return ipaddr.IPv6.parse(groups.map((g, i) => (i % 3 === 0 ? 0 : g).toString(16)).join(':'));
  });

  it('reads every spelling of an IPv6 address to the same words, and formats it as RFC 5952', () => {
    fc.assert(
      fc.property(v6, (addr) => {
        const parts = addr.toByteArray();
        const words = [0, 1, 2, 3].map(
          (k) =>
            ((parts[k * 4]! << 24) | (parts[k * 4 + 1]! << 16) | (parts[k * 4 + 2]! << 8) | parts[k * 4 + 3]!) >>> 0,
        );
        const padded = addr
          .toNormalizedString()
          .split(':')
          .map((g) => g.padStart(4, '0'))
          .join(':');
        for (const text of [addr.toRFC5952String(), addr.toNormalizedString(), padded, padded.toUpperCase()]) {
          const parsed = parseAddress(text);
          if (addr.isIPv4MappedAddress()) expect(parsed).toEqual({ v: 4, n: words[3] });
          else expect(parsed).toEqual({ v: 6, w: Uint32Array.from(words) });
        }
        expect(formatV6(words)).toBe(addr.toRFC5952String());
      }),
      { numRuns: 2000 },
    );
  });

  it('decides membership of random addresses in random prefixes as ipaddr.js does', () => {
    const v4 = fc
      .integer({ min: 0, max: 0xffffffff })
      .map((n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
    const v4case = fc.tuple(v4, fc.integer({ min: 0, max: 32 }), v4);
    const v6case = fc.tuple(v6, fc.integer({ min: 0, max: 128 }), v6).map(([p, bits, a]) => {
      // Put the address near the prefix half the time so boundaries are hit, not just misses.
      const near = ipaddr.IPv6.parse(
        `${p.toNormalizedString().split(':').slice(0, 4).join(':')}:${a.toNormalizedString().split(':').slice(4).join(':')}`,
      );
      return [p.toRFC5952String(), bits, (bits % 2 ? near : a).toRFC5952String()] as const;
    });
    fc.assert(
      fc.property(fc.oneof(v4case, v6case), ([network, bits, ip]) => {
        const range = ipaddr.parseCIDR(`${network}/${bits}`);
        const addr = ipaddr.parse(ip);
        if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return; // looked up as IPv4 by design
        const expected = addr.kind() === range[0].kind() && addr.match(range);
        expect(RangeSet.fromPrefixes([`${network}/${bits}`]).has(ip)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('merged sets agree with checking every prefix', () => {
  // Small address spaces (10.0.x.y, 2001:db8::x) make overlaps and adjacency common.
  const v4prefix = fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 16, max: 32 }))
    .map(([n, bits]) => `10.0.${n >> 8}.${n & 255}/${bits}`);
  const v6prefix = fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 112, max: 128 }))
    .map(([n, bits]) => `2001:db8::${n.toString(16)}/${bits}`);
  const v4ip = fc.integer({ min: 0, max: 0xffff }).map((n) => `10.0.${n >> 8}.${n & 255}`);
  const v6ip = fc.integer({ min: 0, max: 0xffff }).map((n) => `2001:db8::${n.toString(16)}`);

  it('answers has() exactly as a linear scan of the prefixes, for sets and their unions', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(v4prefix, v6prefix), { maxLength: 30 }),
        fc.array(fc.oneof(v4prefix, v6prefix), { maxLength: 30 }),
        fc.array(fc.oneof(v4ip, v6ip), { minLength: 1, maxLength: 40 }),
        (left, right, ips) => {
          const scan = (prefixes: string[], ip: string) => {
            const addr = ipaddr.parse(ip);
            return prefixes.some((p) => {
              const range = ipaddr.parseCIDR(p);
              return range[0].kind() === addr.kind() && addr.match(range);
            });
          };
          const set = RangeSet.fromPrefixes(left);
          const union = RangeSet.union([set, RangeSet.fromPrefixes(right)]);
          for (const ip of ips) {
            expect(set.has(ip)).toBe(scan(left, ip));
            expect(union.has(ip)).toBe(scan([...left, ...right], ip));
          }
          const ranges = union.ranges();
          expect(ranges.length).toBe(union.v4RangeCount + union.v6RangeCount);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('parsePrefix', () => {
  it.each([
    ['10.1.2.3/16', { v: 4, start: 0x0a010000, end: 0x0a01ffff, bits: 16 }],
    ['0.0.0.0/0', { v: 4, start: 0, end: 0xffffffff, bits: 0 }],
    [
      '2001:db8::/32',
      {
        v: 6,
        start: Uint32Array.of(0x20010db8, 0, 0, 0),
        end: Uint32Array.of(0x20010db8, ~0 >>> 0, ~0 >>> 0, ~0 >>> 0),
        bits: 32,
      },
    ],
    ['10.0.0.0/33', null],
    ['10.0.0.0', null],
  ])('%s -> %o', (text, expected) => {
    expect(parsePrefix(text)).toEqual(expected);
  });
});
