// Parses destination and client addresses and sorts them into the classes the private-destination
// check blocks. The ranges are compiled into a table at load; a lookup is a few word compares.

import {
  formatIp,
  isV4Mapped,
  readIp,
  readIpSpan,
  readPrefixLength,
  V4_WORD,
  wordMask,
  type IpTextOptions,
} from '../net/ip.js';

/** Address classes: the key is the metrics/log spelling, `text` the human one. */
export const ADDRESS_CLASSES = {
  public: { text: 'a public address' },
  loopback: { text: 'a loopback address' },
  private: { text: 'a private network address (RFC 1918)' },
  cgnat: { text: 'a carrier-grade NAT shared address (RFC 6598)' },
  link_local: { text: 'a link-local address (where cloud metadata services live)' },
  multicast: { text: 'a multicast address' },
  unspecified: { text: 'the unspecified address or "this network"' },
  broadcast: { text: 'the limited broadcast address' },
  reserved: { text: 'a reserved or special-purpose address' },
  unique_local: { text: 'an IPv6 unique local address (RFC 4193)' },
  documentation: { text: 'an address reserved for documentation' },
  benchmarking: { text: 'an address reserved for benchmarking' },
} as const;

export type AddressClass = keyof typeof ADDRESS_CLASSES;

/** An IP address in canonical text: dotted quad, or RFC 5952 IPv6. IPv4-mapped IPv6 is IPv4. */
export interface ParsedIp {
  readonly family: 4 | 6;
  readonly address: string;
}

// Destinations and clients come from URLs, Host headers and sockets: brackets and zone ids are
// dropped, and an IPv4-mapped address is the IPv4 address it reaches.
const ADDRESS_TEXT: IpTextOptions = { brackets: true, zone: true, unmap: true };
// Config CIDRs may bracket IPv6 ("[2001:db8::]/48") but never carry a zone: it names no network.
const CIDR_TEXT: IpTextOptions = { brackets: true, zone: false, unmap: false };

type Words = Uint32Array; // 128 bits as net/ip.ts lays them out: IPv4 in its IPv4-mapped form

// What parseIp returns: it keeps the words it read, so classification does not parse the text again.
class ParsedAddress implements ParsedIp {
  readonly family: 4 | 6;
  readonly address: string;
  readonly #words: Words;

  constructor(words: Words, family: 4 | 6) {
    this.family = family;
    this.address = formatIp(words, family);
    this.#words = words;
  }

  /** The words of any ParsedIp; one built by hand is read from its text. */
  static words(ip: ParsedIp): Words {
    if (#words in ip) return ip.#words;
    const words = new Uint32Array(4);
    if (readIp(ip.address, words, ADDRESS_TEXT) === 0)
      throw new TypeError(`not a parsed IP address: ${JSON.stringify(ip.address)}`);
    return words;
  }
}

/** Canonical form of an IP address, or null when raw is not one. Only strict dotted quads count as IPv4. */
export function parseIp(raw: string): ParsedIp | null {
  const words = new Uint32Array(4);
  const family = readIp(raw, words, ADDRESS_TEXT);
  return family === 0 ? null : new ParsedAddress(words, family);
}

/** A 128-bit prefix, host bits zero; an IPv4 prefix a.b.c.d/n is ::ffff:a.b.c.d/(96 + n). */
interface Prefix {
  readonly base: Words;
  readonly bits: number;
}

function within(w: Words, p: Prefix): boolean {
  for (let k = 0, bits = p.bits; bits > 0; k++, bits -= 32) {
    if (((w[k]! ^ p.base[k]!) & wordMask(bits)) !== 0) return false;
  }
  return true;
}

/**
 * Parses "addr" or "addr/len". Because IPv4 lives at ::ffff:0:0/96, an IPv4-mapped IPv6 prefix is
 * the IPv4 prefix, and an IPv6 prefix that covers ::ffff:0:0/96 covers every IPv4 client.
 */
function readCidr(entry: string): Prefix | null {
  const slash = entry.indexOf('/');
  const words = new Uint32Array(4);
  const family = readIpSpan(entry, 0, slash === -1 ? entry.length : slash, words, CIDR_TEXT);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const len = slash === -1 ? max : readPrefixLength(entry, slash + 1);
  if (len < 0 || len > max) return null;
  const bits = family === 4 ? 96 + len : len;
  for (let k = 0; k < 4; k++) words[k] = words[k]! & wordMask(bits - 32 * k);
  return { base: words, bits };
}

// 6to4 (2002:AABB:CCDD::/48) carries an IPv4 address: it gets that address's class when not public.
type Rule = AddressClass | '6to4';
interface Range extends Prefix {
  readonly rule: Rule;
}

const V4_RANGES: ReadonlyArray<[string, Rule]> = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'], // 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['255.255.255.255/32', 'broadcast'],
];

