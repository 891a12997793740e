import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIpLiteral, normalizeHost } from '../../../src/net/host.js';

const show = (raw: string): string => JSON.stringify(raw);

// Exactly at the DNS bounds: a 63-character label and a 253-character name (63+1+63+1+63+1+61).
const LABEL_63 = 'a'.repeat(63);
const NAME_253 = `${LABEL_63}.${LABEL_63}.${LABEL_63}.${'b'.repeat(61)}`;

const normalises: ReadonlyArray<readonly [raw: string, host: string, why: string]> = [
  ['myregistry.azurecr.io', 'myregistry.azurecr.io', 'unchanged'],
  ['MyRegistry.AzureCR.io', 'myregistry.azurecr.io', 'lower-case'],
  ['MyRegistry.AzureCR.io.', 'myregistry.azurecr.io', 'lower-case, one trailing dot dropped'],
  ['myregistry.azurecr.io.', 'myregistry.azurecr.io', 'one trailing dot dropped'],
  ['localhost', 'localhost', 'a single label is a valid name; rules decide'],
  ['a-b.example', 'a-b.example', 'inner hyphen'],
  ['ab--cd.example', 'ab--cd.example', 'double inner hyphen'],
  ['0x7f.example', '0x7f.example', 'a hex-looking label that is not last'],
  ['foo.0xg', 'foo.0xg', 'last label 0xg is not a hex number'],
  ['foo.1a', 'foo.1a', 'last label 1a is not a number'],
  ['123.example', '123.example', 'numeric labels before the last'],
  ['bücher.example', 'xn--bcher-kva.example', 'IDN to punycode'],
  ['BÜCHER.example', 'xn--bcher-kva.example', 'IDN upper-case folded first'],
  ['xn--bcher-kva.example', 'xn--bcher-kva.example', 'punycode kept'],
  ['XN--BCHER-KVA.example', 'xn--bcher-kva.example', 'punycode lower-cased'],
  ['ß.de', 'xn--zca.de', 'IDNA2008: sharp s kept, not mapped to ss'],
  ['💩.la', 'xn--ls8h.la', 'emoji label'],
  [
    'myregistry．azurecr。io',
    'myregistry.azurecr.io',
    'full-width and ideographic dots are label separators (UTS #46)',
  ],
  ['ｍｙｒｅｇｉｓｔｒｙ.azurecr.io', 'myregistry.azurecr.io', 'full-width letters map to ASCII'],
  ['ex\u00adample.com', 'example.com', 'soft hyphen is ignored by UTS #46'],
  ['a\u200bb.com', 'ab.com', 'zero-width space is ignored by UTS #46'],
  [`${LABEL_63}.example`, `${LABEL_63}.example`, 'a 63-character label'],
  [`${'a'.repeat(55)}ü.example`, `xn--${'a'.repeat(55)}-8yf.example`, 'an IDN label 63 characters long after punycode'],
  [NAME_253, NAME_253, 'a 253-character name'],
  [`${NAME_253}.`, NAME_253, 'a 253-character name with its trailing dot'],
];

// Homographs normalise to their own punycode, never to the name they imitate.
const homographs: ReadonlyArray<readonly [raw: string, host: string]> = [
  ['myrеgistry.azurecr.io', 'xn--myrgistry-i0h.azurecr.io'], // Cyrillic е (U+0435)
  ['myregistry.аzurecr.io', 'myregistry.xn--zurecr-2nf.io'], // Cyrillic а (U+0430)
];

