// ProxyAuth: the header read, the client address passed on for the fair share of hashing, and each
// refusal's detail (never the password).
import { describe, expect, it } from 'vitest';
import type { Attempt } from '../../../src/auth/users-file.js';
import { ProxyAuth } from '../../../src/proxy/proxy-auth.js';

const basic = (creds: string): string => `Basic ${Buffer.from(creds).toString('base64')}`;

describe('ProxyAuth.check', () => {
  it.each<[string, string | undefined, Attempt, unknown]>([
    ['no header', undefined, 'ok', { ok: false, detail: 'no Proxy-Authorization header' }],
    ['a Bearer token', 'Bearer abc', 'ok', { ok: false, detail: 'Proxy-Authorization is not Basic credentials' }],
    ['the right password', basic('agent:pw'), 'ok', { ok: true, user: 'agent' }],
    ['a wrong password', basic('agent:nope'), 'wrong', { ok: false, detail: 'unknown user or wrong password' }],
    [
      'a client with too many checks waiting',
      basic('agent:guess'),
      'busy',
      { ok: false, detail: 'too many password checks waiting from this client' },
    ],
    [
      'a client that failed too often',
      basic('agent:guess'),
      'throttled',
      { ok: false, detail: 'too many failed logins from this client lately' },
    ],
  ])('answers %s', async (_name, header, attempt, expected) => {
    const calls: [string, string, string | null][] = [];
    const auth = new ProxyAuth({
      attempt: (user, password, client) => {
        calls.push([user, password, client]);
        return Promise.resolve(attempt);
      },
    });
    const result = await auth.check(header, '203.0.113.7');
    expect(result).toEqual(expected);
    expect(JSON.stringify(result)).not.toMatch(/pw|nope|guess/);
    // The users file is asked only for Basic credentials, and is told who asks.
    if (header?.startsWith('Basic')) expect(calls).toEqual([['agent', expect.any(String), '203.0.113.7']]);
    else expect(calls).toEqual([]);
  });
});
