// Compiled address ranges: sorted, merged intervals searched by bisection, so a lookup costs
// one scan of the address string and ~20 word comparisons, with no allocation and no BigInt.

import { AcrEgressError } from '../errors.js';
import type { AddressRangeSet } from './types.js';
import {
  BARE_IP,
  formatV4,
  formatV6,
  readIp,
  readIpSpan,
  readPrefixLength,
  V4_WORD,
  wordMask,
  type IpTextOptions,
} from '../net/ip.js';

// Formatting lives with the parser; these names stay here for the modules that import them.
export { formatV4, formatV6 };

export type ParsedAddress = { v: 4; n: number } | { v: 6; w: Uint32Array };

/** A CIDR prefix as its first and last address; IPv6 bounds are 4 big-endian uint32 words. */
export type ParsedPrefix =
  { v: 4; start: number; end: number; bits: number } | { v: 6; start: Uint32Array; end: Uint32Array; bits: number };

// Lookups read bare addresses: a zone id or brackets is not an address the resolver returns.
const LOOKUP_TEXT: IpTextOptions = { brackets: false, zone: false, unmap: true };

// Scratch for has(): lookups are synchronous, so one module-level buffer is safe and keeps has() allocation-free.
const probe = new Uint32Array(4);

/** Reads an address into out: 4 (out[0] holds it; IPv4-mapped IPv6 counts as IPv4), 6 (out[0..3]) or 0. */
export function readAddress(ip: string, out: Uint32Array): 0 | 4 | 6 {
  const family = readIp(ip, out, LOOKUP_TEXT);
  if (family === 4) out[0] = out[V4_WORD]!;
  return family;
}

export function parseAddress(ip: string): ParsedAddress | null {
  const w = new Uint32Array(4);
  const kind = readAddress(ip, w);
  if (kind === 4) return { v: 4, n: w[0]! };
  return kind === 6 ? { v: 6, w } : null;
}

/**
 * Reads "a.b.c.d/n" or "x::y/n" into out: IPv4 bounds in out[0], out[1]; IPv6 bounds in out[0..3]
 * and out[4..7]; the length in out[8]. Returns the family, or 0. Host bits are masked off, as
 * CIDR notation means. Writing into a caller's buffer keeps validation of 93k prefixes allocation-free.
 */
function readPrefix(text: string, out: Uint32Array): 0 | 4 | 6 {
  if (typeof text !== 'string') return 0;
  const slash = text.indexOf('/');
  const bits = slash < 0 ? -1 : readPrefixLength(text, slash + 1);
  const family = bits < 0 ? 0 : readIpSpan(text, 0, slash, out, BARE_IP);
  if (family === 0 || bits > (family === 4 ? 32 : 128)) return 0;
  out[8] = bits;
  if (family === 4) {
    const mask = wordMask(bits);
    out[0] = out[V4_WORD]! & mask;
    out[1] = out[0] | ~mask;
    return 4;
  }
  for (let k = 0; k < 4; k++) {
    const mask = wordMask(bits - 32 * k);
    out[k] = out[k]! & mask;
    out[k + 4] = out[k]! | ~mask;
  }
  return 6; // even ::ffff:0:0/96, which has() never reaches: it looks mapped addresses up as IPv4
}

const prefixScratch = new Uint32Array(9);

export function isValidPrefix(text: string): boolean {
  return readPrefix(text, prefixScratch) !== 0;
}

export function parsePrefix(text: string): ParsedPrefix | null {
  const out = new Uint32Array(9);
  const kind = readPrefix(text, out);
  if (kind === 4) return { v: 4, start: out[0]!, end: out[1]!, bits: out[8]! };
  return kind === 6 ? { v: 6, start: out.slice(0, 4), end: out.slice(4, 8), bits: out[8]! } : null;
}

