// Failed logins per address: refused after the limit, other addresses unaffected, forgotten after
// the window, and only a bounded number of addresses remembered.
import { describe, expect, it } from 'vitest';
import { clientKey } from '../../../src/auth/client-key.js';
import { FailedLogins } from '../../../src/auth/failed-logins.js';

describe('FailedLogins', () => {
  it('blocks an address after `failures` failures, until a window passes without one', () => {
    let now = 1_000;
    const f = new FailedLogins({ failures: 3, windowMs: 60_000, clients: 100 }, () => now);
    for (let i = 0; i < 2; i++) f.failed('203.0.113.7');
    expect(f.blocked('203.0.113.7')).toBe(false);
    f.failed('203.0.113.7');
    expect(f.blocked('203.0.113.7')).toBe(true);
    expect(f.blocked('203.0.113.8')).toBe(false);
    now += 59_000;
    expect(f.blocked('203.0.113.7')).toBe(true);
    now += 2_000;
    expect(f.blocked('203.0.113.7')).toBe(false);
  });

  it('forgets the least recently failing address beyond `clients`', () => {
    const f = new FailedLogins({ failures: 1, windowMs: 60_000, clients: 2 });
    f.failed('a');
    f.failed('b');
    f.failed('c');
    expect([f.blocked('a'), f.blocked('b'), f.blocked('c')]).toEqual([false, true, true]);
  });
});

describe('clientKey', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:aaaa::1', '20010db8:10002::/64'],
    ['2001:db8:1:2:bbbb::9', '20010db8:10002::/64'],
    ['not an address', 'not an address'],
  ])('charges %s to %s', (client, key) => {
    expect(clientKey(client)).toBe(key);
  });

  it('charges an unknown client to one shared key', () => {
    expect(clientKey(null)).toBe('');
  });
});