const ipLiterals: ReadonlyArray<readonly [raw: string, form: string]> = [
  ['127.0.0.1', 'dotted quad'],
  ['10.0.0.1', 'private dotted quad'],
  ['169.254.169.254', 'metadata service address'],
  ['127.0.0.1.', 'dotted quad with a trailing dot'],
  ['2130706433', 'integer'],
  ['0x7f000001', 'hex integer'],
  ['0X7F000001', 'upper-case hex integer'],
  ['0177.0.0.1', 'octal part'],
  ['0x7f.1', 'hex and short form'],
  ['127.1', 'short form'],
  ['127.0.1', 'three-part form'],
  ['１２７.０.０.１', 'full-width digits'],
  ['１２７．０．０．１', 'full-width digits and dots'],
  ['²', 'superscript digit, which UTS #46 maps to 2'],
  ['[::1]', 'bracketed IPv6'],
  ['::1', 'bare IPv6'],
  ['::', 'unspecified IPv6'],
  ['2001:db8::1', 'bare IPv6 with groups'],
  ['[2001:DB8::1]', 'bracketed upper-case IPv6'],
  ['fe80::1%25eth0', 'IPv6 with a URI-encoded zone id'],
  ['fe80::1%eth0', 'IPv6 with a zone id'],
  ['[fe80::1%25eth0]', 'bracketed IPv6 with a zone id'],
  ['::ffff:127.0.0.1', 'IPv4-mapped IPv6'],
  ['[::ffff:10.0.0.1]', 'bracketed IPv4-mapped IPv6'],
  ['::ffff:7f00:1', 'IPv4-mapped IPv6 in hex'],
  ['[127.0.0.1]', 'bracketed IPv4'],
  ['[0x7f.1]', 'bracketed short hex IPv4'],
  ['%31%32%37.0.0.1', 'percent-encoded digits'],
  ['foo.123', 'a name whose last label is all digits'],
  ['foo.123.', 'the same with a trailing dot'],
  ['foo.0x', 'a name whose last label is 0x (the number 0)'],
  ['foo.0x7f', 'a name whose last label is a hex number'],
  ['foo.09', 'a name whose last label is an invalid octal number'],
  ['1.2.3.4.5', 'five numeric parts'],
  ['999.1.1.1', 'an out-of-range part'],
  ['foo.１２３', 'a name whose last label is full-width digits'],
  ['foo。１２３。', 'the same with ideographic dots and a trailing dot'],
  ['foo.²', 'a name whose last label maps to a digit'],
  ['1'.repeat(300), 'a 300-digit integer'],
];

const forbidden: ReadonlyArray<readonly [char: string, name: string]> = [
  ['%', 'percent'],
  ['@', 'at sign'],
  ['\\', 'backslash'],
  ['/', 'slash'],
  ['?', 'question mark'],
  ['#', 'hash'],
  ['[', 'opening bracket'],
  [']', 'closing bracket'],
  [':', 'colon'],
  [' ', 'space'],
  ['_', 'underscore'],
  ['*', 'asterisk'],
  ['!', 'exclamation mark'],
  ['~', 'tilde'],
  ['\u0000', 'NUL'],
  ['\t', 'tab'],
  ['\n', 'line feed'],
  ['\r', 'carriage return'],
  ['\u001f', 'control byte 0x1f'],
  ['\u007f', 'DEL'],
  ['＿', 'full-width underscore (maps to _)'],
  ['！', 'full-width exclamation mark (maps to !)'],
  ['／', 'full-width slash (maps to /)'],
];

const badRequests: ReadonlyArray<readonly [raw: string, why: string, detail: RegExp]> = [
  ['', 'empty', /empty/],
  ['.', 'only a dot', /empty/],
  ['..', 'two dots', /empty label/],
  ['myregistry.azurecr.io..', 'two trailing dots', /empty label/],
  ['127.0.0.1..', 'a dotted quad with two trailing dots', /empty label/],
  ['.myregistry.azurecr.io', 'a leading dot', /empty label/],
  ['myregistry..azurecr.io', 'an empty inner label', /empty label/],
  [`${'a'.repeat(64)}.example`, 'a 64-character label', /longer than 63/],
  [`${'a'.repeat(56)}ü.example`, 'an IDN label 64 characters long after punycode', /longer than 63/],
  [`${NAME_253}b`, 'a 254-character name', /longer than 253/],
  [`${NAME_253}b.`, 'a 254-character name with a trailing dot', /longer than 253/],
  ['a'.repeat(2000), 'a 2000-character input', /longer than 1024/],
  ['-myregistry.azurecr.io', 'a label starting with a hyphen', /hyphen/],
  ['myregistry-.azurecr.io', 'a label ending with a hyphen', /hyphen/],
  ['myregistry.-.io', 'a label that is only a hyphen', /hyphen/],
  ['xn--zz.example', 'an xn-- label that is not valid punycode', /punycode/],
  ['xn--.example', 'an empty xn-- label (it ends with a hyphen)', /hyphen/],
  ['myregistry.azurecr.io:443', 'a port', /":"/],
  ['user@myregistry.azurecr.io', 'user info', /"@"/],
  ['myregistry.azurecr.io/v2/', 'a path', /"\/"/],
  ['evil.com\\.azurecr.io', 'a backslash trick', /"\\"/],
  ['evil.com?.azurecr.io', 'a query trick', /"\?"/],
  ['evil.com#.azurecr.io', 'a fragment trick', /"#"/],
  ['[myregistry.azurecr.io]', 'a bracketed name', /"\["/],
  ['1:2:3:4:5:6:7:8:9', 'too many IPv6 groups', /":"/],
  ['a\u2024b.com', 'one dot leader, which UTS #46 refuses', /internationalised/],
  ['［::1］', 'full-width brackets', /":"/],
];

