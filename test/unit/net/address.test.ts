import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ADDRESS_CLASSES,
  CidrList,
  classifyAddress,
  parseIp,
  type AddressClass,
  type ParsedIp,
} from '../../../src/net/address.js';

function ip(raw: string): ParsedIp {
  const parsed = parseIp(raw);
  if (parsed === null) throw new Error(`test address ${raw} does not parse`);
  return parsed;
}

// Each special range: its first and last address, and the public (or next-class) neighbours.
const classes: ReadonlyArray<readonly [address: string, cls: AddressClass]> = [
  ['0.0.0.0', 'unspecified'],
  ['0.255.255.255', 'unspecified'],
  ['1.0.0.0', 'public'],
  ['9.255.255.255', 'public'],
  ['10.0.0.0', 'private'],
  ['10.255.255.255', 'private'],
  ['11.0.0.0', 'public'],
  ['100.63.255.255', 'public'],
  ['100.64.0.0', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.0', 'public'],
  ['126.255.255.255', 'public'],
  ['127.0.0.0', 'loopback'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.255', 'loopback'],
  ['128.0.0.0', 'public'],
  ['169.253.255.255', 'public'],
  ['169.254.0.0', 'link_local'],
  ['169.254.169.254', 'link_local'],
  ['169.254.255.255', 'link_local'],
  ['169.255.0.0', 'public'],
  ['172.15.255.255', 'public'],
  ['172.16.0.0', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.0', 'public'],
  ['191.255.255.255', 'public'],
  ['192.0.0.0', 'reserved'],
  ['192.0.0.255', 'reserved'],
  ['192.0.1.0', 'public'],
  ['192.0.2.0', 'documentation'],
  ['192.0.2.255', 'documentation'],
  ['192.0.3.0', 'public'],
  ['192.88.98.255', 'public'],
  ['192.88.99.0', 'reserved'],
  ['192.88.99.255', 'reserved'],
  ['192.88.100.0', 'public'],
  ['192.167.255.255', 'public'],
  ['192.168.0.0', 'private'],
  ['192.168.255.255', 'private'],
  ['192.169.0.0', 'public'],
  ['198.17.255.255', 'public'],
  ['198.18.0.0', 'benchmarking'],
  ['198.19.255.255', 'benchmarking'],
  ['198.20.0.0', 'public'],
  ['198.51.99.255', 'public'],
  ['198.51.100.0', 'documentation'],
  ['198.51.100.255', 'documentation'],
  ['198.51.101.0', 'public'],
  ['203.0.112.255', 'public'],
  ['203.0.113.0', 'documentation'],
  ['203.0.113.255', 'documentation'],
  ['203.0.114.0', 'public'],
  ['223.255.255.255', 'public'],
  ['224.0.0.0', 'multicast'],
  ['239.255.255.255', 'multicast'],
  ['240.0.0.0', 'reserved'],
  ['255.255.255.254', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  ['20.62.128.1', 'public'],

  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['::2', 'reserved'], // IPv4-compatible ::/96
  ['::255.255.255.255', 'reserved'],
  ['::1:0:0', 'reserved'], // outside 2000::/3
  ['64:ff9b::', 'reserved'],
  ['64:ff9b::8.8.8.8', 'reserved'],
  ['64:ff9b::ffff:ffff', 'reserved'],
  ['64:ff9b:1::', 'reserved'],
  ['64:ff9b:1:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['100::', 'reserved'],
  ['100::ffff:ffff:ffff:ffff', 'reserved'],
  ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['2000::', 'public'],
  ['2001::', 'reserved'], // Teredo
  ['2001:0:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['2001:1::1', 'public'],
  ['2001:1:ffff:ffff:ffff:ffff:ffff:ffff', 'public'],
  ['2001:2::', 'benchmarking'],
  ['2001:2:0:ffff:ffff:ffff:ffff:ffff', 'benchmarking'],
  ['2001:2:1::', 'public'],
  ['2001:f:ffff:ffff:ffff:ffff:ffff:ffff', 'public'],
  ['2001:10::', 'reserved'], // ORCHID
  ['2001:1f:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['2001:20::', 'public'],
  ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', 'public'],
  ['2001:db8::', 'documentation'],
  ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation'],
  ['2001:db9::', 'public'],
  ['2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'public'],
  ['2002::', 'unspecified'], // 6to4 of 0.0.0.0
  ['2002:808:808::1', 'public'], // 6to4 of 8.8.8.8
  ['2002:7f00:1::', 'loopback'], // 6to4 of 127.0.0.1
  ['2002:a00:1::', 'private'], // 6to4 of 10.0.0.1
  ['2002:a9fe:a9fe::', 'link_local'], // 6to4 of 169.254.169.254
  ['2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'broadcast'], // 6to4 of 255.255.255.255
  ['2003::', 'public'],
  ['2606:4700:4700::1111', 'public'],
  ['3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'public'],
  ['3fff::', 'documentation'],
  ['3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation'],
  ['3fff:1000::', 'public'],
  ['3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'public'],
  ['4000::', 'reserved'],
  ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['fc00::', 'unique_local'],
  ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'unique_local'],
  ['fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['fe80::', 'link_local'],
  ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link_local'],
  ['fec0::', 'reserved'], // site-local
  ['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['ff00::', 'multicast'],
  ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'multicast'],

  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['[::ffff:10.0.0.1]', 'private'],
  ['0:0:0:0:0:ffff:a9fe:a9fe', 'link_local'],
  ['::ffff:8.8.8.8', 'public'],
  ['fe80::1%eth0', 'link_local'],
];

const canonical: ReadonlyArray<readonly [raw: string, family: 4 | 6, address: string]> = [
  ['192.0.2.1', 4, '192.0.2.1'],
  ['0.0.0.0', 4, '0.0.0.0'],
  ['2001:DB8::1', 6, '2001:db8::1'],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', 6, '2001:db8::1'],
  ['1:0:0:1:0:0:0:1', 6, '1:0:0:1::1'],
  ['1:0:0:0:1:0:0:1', 6, '1::1:0:0:1'],
  ['1:0:1:1:1:1:1:1', 6, '1:0:1:1:1:1:1:1'],
  ['::2:3:4:5:6:7:8', 6, '0:2:3:4:5:6:7:8'],
  ['1:2:3:4:5:6:7::', 6, '1:2:3:4:5:6:7:0'],
  ['0:0:0:0:0:0:0:0', 6, '::'],
  ['::1.2.3.4', 6, '::102:304'],
  ['[::1]', 6, '::1'],
  ['fe80::1%eth0', 6, 'fe80::1'],
  ['fe80::1%25eth0', 6, 'fe80::1'],
  ['::ffff:1.2.3.4', 4, '1.2.3.4'],
  ['::FFFF:0102:0304', 4, '1.2.3.4'],
  ['0:0:0:0:0:ffff:1.2.3.4', 4, '1.2.3.4'],
  ['[::ffff:10.0.0.1]', 4, '10.0.0.1'],
];

const notIps: ReadonlyArray<readonly [raw: string, why: string]> = [
  ['', 'empty'],
  ['localhost', 'a name'],
  ['1.2.3', 'three parts'],
  ['1.2.3.4.5', 'five parts'],
  ['256.0.0.1', 'a part over 255'],
  ['1.2.3.4.', 'a trailing dot'],
  ['010.0.0.1', 'a leading zero (octal or decimal?)'],
  ['0x7f.0.0.1', 'a hex part'],
  ['127.1', 'the short form'],
  ['2130706433', 'an integer'],
  [' 1.2.3.4', 'a leading space'],
  ['1.2.3.4 ', 'a trailing space'],
  ['[1.2.3.4]', 'a bracketed IPv4'],
  ['1:2:3:4:5:6:7:8:9', 'nine groups'],
  ['1:2:3:4:5:6:7', 'seven groups without ::'],
  ['1:2:3:4:5:6:7:8::', 'eight groups and ::'],
  ['1::2::3', 'two ::'],
  [':::', 'three colons'],
  ['1:', 'a trailing single colon'],
  [':1', 'a leading single colon'],
  ['12345::', 'a five-digit group'],
  ['g::', 'a non-hex group'],
  ['[::1', 'an unclosed bracket'],
  ['::1]', 'an unopened bracket'],
  ['fe80::1%', 'an empty zone'],
  ['::ffff:1.2.3', 'a short embedded IPv4'],
  ['1.2.3.4::', 'IPv4 before ::'],
  ['::1.2.3.4:5', 'a group after an embedded IPv4'],
  ['1.2.3.4%eth0', 'a zone on IPv4'],
];

describe('classifyAddress', () => {
  it.each(classes.map(([address, cls]) => [`classifies ${address} as ${cls}`, address, cls] as const))(
    '%s',
    (_name, address, cls) => {
      expect(classifyAddress(ip(address))).toBe(cls);
    },
  );

  it('has a human text for every class', () => {
    for (const [key, value] of Object.entries(ADDRESS_CLASSES)) {
      expect(key).toMatch(/^[a-z_]+$/);
      expect(value.text.length).toBeGreaterThan(0);
    }
  });

  it('classifies a hand-built ParsedIp by its text', () => {
    expect(classifyAddress({ family: 4, address: '10.1.2.3' })).toBe('private');
  });
});

describe('parseIp', () => {
  it.each(
    canonical.map(
      ([raw, family, address]) => [`parses ${raw} to IPv${family} ${address}`, raw, family, address] as const,
    ),
  )('%s', (_name, raw, family, address) => {
    expect(parseIp(raw)).toEqual({ family, address });
  });

  it.each(notIps.map(([raw, why]) => [`returns null for ${JSON.stringify(raw)} (${why})`, raw] as const))(
    '%s',
    (_name, raw) => {
      expect(parseIp(raw)).toBeNull();
    },
  );

  it('writes IPv6 as the WHATWG URL serializer does (RFC 5952), IPv4-mapped ones as IPv4', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.boolean(), (words, pad) => {
        const text = words.map((w) => (pad ? w.toString(16).padStart(4, '0').toUpperCase() : w.toString(16))).join(':');
        const parsed = parseIp(text);
        const url = new URL(`http://[${text}]/`).hostname.slice(1, -1);
        if (words.slice(0, 6).join(',') === '0,0,0,0,0,65535') {
          expect(parsed?.family).toBe(4);
        } else {
          expect(parsed).toEqual({ family: 6, address: url });
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts exactly the IPv6 text a WHATWG URL parser accepts', () => {
    const text = fc.string({
      unit: fc.constantFrom('0', '1', 'f', 'F', 'g', ':', ':', ':', '.', '2', '5', '00'),
      maxLength: 30,
    });
    fc.assert(
      fc.property(text, (raw) => {
        let url: string | null = null;
        try {
          url = new URL(`http://[${raw}]/`).hostname.slice(1, -1);
        } catch {
          // not IPv6 to the URL parser
        }
        const parsed = raw.includes(':') ? parseIp(raw) : null;
        if (url === null) expect(parsed).toBeNull();
        else if (url.startsWith('::ffff:') && parsed?.family === 4) expect(parseIp(url)).toEqual(parsed);
        else expect(parsed).toEqual({ family: 6, address: url });
      }),
      { numRuns: 5000 },
    );
  });

  it('reads back every IPv4 address it writes', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        expect(parseIp(address)).toEqual({ family: 4, address });
      }),
    );
  });
});

describe('CidrList', () => {
  function list(cidrs: string[]): CidrList {
    const parsed = CidrList.parse(cidrs);
    if ('errors' in parsed) throw new Error(parsed.errors.join('; '));
    return parsed.list;
  }

  const contains: ReadonlyArray<readonly [cidrs: string[], address: string, expected: boolean]> = [
    [['10.0.0.0/8'], '10.0.0.0', true],
    [['10.0.0.0/8'], '10.255.255.255', true],
    [['10.0.0.0/8'], '11.0.0.0', false],
    [['10.0.0.0/8'], '9.255.255.255', false],
    [['10.1.2.3/8'], '10.200.0.1', true], // host bits are ignored
    [['172.16.0.0/12'], '172.31.0.1', true],
    [['172.16.0.0/12'], '172.32.0.1', false],
    [['192.0.2.7'], '192.0.2.7', true],
    [['192.0.2.7'], '192.0.2.8', false],
    [['0.0.0.0/0'], '203.0.113.1', true],
    [['0.0.0.0/0'], '::1', false],
    [['2001:db8::/32'], '2001:db8:ffff::1', true],
    [['2001:db8::/32'], '2001:db9::', false],
    [['2001:db8::1'], '2001:db8::1', true],
    [['2001:db8::1'], '2001:db8::2', false],
    [['[2001:db8::]/48'], '2001:db8:0:1::', true],
    [['fd00::/8'], 'fdab::1', true],
    [['10.0.0.0/8'], '::ffff:10.1.2.3', true], // a mapped client matches an IPv4 CIDR
    [['10.0.0.0/8'], '::ffff:a01:203', true],
    [['::ffff:10.0.0.0/104'], '10.9.9.9', true], // a mapped CIDR matches IPv4
    [['::ffff:10.0.0.0/104'], '11.0.0.0', false],
    [['::ffff:192.0.2.1'], '192.0.2.1', true],
    [['::/0'], '::1', true],
    [['::/0'], '192.0.2.1', true], // ::/0 covers ::ffff:0:0/96, so every IPv4 client
    [['2000::/3'], '192.0.2.1', false],
    [['10.0.0.0/8', '2001:db8::/32'], '2001:db8::5', true],
    [['10.0.0.0/8', '2001:db8::/32'], '10.0.0.5', true],
    [['10.0.0.0/8', '2001:db8::/32'], '192.168.0.1', false],
    [[], '10.0.0.1', false],
  ];

  it.each(
    contains.map(
      ([cidrs, address, expected]) =>
        [
          `${expected ? 'matches' : 'does not match'} ${address} against [${cidrs.join(', ')}]`,
          cidrs,
          address,
          expected,
        ] as const,
    ),
  )('%s', (_name, cidrs, address, expected) => {
    expect(list([...cidrs]).contains(ip(address))).toBe(expected);
  });

  const invalid: ReadonlyArray<readonly [entry: string, error: string]> = [
    ['10.0.0.0/33', '"10.0.0.0/33" is not a valid CIDR'],
    ['::/129', '"::/129" is not a valid CIDR'],
    ['10.0.0.0/', '"10.0.0.0/" is not a valid CIDR'],
    ['/8', '"/8" is not a valid CIDR'],
    ['10.0.0.0/8/8', '"10.0.0.0/8/8" is not a valid CIDR'],
    ['10.0.0.0/-1', '"10.0.0.0/-1" is not a valid CIDR'],
    ['10.0.0.0/08', '"10.0.0.0/08" is not a valid CIDR'],
    ['10.0.0/8', '"10.0.0/8" is not a valid CIDR'],
    ['fe80::/10%eth0', '"fe80::/10%eth0" is not a valid CIDR'],
    ['fe80::1%eth0', '"fe80::1%eth0" is not a valid IP address or CIDR'],
    ['foo', '"foo" is not a valid IP address or CIDR'],
    ['', '"" is not a valid IP address or CIDR'],
    [' 10.0.0.0/8', '" 10.0.0.0/8" is not a valid CIDR'],
  ];

  it.each(invalid.map(([entry, error]) => [`refuses ${JSON.stringify(entry)} with: ${error}`, entry, error] as const))(
    '%s',
    (_name, entry, error) => {
      expect(CidrList.parse(['10.0.0.0/8', entry])).toEqual({ errors: [error] });
    },
  );

  it('reports every bad entry at once, in order', () => {
    expect(CidrList.parse(['foo', '10.0.0.0/8', '1.2.3.4/40'])).toEqual({
      errors: ['"foo" is not a valid IP address or CIDR', '"1.2.3.4/40" is not a valid CIDR'],
    });
  });

  it('counts its entries in size', () => {
    expect(list(['10.0.0.0/8', '::/0', '192.0.2.1']).size).toBe(3);
    expect(list([]).size).toBe(0);
  });
});
