// The project's one IPv4/IPv6 address parser and formatter. Parsing writes into a caller's
// Uint32Array and allocates nothing, so per-connection lookups can afford to call it.

/** What the text was: 4, 6, or 0 for not an address. */
export type IpFamily = 0 | 4 | 6;

/**
 * An address is 4 big-endian uint32 words (128 bits). IPv4 is kept in its IPv4-mapped IPv6 form
 * (::ffff:a.b.c.d): its value is word V4_WORD, and one 128-bit prefix test serves both families.
 */
export const V4_WORD = 3;

/**
 * What a caller accepts around the address itself. Every caller states all three, which keeps
 * the option objects one shape for the JIT. Brackets and zone ids belong to IPv6: "[1.2.3.4]" and
 * "1.2.3.4%eth0" are always refused.
 */
export interface IpTextOptions {
  /** Accept "[2001:db8::1]", as written in URLs and Host headers. */
  readonly brackets: boolean;
  /** Accept and drop a non-empty zone id ("fe80::1%eth0", URI form "%25eth0"): it names an interface, not an address. */
  readonly zone: boolean;
  /** Report IPv4-mapped IPv6 (::ffff:a.b.c.d) as 4: what it reaches is that IPv4 address. */
  readonly unmap: boolean;
}

/** The bare address, as written: no brackets, no zone, IPv4-mapped stays IPv6. */
export const BARE_IP: IpTextOptions = { brackets: false, zone: false, unmap: false };

// Scratch for the IPv6 groups: parsing is synchronous, so one module-level buffer is safe.
const groups = new Uint32Array(8);

// Hex digit values by char code, -1 for the rest: a table load beats three range tests per digit.
const HEX = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) {
  const digit = d.toString(16);
  HEX[digit.charCodeAt(0)] = d;
  HEX[digit.toUpperCase().charCodeAt(0)] = d;
}

function hexValue(c: number): number {
  return c < 128 ? HEX[c]! : -1;
}

/**
 * Dotted quad in s[from, to) as a uint32, or -1. Only the four-part decimal form counts: a leading
 * zero is refused because some stacks read 010 as octal 8 and others as decimal 10.
 */
function readV4(s: string, from: number, to: number): number {
  let n = 0;
  let octet = -1; // -1 before the first digit of a part
  let dots = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d >= 0 && d <= 9) {
      if (octet === 0) return -1;
      octet = octet < 0 ? d : octet * 10 + d;
      if (octet > 255) return -1;
    } else if (d === 46 - 48 && octet >= 0 && dots < 3) {
      // '.'
      n = n * 256 + octet;
      octet = -1;
      dots++;
    } else {
      return -1;
    }
  }
  return octet < 0 || dots !== 3 ? -1 : n * 256 + octet;
}

/**
 * RFC 4291 text in s[from, to) into out[0..3]; out is written only on success. It accepts exactly
 * what the WHATWG URL IPv6 parser accepts (a test holds the two together).
 */
function readV6(s: string, from: number, to: number, out: Uint32Array): boolean {
  if (to - from < 2 || to - from > 45) return false;
  let n = 0;
  let gap = -1;
  let i = from;
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < to) {
    const groupStart = i;
    let value = 0;
    for (; i < to && i - groupStart < 5; i++) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
    }
    const digits = i - groupStart;
    if (i < to && s.charCodeAt(i) === 46) {
      // An embedded IPv4 tail (::ffff:1.2.3.4) fills the last two groups and must end the address.
      const v4 = readV4(s, groupStart, to);
      if (v4 < 0 || n > 6) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      break;
    }
    if (digits === 0 || digits > 4 || n === 8) return false;
    groups[n++] = value;
    if (i === to) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < to && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === to) {
      return false;
    }
  }
  // "::" stands for at least one zero group.
  if (gap < 0 ? n !== 8 : n > 7) return false;
  if (gap >= 0) {
    const zeros = 8 - n;
    for (let k = 7; k >= gap + zeros; k--) groups[k] = groups[k - zeros]!;
    for (let k = gap; k < gap + zeros; k++) groups[k] = 0;
  }
  out[0] = groups[0]! * 65536 + groups[1]!;
  out[1] = groups[2]! * 65536 + groups[3]!;
  out[2] = groups[4]! * 65536 + groups[5]!;
  out[3] = groups[6]! * 65536 + groups[7]!;
  return true;
}

