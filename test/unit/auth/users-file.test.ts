// The proxy users file: scrypt and htpasswd bcrypt hashes, constant-cost refusals, a bounded success
// cache, the hashing charged per client address, and errors that name the file and line without
// echoing a hash or password.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stopBcryptWorker } from '../../../src/auth/bcrypt-worker.js';
import { hashPassword } from '../../../src/auth/password-hash.js';
import { ProxyUsers } from '../../../src/auth/users-file.js';
import { isAcrEgressError } from '../../../src/errors.js';

let alice: string;
let bob: string;
// What `htpasswd -B -C 4` writes (cost 4 keeps the tests quick); $2y$ is Apache's spelling of $2b$.
const bcryptLine = bcrypt.hashSync('carol pass', 4).replace(/^\$2b\$/, '$2y$');

beforeAll(async () => {
  alice = await hashPassword('correct horse');
  bob = await hashPassword('s3cret:with:colons');
});

function errorOf(fn: () => unknown): { code: string; text: string } {
  try {
    fn();
  } catch (err) {
    if (!isAcrEgressError(err)) throw err;
    return { code: err.code, text: [err.message, ...err.details].join('\n') };
  }
  throw new Error('expected an error');
}

describe('hashPassword', () => {
  it('writes scrypt$16384$8$1$salt$key with a 16-byte salt and 32-byte key, fresh salt each time', async () => {
    const parts = alice.split('$');
    expect(parts.slice(0, 4)).toEqual(['scrypt', '16384', '8', '1']);
    expect(Buffer.from(parts[4]!, 'base64')).toHaveLength(16);
    expect(Buffer.from(parts[5]!, 'base64')).toHaveLength(32);
    expect(await hashPassword('correct horse')).not.toBe(alice);
  });
});

