// Host-name validity pinned for labels where Node versions disagree (domainToASCII on Node 24 and 26
// accepts xn--zz, Node 22 refuses it; 22 differs on Arabic-Indic digits): normalizeHost answers from
// tr46, so this table holds on every supported Node.
import { describe, expect, it } from 'vitest';
import { type HostCheck, normalizeHost } from '../../../src/net/host.js';

const UTS46 = 'not a valid internationalised domain name (UTS #46)';
const PUNYCODE = 'an xn-- label is not valid punycode';
const HYPHEN = 'a label starts or ends with a hyphen';
const LAST_NUMBER = 'the last label is a number, so URL parsers read the name as an IPv4 address';

const ok = (host: string): HostCheck => ({ ok: true, host });
const bad = (detail: string): HostCheck => ({ ok: false, reason: 'bad_request', detail });
const ip = (detail: string): HostCheck => ({ ok: false, reason: 'ip_literal', detail });

const table: ReadonlyArray<readonly [raw: string, why: string, answer: HostCheck]> = [
  // xn-- labels: decoded and checked, never taken on trust.
  ['xn--zz.example', 'an xn-- label that does not decode', bad(PUNYCODE)],
  ['XN--ZZ.example', 'the same in upper case', bad(PUNYCODE)],
  ['a.xn--zz', 'a bad xn-- label last', bad(PUNYCODE)],
  ['xn--abc.example', 'an xn-- label that decodes to ASCII only', bad(PUNYCODE)],
  ['xn--a.example', 'an xn-- label that decodes to nothing valid', bad(PUNYCODE)],
  ['xn--.example', 'an empty xn-- label', bad(HYPHEN)],
  ['xn---.example', 'an xn-- label of one hyphen', bad(HYPHEN)],
  ['xn--bcher-kvaä.example', 'an xn-- label with non-ASCII in it', bad(UTS46)],
  ['xn--bcher-kva.example', 'a valid xn-- label', ok('xn--bcher-kva.example')],
  ['XN--BCHER-KVA.EXAMPLE', 'a valid xn-- label in upper case', ok('xn--bcher-kva.example')],
  ['xn--ls8h.la', 'a valid emoji xn-- label', ok('xn--ls8h.la')],
  ['xn--mgbh0fb.xn--kgbechtv', 'right-to-left xn-- labels', ok('xn--mgbh0fb.xn--kgbechtv')],
  // IDNA2008, non-transitional: deviation characters kept.
  ['faß.de', 'sharp s kept', ok('xn--fa-hia.de')],
  ['ς.gr', 'final sigma kept', ok('xn--3xa.gr')],
  ['Ⅻ.example', 'a Roman numeral maps to letters', ok('xii.example')],
  ['ǅ.example', 'a title-case digraph maps to lower case', ok('xn--d-toa.example')],
  // Homographs: their own punycode, never the name they imitate.
  ['myrеgistry.azurecr.io', 'Cyrillic е', ok('xn--myrgistry-i0h.azurecr.io')],
  ['mіcrosoft.com', 'Cyrillic і', ok('xn--mcrosoft-thh.com')],
  ['аррӏе.com', 'all-Cyrillic apple', ok('xn--80ak6aa92e.com')],
  ['ｍｙｒｅｇｉｓｔｒｙ.azurecr.io', 'full-width letters', ok('myregistry.azurecr.io')],
  // Dots: full-width, ideographic and half-width ideographic all separate labels.
  ['a．b。c｡d', 'three kinds of dot', ok('a.b.c.d')],
  ['a\u2024b.com', 'a one-dot leader is not a dot', bad(UTS46)],
  // Emoji.
  ['💩.la', 'an emoji label', ok('xn--ls8h.la')],
  ['👍🏽.example', 'an emoji with a skin-tone modifier', ok('xn--on8h5e.example')],
  ['🏳️‍🌈.example', 'an emoji sequence joined by ZWJ', bad(UTS46)],
  // Joiners and bidi rules (CheckJoiners, CheckBidi, as WHATWG URL).
  ['a\u200db.example', 'a zero-width joiner between letters', bad(UTS46)],
  ['a\u200cb.example', 'a zero-width non-joiner between letters', bad(UTS46)],
  ['\u0915\u094d\u200d\u0937.example', 'a zero-width joiner after a virama', ok('xn--11b2ezcw70k.example')],
  ['١.example', 'a label that starts with an Arabic-Indic digit', bad(UTS46)],
  ['a١.example', 'Latin and Arabic-Indic digits in one label', bad(UTS46)],
  ['שלום.example', 'a Hebrew label beside a Latin one', ok('xn--9dbne9b.example')],
  ['⒈.example', 'a disallowed code point (digit full stop)', bad(UTS46)],
  ['\ufeffexample.com', 'a byte-order mark is ignored', ok('example.com')],
  // Lengths after punycode.
  [`${'a'.repeat(55)}ü.example`, 'a label of 63 after punycode', ok(`xn--${'a'.repeat(55)}-8yf.example`)],
  [`${'a'.repeat(56)}ü.example`, 'a label of 64 after punycode', bad('a label is longer than 63 characters')],
  // Numbers that only appear after mapping or decoding.
  ['foo.１２３', 'a full-width numeric last label', ip(LAST_NUMBER)],
  ['１２７.０.０.１', 'a full-width dotted quad', ip(LAST_NUMBER)],
  ['%31%32%37.0.0.1', 'a %-encoded dotted quad', ip('a %-encoded IP address')],
  ['foo.%31%32%33', 'a %-encoded numeric last label', ip('a %-encoded IP address')],
  [
    'ex%41mple.com',
    'a %-escape that is no IP address',
    bad('"%" is not allowed: only letters, digits, hyphens and dots'),
  ],
];

describe(`normalizeHost gives one answer on every Node (here ${process.version})`, () => {
  it.each(table.map(([raw, why, answer]) => [`${JSON.stringify(raw)}: ${why}`, raw, answer] as const))(
    '%s',
    (_name, raw, answer) => {
      expect(normalizeHost(raw)).toEqual(answer);
    },
  );
});