/** Compares words a[ai..ai+3] with b[bi..bi+3] as unsigned 128-bit numbers. */
function compare128(a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  for (let k = 0; k < 4; k++) {
    const x = a[ai + k]!;
    const y = b[bi + k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

const successor = new Uint32Array(4);

/** True when the range starting at r[start] overlaps or directly follows the one ending at r[end]. */
function touches128(r: Uint32Array, end: number, start: number): boolean {
  if (compare128(r, start, r, end) <= 0) return true;
  successor.set(r.subarray(end, end + 4));
  for (let k = 3; k >= 0; k--) {
    successor[k] = successor[k]! + 1;
    if (successor[k] !== 0) break;
    if (k === 0) return true; // end was the last address: nothing can follow it
  }
  return compare128(r, start, successor, 0) <= 0;
}

// Building reuses these growing buffers: allocating typed arrays per tag (3,000 tags) cost more
// than the sorting. Only the merged result is copied out.
let pending4 = new Float64Array(1024);
let pending6 = new Uint32Array(1024);

function reserve(count4: number, words6: number): void {
  if (pending4.length < count4 * 2) pending4 = new Float64Array(count4 * 4);
  if (pending6.length < words6) pending6 = new Uint32Array(words6 * 2);
}

/** Drops buffers a large union grew, so they are not held for the life of the process. */
function release(): void {
  if (pending4.length > 1 << 17) pending4 = new Float64Array(1024);
  if (pending6.length > 1 << 17) pending6 = new Uint32Array(1024);
}

// Microsoft lists each tag's prefixes in address order, so the sort is usually skipped. Otherwise
// sorting start * 2^21 + index as doubles (exact below 2^53) is much faster than a comparator.
const INDEX_SPACE = 2 ** 21;

/** Sorts and merges the [start, end] pairs in pending4[0, 2 * count). */
function mergeV4(count: number): Uint32Array {
  let r = pending4;
  let sorted = true;
  for (let i = 2; i < count * 2 && sorted; i += 2) sorted = r[i - 2]! <= r[i]!;
  if (!sorted) {
    const keys = new Float64Array(count);
    for (let i = 0; i < count; i++) keys[i] = r[i * 2]! * INDEX_SPACE + i;
    const order =
      count < INDEX_SPACE
        ? keys.sort().map((key) => key % INDEX_SPACE)
        : sortedIndices(count, (a, b) => r[a * 2]! - r[b * 2]!);
    const copy = new Float64Array(count * 2);
    order.forEach((i, k) => copy.set(r.subarray(i * 2, i * 2 + 2), k * 2));
    r = copy;
  }
  // In place: the write position never passes the read position.
  let used = 0;
  for (let i = 0; i < count * 2; i += 2) {
    if (used > 0 && r[i]! <= r[used - 1]! + 1) r[used - 1] = Math.max(r[used - 1]!, r[i + 1]!);
    else {
      r[used++] = r[i]!;
      r[used++] = r[i + 1]!;
    }
  }
  return Uint32Array.from(r.subarray(0, used));
}

/** Sorts and merges the 8-word [start, end] records in pending6[0, words). */
function mergeV6(words: number): Uint32Array {
  let r = pending6;
  const count = words / 8;
  let sorted = true;
  for (let i = 8; i < words && sorted; i += 8) sorted = compare128(r, i - 8, r, i) <= 0;
  if (!sorted) {
    const copy = new Uint32Array(words);
    sortedIndices(count, (a, b) => compare128(r, a * 8, r, b * 8)).forEach((i, k) =>
      copy.set(r.subarray(i * 8, i * 8 + 8), k * 8),
    );
    r = copy;
  }
  let used = 0;
  for (let i = 0; i < words; i += 8) {
    if (used > 0 && touches128(r, used - 4, i)) {
      if (compare128(r, i + 4, r, used - 4) > 0) r.copyWithin(used - 4, i + 4, i + 8);
    } else {
      r.copyWithin(used, i, i + 8);
      used += 8;
    }
  }
  return r.slice(0, used);
}

function sortedIndices(count: number, compare: (a: number, b: number) => number): number[] {
  return Array.from({ length: count }, (_, i) => i).sort(compare);
}

export class RangeSet implements AddressRangeSet {
  static readonly empty = new RangeSet(new Uint32Array(0), new Uint32Array(0), 0);

  readonly prefixCount: number;
  /** [start, end] pairs of uint32, sorted, disjoint and never adjacent. */
  readonly #v4: Uint32Array;
  /** 8 words per range: start (4 words) then end (4 words), sorted, disjoint and never adjacent. */
  readonly #v6: Uint32Array;

  private constructor(v4: Uint32Array, v6: Uint32Array, prefixCount: number) {
    this.#v4 = v4;
    this.#v6 = v6;
    this.prefixCount = prefixCount;
  }

  /** Throws SERVICE_TAGS_INVALID on a prefix that is not IPv4 or IPv6 CIDR. */
  static fromPrefixes(prefixes: readonly string[]): RangeSet {
    reserve(prefixes.length, prefixes.length * 8);
    let at4 = 0;
    let at6 = 0;
    for (const text of prefixes) {
      const kind = readPrefix(text, prefixScratch);
      if (kind === 0) {
        throw new AcrEgressError('SERVICE_TAGS_INVALID', `${JSON.stringify(text)} is not a valid IPv4 or IPv6 prefix`);
      }
      if (kind === 4) {
        pending4[at4++] = prefixScratch[0]!;
        pending4[at4++] = prefixScratch[1]!;
      } else {
        pending6.set(prefixScratch.subarray(0, 8), at6);
        at6 += 8;
      }
    }
    const set = new RangeSet(mergeV4(at4 / 2), mergeV6(at6), prefixes.length);
    release();
    return set;
  }

  /** Accepts AddressRangeSet so sets from ServiceTagIndex.rangesOf() combine without casts; all must be RangeSets. */
  static union(sets: Iterable<AddressRangeSet>): RangeSet {
    const list = [...sets].map((set) => {
      if (set instanceof RangeSet) return set;
      throw new TypeError('RangeSet.union() combines RangeSet instances only');
    });
    reserve(
      list.reduce((n, set) => n + set.#v4.length / 2, 0),
      list.reduce((n, set) => n + set.#v6.length, 0),
    );
    let at4 = 0;
    let at6 = 0;
    for (const set of list) {
      pending4.set(set.#v4, at4);
      at4 += set.#v4.length;
      pending6.set(set.#v6, at6);
      at6 += set.#v6.length;
    }
    const prefixCount = list.reduce((n, set) => n + set.prefixCount, 0);
    const union = new RangeSet(mergeV4(at4 / 2), mergeV6(at6), prefixCount);
    release();
    return union;
  }

  get v4RangeCount(): number {
    return this.#v4.length / 2;
  }

  get v6RangeCount(): number {
    return this.#v6.length / 8;
  }

  has(ip: string): boolean {
    const kind = readIp(ip, probe, LOOKUP_TEXT);
    return kind === 4 ? this.hasV4(probe[V4_WORD]!) : kind === 6 && this.hasV6(probe);
  }

  /** Membership of an address already parsed to a uint32, for callers probing many sets. */
  hasV4(n: number): boolean {
    const r = this.#v4;
    let lo = 0;
    let hi = (r.length >> 1) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid * 2]! > n) hi = mid - 1;
      else if (r[mid * 2 + 1]! < n) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** Membership of an IPv6 address already parsed to 4 big-endian words. */
  hasV6(w: Uint32Array): boolean {
    const r = this.#v6;
    let lo = 0;
    let hi = (r.length >> 3) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compare128(r, mid * 8, w, 0) > 0) hi = mid - 1;
      else if (compare128(r, mid * 8 + 4, w, 0) < 0) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** The merged ranges as first/last address, IPv4 first (for `tags show` and tests). */
  ranges(): Array<{ first: string; last: string }> {
    const out: Array<{ first: string; last: string }> = [];
    for (let i = 0; i < this.#v4.length; i += 2)
      out.push({ first: formatV4(this.#v4[i]!), last: formatV4(this.#v4[i + 1]!) });
    for (let i = 0; i < this.#v6.length; i += 8)
      out.push({ first: formatV6(this.#v6, i), last: formatV6(this.#v6, i + 4) });
    return out;
  }
}
