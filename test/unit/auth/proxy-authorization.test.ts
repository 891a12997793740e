// Proxy-Authorization: Basic only, strict base64, a user name without ':' or control characters.
import { describe, expect, it } from 'vitest';
import { parseProxyAuthorization } from '../../../src/auth/proxy-authorization.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('parseProxyAuthorization', () => {
  const good: [string, string, { user: string; password: string }][] = [
    ['user and password', `Basic ${b64('build-agent:secret')}`, { user: 'build-agent', password: 'secret' }],
    ['a lower-case scheme', `basic ${b64('a:b')}`, { user: 'a', password: 'b' }],
    ['an upper-case scheme', `BASIC ${b64('a:b')}`, { user: 'a', password: 'b' }],
    ['a password with colons', `Basic ${b64('a:b:c::')}`, { user: 'a', password: 'b:c::' }],
    ['an empty password', `Basic ${b64('a:')}`, { user: 'a', password: '' }],
    ['UTF-8', `Basic ${b64('jürgen:pässword')}`, { user: 'jürgen', password: 'pässword' }],
    ['several spaces after the scheme', `Basic   ${b64('a:b')}`, { user: 'a', password: 'b' }],
  ];
  it.each(good)('reads %s', (_name, value, expected) => {
    expect(parseProxyAuthorization(value)).toEqual(expected);
  });

  const bad: [string, string | undefined][] = [
    ['no header', undefined],
    ['empty', ''],
    ['Bearer', `Bearer ${b64('a:b')}`],
    ['Digest', 'Digest username="a"'],
    ['no token', 'Basic'],
    ['no space', `Basic${b64('a:b')}`],
    ['base64url alphabet', 'Basic YT-_Yg=='],
    ['missing padding', `Basic ${b64('a:bc').replace(/=+$/, '')}`],
    ['bad padding', 'Basic YTpi='],
    ['non-zero trailing bits', 'Basic YTpiYx=='],
    ['a stray character', `Basic ${b64('a:b')}!`],
    ['no colon', `Basic ${b64('ab')}`],
    ['an empty user', `Basic ${b64(':b')}`],
    ['a control character in the user', `Basic ${b64('a\nb:c')}`],
    ['invalid UTF-8', `Basic ${Buffer.from([0x61, 0xff, 0x3a, 0x62]).toString('base64')}`],
    ['a huge value', `Basic ${'QUFB'.repeat(2000)}`],
  ];
  it.each(bad)('refuses %s', (_name, value) => {
    expect(parseProxyAuthorization(value)).toBeNull();
  });
});
