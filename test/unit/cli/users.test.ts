// `acr-egress users add|list|remove`: the password from stdin (12 characters unless --allow-short),
// a 0600 file created or rewritten atomically, htpasswd bcrypt lines kept, in-process and as a real process.
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { ProxyUsers } from '../../../src/auth/users-file.js';
import type { Io } from '../../../src/cli/output.js';
import type { Command } from '../../../src/cli/command.js';
import { main } from '../../../src/cli/main.js';
import { readPasswordLine, runUsers, usersCommand } from '../../../src/cli/users.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'acr-egress-users-cli-'));
}

async function users(argv: string[], stdin: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  // Through main(), as the CLI runs it: usage errors become exit 2 with one line.
  const command: Command = {
    ...usersCommand,
    run: (i, a) => runUsers(i, a, { stdin: Readable.from([Buffer.from(stdin)]) }),
  };
  const code = await main(['users', ...argv], io, [command]);
  return { code, out, err };
}

describe('acr-egress users add (in-process)', () => {
  it('creates the file with mode 0600 and a hash that verifies', async () => {
    const dir = tempDir();
    const file = join(dir, 'users.txt');
    const r = await users(['add', '--file', file, 'build-agent'], 'secret-for-ci\n');
    expect(r).toMatchObject({ code: 0, out: [`added user build-agent in ${file}`] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^build-agent:scrypt\$16384\$8\$1\$[^$]+\$[^$]+\n$/);
    expect(readFileSync(file, 'utf8')).not.toContain('secret');
    expect(await ProxyUsers.load(file).verify('build-agent', 'secret-for-ci')).toBe(true);
    expect(readdirSync(dir)).toEqual(['users.txt']);
  });

  it("replaces the user's line, keeps comments, other users and the file's mode", async () => {
    const file = join(tempDir(), 'users.txt');
    await users(['add', '--file', file, 'alice'], 'password one\n');
    await users(['add', '--file', file, 'bob'], 'password two\r\n');
    writeFileSync(file, `# agents\n${readFileSync(file, 'utf8')}`);
    chmodSync(file, 0o640);
    const r = await users(['add', '--file', file, 'alice'], 'password three');
    expect(r).toMatchObject({ code: 0, out: [`updated user alice in ${file}`] });
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[0]).toBe('# agents');
    expect(lines.filter((l) => l.startsWith('alice:'))).toHaveLength(1);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const loaded = ProxyUsers.load(file);
    expect(loaded.size).toBe(2);
    expect(await loaded.verify('alice', 'password three')).toBe(true);
    expect(await loaded.verify('alice', 'password one')).toBe(false);
    expect(await loaded.verify('bob', 'password two')).toBe(true);
  });

  const refused: [string, string[], string, string][] = [
    ['an empty password', ['add', '--file', 'F', 'alice'], '\n', 'refusing an empty password'],
    ['no stdin at all', ['add', '--file', 'F', 'alice'], '', 'refusing an empty password'],
    ['a password of 11 characters', ['add', '--file', 'F', 'alice'], '12345678901\n', 'shorter than 12 characters'],
    ['11 characters of 2 bytes each', ['add', '--file', 'F', 'alice'], `${'é'.repeat(11)}\n`, 'shorter than 12'],
    ['a name with a colon', ['add', '--file', 'F', 'al:ice'], 'long enough pw\n', 'is not a user name'],
    ['no --file', ['add', 'alice'], 'long enough pw\n', 'users add needs --file'],
    ['list without --file', ['list'], '', 'users list needs --file'],
    ['list with a NAME', ['list', '--file', 'F', 'alice'], '', 'users list takes no NAME'],
    ['remove without a NAME', ['remove', '--file', 'F'], '', 'users remove takes one NAME (got 0)'],
    ['remove of a bad name', ['remove', '--file', 'F', 'al ice'], '', 'is not a user name'],
    ['--allow-short with remove', ['remove', '--allow-short', '--file', 'F', 'alice'], '', 'is for users add'],
    ['another subcommand', ['delete', '--file', 'F', 'alice'], '', 'users takes add, list or remove'],
    ['a prototype name as subcommand', ['toString', '--file', 'F'], '', 'users takes add, list or remove'],
    ['an unknown flag', ['add', '--fil', 'F', 'alice'], 'long enough pw\n', 'unknown option --fil'],
  ];
  it.each(refused)('refuses %s with exit 2 and writes nothing', async (_name, argv, stdin, message) => {
    const dir = tempDir();
    const r = await users(
      argv.map((a) => (a === 'F' ? join(dir, 'users.txt') : a)),
      stdin,
    );
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toContain(message);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('accepts a short password with --allow-short', async () => {
    const file = join(tempDir(), 'users.txt');
    const r = await users(['add', '--allow-short', '--file', file, 'test'], 'pw\n');
    expect(r).toMatchObject({ code: 0, out: [`added user test in ${file}`] });
    expect(await ProxyUsers.load(file).verify('test', 'pw')).toBe(true);
  });

  it('refuses to rewrite a broken file and names its bad line', async () => {
    const file = join(tempDir(), 'users.txt');
    writeFileSync(file, 'alice:not-a-hash\n');
    const r = await users(['add', '--file', file, 'bob'], 'long enough pw\n');
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toContain(`${file}:1: user alice: not a supported hash`);
    expect(readFileSync(file, 'utf8')).toBe('alice:not-a-hash\n');
  });

  it('reads only the first line and bounds its length', async () => {
    expect(await readPasswordLine(Readable.from([Buffer.from('ab'), Buffer.from('c\nrest\n')]))).toBe('abc');
    await expect(readPasswordLine(Readable.from([Buffer.alloc(5000, 0x61)]))).rejects.toThrow('longer than');
  });
});

describe('acr-egress users list and remove (in-process)', () => {
  /** A file with a comment, an htpasswd bcrypt line and two scrypt users, mode 0600. */
  async function usersFile(): Promise<string> {
    const file = join(tempDir(), 'users.txt');
    await users(['add', '--file', file, 'alice'], 'alice password\n');
    await users(['add', '--file', file, 'bob'], 'bob password 12\n');
    writeFileSync(
      file,
      `# agents\ncarol:${bcrypt.hashSync('carol password', 4).replace('$2b$', '$2y$')}\n${readFileSync(file, 'utf8')}`,
    );
    chmodSync(file, 0o600);
    return file;
  }

  it('lists the names and hash kinds in file order, never a hash', async () => {
    const file = await usersFile();
    const r = await users(['list', '--file', file], '');
    expect(r).toMatchObject({ code: 0, out: ['carol  bcrypt', 'alice  scrypt', 'bob    scrypt'], err: [] });
    expect(r.out.join('\n')).not.toContain('$');
  });

  it('warns, without refusing, about a file every user of the host can read (htpasswd -c makes 0644)', async () => {
    const file = await usersFile();
    chmodSync(file, 0o644);
    const warning = `acr-egress users: ${file} is readable by every user of this host (mode 0644): chmod 600 it`;
    expect(await users(['list', '--file', file], '')).toMatchObject({ code: 0, err: [warning] });
    expect(await users(['remove', '--file', file, 'bob'], '')).toMatchObject({ code: 0, err: [warning] });
    expect(statSync(file).mode & 0o777).toBe(0o644);
    chmodSync(file, 0o640);
    expect(await users(['list', '--file', file], '')).toMatchObject({ code: 0, err: [] });
  });

  it('lists nothing for a file with no users', async () => {
    const file = join(tempDir(), 'users.txt');
    writeFileSync(file, '# nobody yet\n');
    expect(await users(['list', '--file', file], '')).toMatchObject({ code: 0, out: [] });
  });

  it('removes a user through a rename: the other lines as they were, mode 0600, no temp file left', async () => {
    const file = await usersFile();
    const before = readFileSync(file, 'utf8');
    const inode = statSync(file).ino;
    const r = await users(['remove', '--file', file, 'alice'], '');
    expect(r).toMatchObject({ code: 0, out: [`removed user alice from ${file}`] });
    expect(readFileSync(file, 'utf8')).toBe(
      before
        .split('\n')
        .filter((l) => !l.startsWith('alice:'))
        .join('\n'),
    );
    expect(statSync(file).ino).not.toBe(inode);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(file, '..'))).toEqual(['users.txt']);
    const loaded = ProxyUsers.load(file);
    expect(loaded.entries.map((e) => e.name)).toEqual(['carol', 'bob']);
    expect(await loaded.verify('carol', 'carol password')).toBe(true);
    expect(await loaded.verify('alice', 'alice password')).toBe(false);
  });

  it('keeps mode 0600 across add and remove whatever the umask', async () => {
    const file = join(tempDir(), 'users.txt');
    const old = process.umask(0o000);
    try {
      await users(['add', '--file', file, 'alice'], 'alice password\n');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      await users(['add', '--file', file, 'bob'], 'bob password 12\n');
      await users(['remove', '--file', file, 'alice'], '');
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it('says so, exit 1, for a user who is not in the file, and leaves the file alone', async () => {
    const file = await usersFile();
    const before = readFileSync(file, 'utf8');
    const r = await users(['remove', '--file', file, 'dave'], '');
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`acr-egress: no user dave in ${file} (see acr-egress users list --file ${file})`]);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it.each([
    ['{SHA}', 'legacy:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', 'user legacy: {SHA} (unsalted SHA-1), too weak'],
    ['MD5 $apr1$', 'legacy:$apr1$abcdefgh$0123456789abcdefghijkl', 'user legacy: MD5 ($apr1$), too weak'],
    ['a plain password', 'legacy:hunter2', 'user legacy: not a supported hash'],
  ])('refuses to list or rewrite a file with a %s line, naming the line', async (_name, line, message) => {
    const file = await usersFile();
    appendFileSync(file, `${line}\n`);
    const before = readFileSync(file, 'utf8');
    for (const argv of [['list'], ['remove', 'bob']]) {
      const r = await users([argv[0]!, '--file', file, ...argv.slice(1)], '');
      expect(r.code).toBe(2);
      expect(r.err.join('\n')).toContain(`${file}:5: ${message}`);
      expect(r.err.join('\n')).not.toContain(line.slice(7));
    }
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('answers exit 2 naming the file when it does not exist (list, remove) or its folder does not (add)', async () => {
    const missing = join(tempDir(), 'nope', 'users.txt');
    const list = await users(['list', '--file', missing], '');
    expect(list.code).toBe(2);
    expect(list.err.join('\n')).toContain(`${missing}: the users file cannot be read (ENOENT)`);
    const add = await users(['add', '--file', missing, 'alice'], 'alice password\n');
    expect(add.code).toBe(1);
    expect(add.err.join('\n')).toContain('ENOENT');
  });
});

describe('acr-egress users add (real process)', () => {
  it('reads the password from a pipe and writes a file the gateway can load', async () => {
    const file = join(tempDir(), 'users.txt');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'users', 'add', '--file', file, 'ci'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end('p@ss word of ci\n');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toBe(`added user ci in ${file}\n`);
    expect(await ProxyUsers.load(file).verify('ci', 'p@ss word of ci')).toBe(true);
  });
});
