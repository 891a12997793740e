// Addresses and CIDRs as the embedded store compares them: 16 bytes, IPv4 mapped into IPv6.
import { describe, expect, it } from 'vitest';
import { ipBytes, ipRange } from '../../../src/store/ip-range.js';

const hex = (b: Uint8Array | null | undefined): string | null => (b ? Buffer.from(b).toString('hex') : null);
const within = (addr: string, cidr: string): boolean => {
  const a = hex(ipBytes(addr)) as string;
  const r = ipRange(cidr);
  return r !== null && a >= (hex(r.low) as string) && a <= (hex(r.high) as string);
};

describe('ipBytes and ipRange', () => {
  it('keeps IPv4 in its IPv4-mapped IPv6 form', () => {
    expect(hex(ipBytes('10.0.2.7'))).toBe('00000000000000000000ffff0a000207');
    expect(hex(ipBytes('2001:db8::1'))).toBe('20010db8000000000000000000000001');
    expect(ipBytes('not an address')).toBeNull();
  });

  it.each([
    ['10.0.2.7', '10.0.2.0/24', true],
    ['10.0.3.7', '10.0.2.0/24', false],
    ['10.0.2.7', '10.0.2.7', true],
    ['10.0.2.8', '10.0.2.7', false],
    ['10.9.9.9', '0.0.0.0/0', true],
    ['2001:db8::1', '0.0.0.0/0', false],
    ['2001:db8::1', '2001:db8::/64', true],
    ['2001:db9::1', '2001:db8::/64', false],
    ['10.0.0.1', '::ffff:0:0/96', true],
    ['2001:db8::1', '::/0', true],
  ])('%s in %s: %s', (addr, cidr, inside) => {
    expect(within(addr, cidr)).toBe(inside);
  });

  it.each(['10.0.0.0/33', '2001:db8::/129', 'nope/8', '10.0.0.0/x'])('refuses %s', (cidr) => {
    expect(ipRange(cidr)).toBeNull();
  });
});
