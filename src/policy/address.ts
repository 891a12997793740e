// Parses destination and client addresses and sorts them into the classes the private-destination
// check blocks. The ranges are compiled into a table at load; a lookup is a few byte compares.

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

type Bytes = Uint8Array; // 4 bytes for IPv4, 16 for IPv6, network order

// What parseIp returns: it keeps the bytes it read, so classification does not parse the text again.
class ParsedAddress implements ParsedIp {
  readonly family: 4 | 6;
  readonly address: string;
  readonly #bytes: Bytes;

  constructor(bytes: Bytes) {
    this.family = bytes.length === 4 ? 4 : 6;
    this.address = bytes.length === 4 ? formatV4(bytes) : formatV6(bytes);
    this.#bytes = bytes;
  }

  /** The bytes of any ParsedIp; one built by hand is read from its text. */
  static bytes(ip: ParsedIp): Bytes {
    const b = #bytes in ip ? ip.#bytes : readAddress(ip.address);
    if (b === null) throw new TypeError(`not a parsed IP address: ${JSON.stringify(ip.address)}`);
    return b;
  }
}

function readV4(s: string): Bytes | null {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i === s.length ? 46 : s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 3) return null;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // A leading zero is refused: some stacks read 010 as octal 8, others as decimal 10.
      if (digits === 1 && value === 0) return null;
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return null;
    } else {
      return null;
    }
  }
  return part === 4 ? out : null;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** RFC 4291 text, in one pass; the steps follow the WHATWG URL IPv6 parser, so both accept the same input. */
function readV6(s: string): Bytes | null {
  if (s.length < 2 || s.length > 45) return null;
  const words = new Uint16Array(8);
  let piece = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return null;
    i = 2;
    gap = piece = 1;
  }
  while (i < s.length) {
    if (piece === 8) return null;
    if (s.charCodeAt(i) === 58) {
      if (gap !== -1) return null;
      i++;
      gap = ++piece;
      continue;
    }
    let value = 0;
    let digits = 0;
    for (let d = hexDigit(s.charCodeAt(i)); digits < 4 && d >= 0; d = hexDigit(s.charCodeAt(i))) {
      value = value * 16 + d;
      i++;
      digits++;
    }
    const c = s.charCodeAt(i);
    if (c === 46) {
      // An IPv4 tail (::ffff:1.2.3.4) fills the last two groups.
      const v4 = digits > 0 && piece <= 6 ? readV4(s.slice(i - digits)) : null;
      if (v4 === null) return null;
      words[piece++] = ((v4[0] as number) << 8) | (v4[1] as number);
      words[piece++] = ((v4[2] as number) << 8) | (v4[3] as number);
      break;
    }
    if (digits === 0 || (i < s.length && (c !== 58 || ++i === s.length))) return null;
    words[piece++] = value;
  }
  if (gap === -1 && piece !== 8) return null;
  if (gap !== -1) {
    // Move the groups after :: to the end, zeros in between.
    const tail = words.slice(gap, piece);
    words.fill(0, gap);
    words.set(tail, 8 - tail.length);
  }
  const out = new Uint8Array(16);
  for (let w = 0; w < 8; w++) {
    out[w * 2] = (words[w] as number) >> 8;
    out[w * 2 + 1] = (words[w] as number) & 0xff;
  }
  return out;
}

function isMapped(b: Bytes): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function formatV4(b: Bytes): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952: lower-case, no leading zeros, the first longest run of two or more zero groups as ::. */
function formatV6(b: Bytes): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] as number) << 8) | (b[i + 1] as number));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (best === -1) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/** Bytes of a literal, IPv4-mapped IPv6 unwrapped; brackets and an IPv6 zone id are accepted and dropped. */
function readAddress(raw: string): Bytes | null {
  let s = raw;
  if (s.startsWith('[') !== s.endsWith(']')) return null;
  if (s.startsWith('[')) s = s.slice(1, -1);
  if (!s.includes(':')) return raw === s ? readV4(s) : null;
  const zone = s.indexOf('%');
  if (zone !== -1) {
    // A zone names an interface (fe80::1%eth0, URI form %25eth0); it does not change the class.
    if (zone === s.length - 1) return null;
    s = s.slice(0, zone);
  }
  const b = readV6(s);
  if (b === null) return null;
  return isMapped(b) ? b.slice(12) : b;
}

/** Canonical form of an IP address, or null when raw is not one. Only strict dotted quads count as IPv4. */
export function parseIp(raw: string): ParsedIp | null {
  const b = readAddress(raw);
  return b === null ? null : new ParsedAddress(b);
}

function prefixMatch(b: Bytes, base: Bytes, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (b[i] !== base[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((b[whole] as number) & mask) === base[whole];
}

interface Prefix { readonly base: Bytes; readonly bits: number }

const MAPPED_PREFIX: Prefix = { base: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]), bits: 96 };
const ALL_V4: Prefix = { base: new Uint8Array(4), bits: 0 };