/** Reads text into out[0..3] (see V4_WORD); out is left as it was when the result is 0. Never throws. */
export function readIp(text: string, out: Uint32Array, options: IpTextOptions = BARE_IP): IpFamily {
  if (typeof text !== 'string') return 0;
  // Not a call to readIpSpan: one call level less measurably speeds up IPv4 lookups.
  const v4 = readV4(text, 0, text.length);
  return v4 >= 0 ? putV4(out, v4) : readV6Text(text, 0, text.length, out, options);
}

/** readIp on text[from, to), so a CIDR's address part is read without slicing it out. */
export function readIpSpan(
  text: string,
  from: number,
  to: number,
  out: Uint32Array,
  options: IpTextOptions = BARE_IP,
): IpFamily {
  const v4 = readV4(text, from, to);
  return v4 >= 0 ? putV4(out, v4) : readV6Text(text, from, to, out, options);
}

function putV4(out: Uint32Array, v4: number): 4 {
  out[0] = 0;
  out[1] = 0;
  out[2] = 0xffff;
  out[3] = v4;
  return 4;
}

// IPv6 with what may surround it; IPv4 never gets here, so "[1.2.3.4]" and "1.2.3.4%eth0" fail
// in readV6 whatever the options.
function readV6Text(text: string, from: number, to: number, out: Uint32Array, options: IpTextOptions): IpFamily {
  let start = from;
  let end = to;
  if (options.brackets) {
    const open = text.charCodeAt(start) === 91;
    if (open !== (text.charCodeAt(end - 1) === 93)) return 0;
    if (open) {
      start++;
      end--;
    }
  }
  if (options.zone) {
    const zone = text.indexOf('%', start);
    if (zone !== -1 && zone < end) {
      if (zone === end - 1) return 0;
      end = zone;
    }
  }
  if (!readV6(text, start, end, out)) return 0;
  return options.unmap && isV4Mapped(out) ? 4 : 6;
}

/** True for ::ffff:0:0/96, the IPv6 form dual-stack sockets give IPv4 peers. */
export function isV4Mapped(words: ArrayLike<number>, offset = 0): boolean {
  return words[offset] === 0 && words[offset + 1] === 0 && words[offset + 2] === 0xffff;
}

/** A CIDR length in text[from, to): 1-3 decimal digits without a leading zero, or -1. The caller checks the family's maximum. */
export function readPrefixLength(text: string, from: number, to = text.length): number {
  const digits = to - from;
  if (digits < 1 || digits > 3 || (digits > 1 && text.charCodeAt(from) === 48)) return -1;
  let bits = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    bits = bits * 10 + (c - 48);
  }
  return bits;
}

/** Mask of the top `bits` bits of a 32-bit word, for any bits (JS shifts are mod 32, hence the special cases). */
export function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  return bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

export function formatV4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function group(words: ArrayLike<number>, offset: number, k: number): number {
  const w = words[offset + (k >> 1)]!;
  return k & 1 ? w & 0xffff : w >>> 16;
}

/**
 * RFC 5952 text of words[offset..offset+3]: lower-case, no leading zeros, the first longest run of
 * two or more zero groups as "::". IPv4-mapped addresses are written in hex too, as URLs write them.
 */
export function formatV6(words: ArrayLike<number>, offset = 0): string {
  let best = -1;
  let bestLen = 1;
  for (let k = 0, run = 0; k < 8; k++) {
    run = group(words, offset, k) === 0 ? run + 1 : 0;
    if (run > bestLen) {
      best = k - run + 1;
      bestLen = run;
    }
  }
  let text = '';
  for (let k = 0; k < 8;) {
    if (k === best) {
      text += '::';
      k += bestLen;
      continue;
    }
    if (k > 0 && k !== best + bestLen) text += ':';
    text += group(words, offset, k).toString(16);
    k++;
  }
  return text;
}

/** Canonical text of an address readIp wrote: a dotted quad for family 4, RFC 5952 for 6. */
export function formatIp(words: ArrayLike<number>, family: 4 | 6): string {
  return family === 4 ? formatV4(words[V4_WORD]!) : formatV6(words);
}