const V6_RANGES: ReadonlyArray<[string, Rule]> = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved'], // IPv4-compatible, deprecated
  ['64:ff9b::/96', 'reserved'], // NAT64: the IPv4 inside is not checked, so the whole prefix is refused
  ['64:ff9b:1::/48', 'reserved'], // local-use NAT64
  ['100::/64', 'reserved'], // discard-only
  ['2001::/32', 'reserved'], // Teredo
  ['2001:2::/48', 'benchmarking'],
  ['2001:10::/28', 'reserved'], // ORCHID
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', '6to4'],
  ['3fff::/20', 'documentation'], // RFC 9637
  ['fc00::/7', 'unique_local'],
  ['fe80::/10', 'link_local'],
  ['fec0::/10', 'reserved'], // site-local, deprecated
  ['ff00::/8', 'multicast'],
  // Only 2000::/3 is allocated for global unicast; the rest of the space is IETF-reserved.
  ['::/3', 'reserved'],
  ['4000::/2', 'reserved'],
  ['8000::/1', 'reserved'],
];

/** Per first byte of the family's address, the ranges that can contain it, most specific first. */
function compile(ranges: ReadonlyArray<[string, Rule]>, family: 4 | 6): Range[][] {
  const table: Range[][] = Array.from({ length: 256 }, () => []);
  const [word, skip] = family === 4 ? [V4_WORD, 96] : [0, 0];
  for (const [cidr, rule] of ranges) {
    const prefix = readCidr(cidr);
    if (prefix === null) throw new TypeError(`bad built-in range ${cidr}`);
    const bits = prefix.bits - skip;
    const first = (prefix.base[word] as number) >>> 24;
    const span = bits >= 8 ? 1 : 1 << (8 - bits);
    for (let b = first; b < first + span; b++) (table[b] as Range[]).push({ ...prefix, rule });
  }
  for (const list of table) list.sort((a, b) => b.bits - a.bits);
  return table;
}

const V4_TABLE = compile(V4_RANGES, 4);
const V6_TABLE = compile(V6_RANGES, 6);
const sixToFour = Uint32Array.of(0, 0, 0xffff, 0); // scratch: classification is synchronous

function classifyWords(w: Words): AddressClass {
  const v4 = isV4Mapped(w);
  const table = v4 ? V4_TABLE : V6_TABLE;
  for (const r of table[(v4 ? w[V4_WORD]! : w[0]!) >>> 24] as Range[]) {
    if (!within(w, r)) continue;
    if (r.rule !== '6to4') return r.rule;
    sixToFour[V4_WORD] = ((w[0]! << 16) | (w[1]! >>> 16)) >>> 0;
    return classifyWords(sixToFour);
  }
  return 'public';
}

/** The class of an address; anything not in a special-purpose range is public. */
export function classifyAddress(ip: ParsedIp): AddressClass {
  return classifyWords(ParsedAddress.words(ip));
}

/** A set of CIDRs (proxy.clients, network.allowPrivate). Plain addresses count as /32 or /128. */
export class CidrList {
  readonly #prefixes: readonly Prefix[];
  readonly size: number;

  private constructor(prefixes: Prefix[], size: number) {
    this.#prefixes = prefixes;
    this.size = size;
  }

  /** Every bad entry is reported, so a config check shows all of them at once. */
  static parse(cidrs: readonly string[]): { list: CidrList } | { errors: string[] } {
    const prefixes: Prefix[] = [];
    const errors: string[] = [];
    for (const entry of cidrs) {
      const prefix = typeof entry === 'string' ? readCidr(entry) : null;
      if (prefix === null) {
        const what = typeof entry === 'string' && entry.includes('/') ? 'a valid CIDR' : 'a valid IP address or CIDR';
        errors.push(`${JSON.stringify(entry)} is not ${what}`);
        continue;
      }
      prefixes.push(prefix);
    }
    return errors.length > 0 ? { errors } : { list: new CidrList(prefixes, cidrs.length) };
  }

  contains(ip: ParsedIp): boolean {
    const w = ParsedAddress.words(ip);
    for (const p of this.#prefixes) if (within(w, p)) return true;
    return false;
  }
}