describe('normalizeHost', () => {
  it.each(normalises.map(([raw, host, why]) => [`normalises ${show(raw)} to ${host} (${why})`, raw, host] as const))(
    '%s',
    (_name, raw, host) => {
      expect(normalizeHost(raw)).toEqual({ ok: true, host });
    },
  );

  it.each(
    homographs.map(
      ([raw, host]) =>
        [`normalises the homograph ${show(raw)} to ${host}, not myregistry.azurecr.io`, raw, host] as const,
    ),
  )('%s', (_name, raw, host) => {
    const check = normalizeHost(raw);
    expect(check).toEqual({ ok: true, host });
    expect(host).not.toBe('myregistry.azurecr.io');
  });

  it.each(ipLiterals.map(([raw, form]) => [`treats ${show(raw)} as ip_literal (${form})`, raw] as const))(
    '%s',
    (_name, raw) => {
      const check = normalizeHost(raw);
      expect(check.ok).toBe(false);
      expect(check).toMatchObject({ reason: 'ip_literal' });
      expect(isIpLiteral(raw)).toBe(true);
    },
  );

  it.each(
    forbidden.map(([char, name]) => [`refuses the ${name} in a${char}b.example with bad_request`, char] as const),
  )('%s', (_name, char) => {
    const check = normalizeHost(`a${char}b.example`);
    expect(check).toMatchObject({ ok: false, reason: 'bad_request' });
    expect(isIpLiteral(`a${char}b.example`)).toBe(false);
  });

  it.each(badRequests.map(([raw, why, detail]) => [`refuses ${why} with bad_request`, raw, detail] as const))(
    '%s',
    (_name, raw, detail) => {
      const check = normalizeHost(raw);
      expect(check).toMatchObject({ ok: false, reason: 'bad_request' });
      if (!check.ok) expect(check.detail).toMatch(detail);
    },
  );

  it.each([
    ['names the control byte in the detail of a\\x01b', 'a\u0001b', /0x01/],
    ['names the underscore in the detail of my_registry.azurecr.io', 'my_registry.azurecr.io', /underscore/],
  ] as const)('%s', (_name, raw, detail) => {
    const check = normalizeHost(raw);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.detail).toMatch(detail);
  });
});

describe('isIpLiteral', () => {
  it.each([
    ['says false for myregistry.azurecr.io', 'myregistry.azurecr.io', false],
    ['says false for a malformed name', 'a..b', false],
    ['says true for 127.0.0.1', '127.0.0.1', true],
    ['says true for [::1]', '[::1]', true],
  ] as const)('%s', (_name, raw, expected) => {
    expect(isIpLiteral(raw)).toBe(expected);
  });
});

const VALID = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;

// Characters that exercise every branch: digits, hex, dots of several scripts, IDN, IP syntax.
const hostish = fc.string({
  unit: fc.constantFrom(
    'a',
    'b',
    'x',
    'X',
    'f',
    '0',
    '1',
    '7',
    '9',
    '-',
    '.',
    '.',
    '。',
    '．',
    '１',
    '²',
    'ü',
    'е',
    'ß',
    ':',
    '%',
    '2',
    '5',
    '[',
    ']',
    '_',
    ' ',
    '\u00ad',
    '\u200d',
    '\u0000',
    '/',
    '@',
  ),
  maxLength: 24,
});

function whatwgHost(raw: string): string | null {
  try {
    return new URL(`http://${raw}/`).hostname;
  } catch {
    return null;
  }
}

function isWhatwgIp(hostname: string): boolean {
  return hostname.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(hostname);
}

describe('normalizeHost properties', () => {
  it('never throws, and an accepted host is lower-case LDH of at most 253 characters', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), hostish), (raw) => {
        const check = normalizeHost(raw);
        if (check.ok) {
          expect(check.host).toMatch(VALID);
          expect(check.host.length).toBeLessThanOrEqual(253);
          for (const label of check.host.split('.')) expect(label.length).toBeLessThanOrEqual(63);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('is idempotent: an accepted host normalises to itself', () => {
    fc.assert(
      fc.property(fc.oneof(hostish, fc.domain()), (raw) => {
        const check = normalizeHost(raw);
        if (check.ok) expect(normalizeHost(check.host)).toEqual(check);
      }),
      { numRuns: 3000 },
    );
  });

  it('never accepts what a WHATWG URL parser reads as an IP address, and agrees on accepted hosts', () => {
    fc.assert(
      fc.property(hostish, (raw) => {
        const check = normalizeHost(raw);
        const seen = whatwgHost(raw);
        if (seen !== null && isWhatwgIp(seen)) expect(check.ok).toBe(false);
        if (check.ok) expect(whatwgHost(check.host)).toBe(check.host);
      }),
      { numRuns: 5000 },
    );
  });
});
