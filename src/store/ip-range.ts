// Addresses as the embedded store keeps them: 16 bytes, IPv4 in its IPv4-mapped IPv6 form, so that a
// CIDR of either family is one byte range (SQLite compares blobs bytewise) served by an index.
import { readIp, readPrefixLength, wordMask } from '../net/ip.js';

function bytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  for (let k = 0; k < 4; k++) view.setUint32(k * 4, words[k] as number);
  return out;
}

/** The 16 bytes of an address, or null when the text is not one. */
export function ipBytes(text: string): Uint8Array | null {
  const words = new Uint32Array(4);
  return readIp(text, words) === 0 ? null : bytes(words);
}

/** The first and last address of `addr` or `addr/len`, as 16 bytes each; null when not a CIDR. */
export function ipRange(cidr: string): { low: Uint8Array; high: Uint8Array } | null {
  const slash = cidr.indexOf('/');
  const words = new Uint32Array(4);
  const family = readIp(slash === -1 ? cidr : cidr.slice(0, slash), words);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const len = slash === -1 ? max : readPrefixLength(cidr, slash + 1);
  if (len < 0 || len > max) return null;
  const bits = len + (family === 4 ? 96 : 0);
  const low = new Uint32Array(4);
  const high = new Uint32Array(4);
  for (let k = 0; k < 4; k++) {
    const mask = wordMask(bits - 32 * k);
    low[k] = ((words[k] as number) & mask) >>> 0;
    high[k] = ((words[k] as number) | ~mask) >>> 0;
  }
  return { low: bytes(low), high: bytes(high) };
}