// 6to4 (2002:AABB:CCDD::/48) carries an IPv4 address: it gets that address's class when not public.
type Rule = AddressClass | '6to4';
interface Range { readonly base: Bytes; readonly bits: number; readonly rule: Rule }

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

/** Per first byte, the ranges that can contain it, most specific first. */
function compile(ranges: ReadonlyArray<[string, Rule]>): Range[][] {
  const table: Range[][] = Array.from({ length: 256 }, () => []);
  for (const [cidr, rule] of ranges) {
    const prefix = readCidr(cidr)?.[0];
    if (prefix === undefined) throw new TypeError(`bad built-in range ${cidr}`);
    const { base, bits } = prefix;
    const span = bits >= 8 ? 1 : 1 << (8 - bits);
    for (let first = base[0] as number; first < (base[0] as number) + span; first++) {
      (table[first] as Range[]).push({ base, bits, rule });
    }
  }
  for (const list of table) list.sort((a, b) => b.bits - a.bits);
  return table;
}

const V4_TABLE = compile(V4_RANGES);
const V6_TABLE = compile(V6_RANGES);

function classifyBytes(b: Bytes): AddressClass {
  const table = b.length === 4 ? V4_TABLE : V6_TABLE;
  for (const r of table[b[0] as number] as Range[]) {
    if (!prefixMatch(b, r.base, r.bits)) continue;
    if (r.rule !== '6to4') return r.rule;
    return classifyBytes(b.subarray(2, 6));
  }
  return 'public';
}

/** The class of an address; anything not in a special-purpose range is public. */
export function classifyAddress(ip: ParsedIp): AddressClass {
  return classifyBytes(ParsedAddress.bytes(ip));
}

/** Parses "addr" or "addr/len" for CidrList; IPv4-mapped IPv6 prefixes become IPv4 prefixes. */
function readCidr(entry: string): Prefix[] | null {
  const slash = entry.indexOf('/');
  const addr = slash === -1 ? entry : entry.slice(0, slash);
  const len = slash === -1 ? '' : entry.slice(slash + 1);
  if (addr.includes('%') || (slash !== -1 && !/^(0|[1-9][0-9]{0,2})$/.test(len))) return null;
  const v6 = addr.includes(':');
  const raw = v6 ? readV6(addr.startsWith('[') && addr.endsWith(']') ? addr.slice(1, -1) : addr) : readV4(addr);
  if (raw === null) return null;
  const max = raw.length * 8;
  const bits = slash === -1 ? max : Number(len);
  if (bits > max) return null;
  if (raw.length === 16 && bits >= 96 && prefixMatch(raw, MAPPED_PREFIX.base, 96)) {
    return [{ base: masked(raw.slice(12), bits - 96), bits: bits - 96 }];
  }
  const prefix = { base: masked(raw, bits), bits };
  // A wider IPv6 prefix that covers ::ffff:0:0/96 also covers every IPv4 client seen on a dual-stack socket.
  const coversMapped = raw.length === 16 && prefixMatch(MAPPED_PREFIX.base, prefix.base, bits);
  return coversMapped ? [prefix, ALL_V4] : [prefix];
}

function masked(b: Bytes, bits: number): Bytes {
  const out = b.slice();
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = (out[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** A set of CIDRs (proxy.clients, network.allowPrivate). Plain addresses count as /32 or /128. */
export class CidrList {
  readonly #v4: readonly Prefix[];
  readonly #v6: readonly Prefix[];
  readonly size: number;

  private constructor(v4: Prefix[], v6: Prefix[], size: number) {
    this.#v4 = v4;
    this.#v6 = v6;
    this.size = size;
  }

  /** Every bad entry is reported, so a config check shows all of them at once. */
  static parse(cidrs: readonly string[]): { list: CidrList } | { errors: string[] } {
    const v4: Prefix[] = [];
    const v6: Prefix[] = [];
    const errors: string[] = [];
    for (const entry of cidrs) {
      const prefixes = typeof entry === 'string' ? readCidr(entry) : null;
      if (prefixes === null) {
        const what = typeof entry === 'string' && entry.includes('/') ? 'a valid CIDR' : 'a valid IP address or CIDR';
        errors.push(`${JSON.stringify(entry)} is not ${what}`);
        continue;
      }
      for (const p of prefixes) (p.base.length === 4 ? v4 : v6).push(p);
    }
    return errors.length > 0 ? { errors } : { list: new CidrList(v4, v6, cidrs.length) };
  }

  contains(ip: ParsedIp): boolean {
    const b = ParsedAddress.bytes(ip);
    for (const p of b.length === 4 ? this.#v4 : this.#v6) if (prefixMatch(b, p.base, p.bits)) return true;
    return false;
  }
}
