// Bearer-token checks: header parsing, every named token, and the comparison going through
// crypto.timingSafeEqual over fixed-length digests.
import { timingSafeEqual } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { authenticate, bearerToken, comparison, safeEqual } from '../../../src/admin/auth.js';

const tokens = new Map([
  ['default', 'default-token-0123456789'],
  ['ops', 'ops-token-abcdefghijkl'],
]);

describe('bearerToken', () => {
  it.each([
    { header: undefined, expected: undefined },
    { header: 'Bearer abc.DEF-123_~+/=', expected: 'abc.DEF-123_~+/=' },
    { header: 'bearer abc', expected: 'abc' },
    { header: 'Bearer   abc  ', expected: 'abc' },
    { header: 'Bearer', expected: null },
    { header: 'Bearer ', expected: null },
    { header: 'Basic dXNlcjpwYXNz', expected: null },
    { header: 'Bearer a b', expected: null },
    { header: 'Bearer tök', expected: null },
    { header: 'Token abc', expected: null },
    { header: '', expected: null },
  ])('reads $header as $expected', ({ header, expected }) => {
    expect(bearerToken(header)).toBe(expected);
  });
});

describe('authenticate', () => {
  it.each([
    {
      name: 'accepts the default token by name',
      header: 'Bearer default-token-0123456789',
      expected: { ok: true, name: 'default' },
    },
    {
      name: 'accepts a named token by its name',
      header: 'Bearer ops-token-abcdefghijkl',
      expected: { ok: true, name: 'ops' },
    },
    { name: 'refuses no header as missing', header: undefined, expected: { ok: false, problem: 'missing' } },
    {
      name: 'refuses another scheme as malformed',
      header: 'Basic b3BzOnRva2Vu',
      expected: { ok: false, problem: 'malformed' },
    },
    {
      name: 'refuses a wrong token',
      header: 'Bearer default-token-012345678',
      expected: { ok: false, problem: 'wrong' },
    },
    {
      name: 'refuses a token with a suffix',
      header: 'Bearer default-token-0123456789x',
      expected: { ok: false, problem: 'wrong' },
    },
    {
      name: 'refuses a token differing in case',
      header: 'Bearer DEFAULT-TOKEN-0123456789',
      expected: { ok: false, problem: 'wrong' },
    },
  ])('$name', ({ header, expected }) => {
    expect(authenticate(header, tokens)).toEqual(expected);
  });

  it('refuses everything when no token is configured', () => {
    expect(authenticate('Bearer anything-at-all-1234', new Map())).toEqual({ ok: false, problem: 'unconfigured' });
  });
});

describe('constant-time comparison', () => {
  let spy: MockInstance<typeof timingSafeEqual>;
  beforeEach(() => {
    spy = vi.spyOn(comparison, 'equal');
  });
  afterEach(() => spy.mockRestore());

  it('is crypto.timingSafeEqual', () => {
    spy.mockRestore();
    expect(comparison.equal).toBe(timingSafeEqual);
  });

  it('compares 32-byte digests with timingSafeEqual against every token, even after a match', () => {
    expect(authenticate('Bearer default-token-0123456789', tokens)).toEqual({ ok: true, name: 'default' });
    expect(spy).toHaveBeenCalledTimes(tokens.size);
    for (const [a, b] of spy.mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });

  it('compares digests of equal length whatever the token lengths', () => {
    expect(safeEqual('short', 'a much longer string than that')).toBe(false);
    expect(safeEqual('same', 'same')).toBe(true);
    expect(spy).toHaveBeenCalledTimes(2);
    expect((spy.mock.calls[0]![0] as Buffer).length).toBe(32);
  });
});
