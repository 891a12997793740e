// Per-client limits: concurrency counted per key and given back, and a token bucket per key.
import { describe, expect, it } from 'vitest';
import { ClientLimits } from '../../../src/proxy/client-limits.js';

describe('ClientLimits', () => {
  it('keys by the client address (limits run before authentication)', () => {
    expect(ClientLimits.key('10.0.0.5')).toBe('addr:10.0.0.5');
    expect(ClientLimits.key(null)).toBe('addr:unknown');
  });

  it('refuses the connection over perClientConnections and admits again after a release', () => {
    const limits = new ClientLimits();
    const s = { perClientConnections: 2, perClientRate: 0 };
    expect(limits.admit('a', s)).toBe('ok');
    expect(limits.admit('a', s)).toBe('ok');
    expect(limits.admit('a', s)).toBe('connections');
    expect(limits.admit('b', s)).toBe('ok');
    limits.release('a');
    expect(limits.admit('a', s)).toBe('ok');
    limits.release('a');
    limits.release('a');
    limits.release('b');
    expect(limits.active('a')).toBe(0);
  });

  it('lets a burst of `rate` through, refuses the next, and refills with time', () => {
    const limits = new ClientLimits();
    const s = { perClientConnections: 0, perClientRate: 3 };
    const t = 1_000_000;
    for (let i = 0; i < 3; i++) expect(limits.admit('a', s, t)).toBe('ok');
    expect(limits.admit('a', s, t)).toBe('rate');
    expect(limits.admit('b', s, t)).toBe('ok');
    expect(limits.admit('a', s, t + 340)).toBe('ok'); // one token back after 1/3 s
    expect(limits.admit('a', s, t + 340)).toBe('rate');
  });

  it('treats 0 as no limit', () => {
    const limits = new ClientLimits();
    for (let i = 0; i < 1000; i++) expect(limits.admit('a', { perClientConnections: 0, perClientRate: 0 })).toBe('ok');
  });
});
