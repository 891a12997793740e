// Fuzz target: the host-name normaliser. Whatever the text, an accepted name is one LDH spelling
// that a WHATWG URL parser reads the same way and never as an IP address.
import fc from 'fast-check';
import { parseIp } from '../../src/net/address.js';
import { normalizeHost } from '../../src/net/host.js';
import { must, type FuzzTarget } from '../lib.js';

/** What a URL parser makes of the name as a host, or null when it refuses it. */
function urlHost(raw: string): string | null {
  try {
    return new URL(`http://${raw}/`).hostname;
  } catch {
    return null;
  }
}

function invariants(raw: string): void {
  const r = normalizeHost(raw);
  if (!r.ok) {
    must(r.reason === 'bad_request' || r.reason === 'ip_literal', `unknown reason ${String(r.reason)}`);
    must(typeof r.detail === 'string' && r.detail.length > 0 && r.detail.length <= 200, 'detail is not a short text');
    if (parseIp(raw) !== null) must(r.reason === 'ip_literal', 'an IP address refused as something else');
    return;
  }
  const host = r.host;
  must(/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(host), `accepted ${JSON.stringify(host)} is not lower-case LDH labels`);
  must(host.length <= 253, `accepted a ${host.length}-character name`);
  must(parseIp(host) === null, `accepted ${host}, an IP address`);
  const again = normalizeHost(host);
  must(again.ok && again.host === host, `not idempotent: ${host} -> ${JSON.stringify(again)}`);
  // The differential that matters for SSRF: a URL parser (what the upstream client and most libraries
  // use) must read the raw text as this same name, never as an address or another name. A URL parser
  // that refuses the name is no risk: Node's ICU may know an older Unicode than the pinned tr46.
  const seen = urlHost(host);
  must(seen === null || seen === host, `URL reads accepted ${host} as ${JSON.stringify(seen)}`);
  const rawSeen = urlHost(raw);
  if (rawSeen !== null) {
    const bare = rawSeen.endsWith('.') ? rawSeen.slice(0, -1) : rawSeen;
    must(bare === host, `URL reads ${JSON.stringify(raw)} as ${JSON.stringify(rawSeen)}, acr-egress as ${host}`);
  }
}

// Pieces that turn names into addresses or other names somewhere: dots and digits in other scripts,
// hex and octal forms, escapes, brackets, zones, ignorable code points, punycode prefixes.
const TRICKY = [
  '.',
  '..',
  '0',
  '00',
  '1',
  '255',
  '256',
  '0x',
  '0X7f',
  '017',
  '4294967295',
  '127',
  '::',
  ':',
  '[',
  ']',
  '%',
  '%25',
  '%2e',
  '%30',
  '%00',
  '@',
  '/',
  '\\',
  '#',
  '?',
  ' ',
  '\t',
  '\0',
  '-',
  '_',
  'xn--',
  'xn--a',
  'XN--',
  'ß',
  'ﬀ',
  '\u00ad',
  '\u200b',
  '\u200d',
  '\u3002',
  '\uff0e',
  '\uff61',
  '\uff10',
  '\uff11',
  '\u0660',
  'İ',
  'Ⅸ',
  '\ud800',
  'a',
  'azurecr',
  'io',
  'myregistry',
  'com',
  'localhost',
];

const domain = fc.domain();
const piece = fc.oneof(fc.constantFrom(...TRICKY), fc.string({ maxLength: 4, unit: 'binary' }), domain);

export const hostTarget: FuzzTarget<string> = {
  name: 'host',
  ext: 'json',
  // JSON keeps lone surrogates and control characters that a raw UTF-8 file would lose or mangle.
  encode: (s) => Buffer.from(`${JSON.stringify(s)}\n`),
  decode: (b) => JSON.parse(b.toString('utf8')) as string,
  invariants,
  properties: [
    {
      name: 'random strings',
      cases: fc.oneof(
        fc.string({ maxLength: 80, unit: 'binary' }),
        fc.string({ maxLength: 80, unit: 'grapheme' }),
        fc.string({ maxLength: 300 }),
      ),
    },
    {
      name: 'names and addresses built from tricky pieces',
      cases: fc.array(piece, { minLength: 1, maxLength: 12 }).map((parts) => parts.join('')),
    },
    {
      name: 'generated domains are accepted as themselves, lower-cased',
      cases: fc
        .tuple(domain, fc.boolean(), fc.boolean())
        .map(([d, upper, dot]) => `${upper ? d.toUpperCase() : d}${dot ? '.' : ''}`),
      expect: (raw) => {
        const r = normalizeHost(raw);
        const want = raw.toLowerCase().replace(/\.$/, '');
        // fc.domain() may end in a numeric label, which URL parsers read as IPv4: that is refused.
        const numeric = /(^|\.)(\d+|0x[0-9a-f]*)$/.test(want);
        must(numeric ? !r.ok : r.ok && r.host === want, `${JSON.stringify(raw)} -> ${JSON.stringify(r)}`);
      },
    },
    {
      name: 'IPv4 addresses in every spelling are refused',
      cases: fc
        .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom('dotted', 'int', 'hex', 'octal', 'short'))
        .map(([n, how]) => {
          const o = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
          if (how === 'int') return String(n);
          if (how === 'hex') return `0x${n.toString(16)}`;
          if (how === 'octal') return o.map((x) => `0${x.toString(8)}`).join('.');
          if (how === 'short') return `${o[0]}.${(n & 0xffffff) >>> 0}`;
          return o.join('.');
        }),
      expect: (raw) => {
        const r = normalizeHost(raw);
        must(!r.ok && r.reason === 'ip_literal', `${raw} -> ${JSON.stringify(r)}`);
      },
    },
  ],
};