describe('ProxyUsers', () => {
  it('verifies the right password and refuses a wrong one or an unknown user', async () => {
    const users = ProxyUsers.parse(`# agents\n\nalice:${alice}\r\nbob:${bob}\n`, 'users.txt');
    expect(users.size).toBe(2);
    expect(await users.verify('alice', 'correct horse')).toBe(true);
    expect(await users.verify('bob', 's3cret:with:colons')).toBe(true);
    expect(await users.verify('alice', 'correct horse ')).toBe(false);
    expect(await users.verify('alice', 's3cret:with:colons')).toBe(false);
    expect(await users.verify('carol', 'correct horse')).toBe(false);
    expect(await users.verify('', '')).toBe(false);
  });

  it('answers from the cache for repeated and concurrent checks, never for another password', async () => {
    const users = ProxyUsers.parse(`alice:${alice}\n`, 'users.txt');
    const all = await Promise.all(Array.from({ length: 8 }, () => users.verify('alice', 'correct horse')));
    expect(all.every((ok) => ok)).toBe(true);
    expect(await users.verify('alice', 'correct horse')).toBe(true);
    expect(await users.verify('alice', 'correct hors')).toBe(false);
  });

  it('answers a burst of distinct checks, two scrypt runs at a time, each correctly', async () => {
    const users = ProxyUsers.parse(`alice:${alice}\nbob:${bob}\n`, 'users.txt');
    const tries: [string, string, boolean][] = [
      ['alice', 'wrong 1', false],
      ['bob', 's3cret:with:colons', true],
      ['carol', 'x', false],
      ['alice', 'wrong 2', false],
      ['alice', 'correct horse', true],
      ['bob', 'wrong', false],
    ];
    const answers = await Promise.all(tries.map(([u, p]) => users.verify(u, p)));
    expect(answers).toEqual(tries.map(([, , ok]) => ok));
    // A remembered refusal is for that password only.
    expect(await users.verify('alice', 'wrong 1')).toBe(false);
    expect(await users.verify('alice', 'correct horse')).toBe(true);
  });

  it.each(['$2y$', '$2b$', '$2a$'])(
    'verifies a bcrypt %s line next to scrypt lines, in the same file',
    async (prefix) => {
      const line = `${prefix}${bcryptLine.slice(4)}`;
      const users = ProxyUsers.parse(`alice:${alice}\ncarol:${line}\n`, 'users.txt');
      expect(users.entries).toEqual([
        { name: 'alice', kind: 'scrypt', line: 1 },
        { name: 'carol', kind: 'bcrypt', line: 2 },
      ]);
      expect(await users.verify('carol', 'carol pass')).toBe(true);
      expect(await users.verify('carol', 'carol pas')).toBe(false);
      expect(await users.verify('carol', 'correct horse')).toBe(false);
      expect(await users.verify('alice', 'correct horse')).toBe(true);
    },
  );

  it('refuses (never throws) when the bcrypt worker dies mid-check, and starts a new one after', async () => {
    const users = ProxyUsers.parse(`carol:${bcryptLine}\n`, 'users.txt');
    const pending = users.verify('carol', 'carol pass');
    await stopBcryptWorker();
    expect(await pending).toBe(false);
    const again = ProxyUsers.parse(`carol:${bcryptLine}\n`, 'users.txt');
    expect(await again.verify('carol', 'carol pass')).toBe(true);
  });

  it('keeps no cache across a reload: a new file with a new hash refuses the old password', async () => {
    const before = ProxyUsers.parse(`alice:${alice}\n`, 'users.txt');
    expect(await before.verify('alice', 'correct horse')).toBe(true);
    const after = ProxyUsers.parse(`alice:${bob}\n`, 'users.txt');
    expect(await after.verify('alice', 'correct horse')).toBe(false);
  });

  it('accepts an empty file (no one may pass)', async () => {
    const users = ProxyUsers.parse('# nobody yet\n', 'users.txt');
    expect(users.size).toBe(0);
    expect(await users.verify('alice', 'correct horse')).toBe(false);
  });

  const bad: [string, (h: string) => string, string][] = [
    ['no colon', () => 'alice', 'users.txt:1: expected name:hash'],
    ['a bad name', (h) => `al ice:${h}`, 'users.txt:1: the user name must'],
    ['a duplicate', (h) => `alice:${h}\nalice:${h}`, 'users.txt:2: user alice appears more than once'],
    [
      'a cut bcrypt hash',
      () => 'alice:$2b$10$abcdefghijklmnopqrstuv',
      'users.txt:1: user alice: the hash is not bcrypt',
    ],
    ['a bcrypt cost of 15', () => `alice:${bcryptLine.replace('$04$', '$15$')}`, 'bcrypt cost must be 4 to 14'],
    [
      '{SHA}',
      () => 'alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=',
      'users.txt:1: user alice: {SHA} (unsalted SHA-1), too weak',
    ],
    ['{SSHA}', () => 'alice:{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', '{SSHA} (salted SHA-1), too weak'],
    [
      'MD5 $apr1$',
      () => 'alice:$apr1$abcdefgh$0123456789abcdefghijkl',
      'users.txt:1: user alice: MD5 ($apr1$), too weak',
    ],
    ['MD5-crypt $1$', () => 'alice:$1$abcdefgh$0123456789abcdefghijkl', 'MD5-crypt ($1$), too weak'],
    ['SHA-crypt $6$', () => 'alice:$6$abcdefgh$0123456789abcdefghijkl', 'SHA-crypt ($5$/$6$), too weak'],
    ['DES crypt', () => 'alice:rl0uE6h6jx0Ns', 'users.txt:1: user alice: not a supported hash'],
    ['a plain password', () => 'alice:hunter2', 'use a bcrypt line (htpasswd -B) or scrypt (acr-egress users add)'],
    ['an unknown $ scheme', () => 'alice:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'not a supported hash'],
    ['N not a power of two', (h) => `alice:${h.replace('$16384$', '$16383$')}`, 'N must be a power of two'],
    ['N too large', (h) => `alice:${h.replace('$16384$', '$2097152$')}`, 'N must be a power of two'],
    ['r of 0', (h) => `alice:${h.replace('$8$1$', '$0$1$')}`, 'scrypt r must be'],
    ['a short salt', (h) => `alice:${h.replace(/\$[^$]+(\$[^$]+)$/, '$AAAA$1')}`, 'the salt must be base64'],
    ['a salt that is not base64', (h) => `alice:${h.replace(/\$[^$]+(\$[^$]+)$/, '$!!!!!!!!!!!!$1')}`, 'salt'],
    ['a short key', (h) => `alice:${h.replace(/\$[^$]+$/, '$AAAA')}`, 'the key must be base64'],
  ];
  it.each(bad)('refuses %s with CONFIG_INVALID naming the file and line', (_name, line, message) => {
    const { code, text } = errorOf(() => ProxyUsers.parse(`${line(alice)}\n`, 'users.txt'));
    expect(code).toBe('CONFIG_INVALID');
    expect(text).toContain(message);
    const [, , , , salt, key] = alice.split('$');
    expect(text).not.toContain(salt);
    expect(text).not.toContain(key);
  });

  it('reports the line number of a refused format after good lines', () => {
    const text = `# agents\nalice:${alice}\ncarol:${bcryptLine}\ndave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n`;
    const { text: message } = errorOf(() => ProxyUsers.parse(text, 'users.txt'));
    expect(message).toBe(
      'users.txt:4: user dave: {SHA} (unsalted SHA-1), too weak: use a bcrypt line (htpasswd -B) or scrypt (acr-egress users add)',
    );
    expect(message).not.toContain('W6ph5');
  });

  it('reports every bad line together', () => {
    const { text } = errorOf(() => ProxyUsers.parse(`x\n# ok\nalice:${alice}\ny\n`, 'users.txt'));
    expect(text).toContain('users.txt: 2 invalid lines');
    expect(text).toContain('users.txt:1:');
    expect(text).toContain('users.txt:4:');
  });

  it('never echoes a line that may be a pasted password', () => {
    const { text } = errorOf(() => ProxyUsers.parse('hunter2-is-my-password\n', 'users.txt'));
    expect(text).not.toContain('hunter2');
  });

  it('loads a file, and says which file when it cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-users-'));
    const file = join(dir, 'users.txt');
    writeFileSync(file, `alice:${alice}\n`);
    expect(await ProxyUsers.load(file).verify('alice', 'correct horse')).toBe(true);
    const missing = errorOf(() => ProxyUsers.load(join(dir, 'nope.txt')));
    expect(missing.code).toBe('CONFIG_UNREADABLE');
    expect(missing.text).toContain('nope.txt');
    expect(missing.text).toContain('ENOENT');
  });
});

describe('ProxyUsers.attempt: the hashing charged to the client address', () => {
  afterEach(async () => {
    await stopBcryptWorker();
  });

  it('refuses a flooding address with busy beyond its queue, while another address gets its turn', async () => {
    const users = ProxyUsers.parse(`alice:${alice}\n`, 'users.txt');
    const flood = Array.from({ length: 40 }, (_, i) => users.attempt('alice', `wrong ${i}`, '127.0.0.2'));
    const valid = users.attempt('alice', 'correct horse', '127.0.0.1');
    const answers = await Promise.all(flood);
    expect(await valid).toBe('ok');
    // Two run at once and eight wait: the other thirty are refused without hashing.
    expect(answers.filter((a) => a === 'wrong')).toHaveLength(10);
    expect(answers.filter((a) => a === 'busy')).toHaveLength(30);
  });

  it('throttles an address after 10 failures, but not its already verified credentials or other addresses', async () => {
    const users = ProxyUsers.parse(`alice:${alice}\nbob:${bob}\n`, 'users.txt');
    expect(await users.attempt('alice', 'correct horse', '2001:db8::1')).toBe('ok');
    for (let i = 0; i < 10; i++) expect(await users.attempt('alice', `guess ${i}`, '2001:db8::1')).toBe('wrong');
    // The same /64 is the same client.
    expect(await users.attempt('bob', 's3cret:with:colons', '2001:db8::2')).toBe('throttled');
    expect(await users.attempt('alice', 'guess 10', '2001:db8::1')).toBe('throttled');
    expect(await users.attempt('alice', 'correct horse', '2001:db8::1')).toBe('ok');
    expect(await users.attempt('bob', 's3cret:with:colons', '2001:db8:0:1::1')).toBe('ok');
  });
});
