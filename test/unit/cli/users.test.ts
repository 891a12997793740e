// `acr-egress users add`: the password from stdin, a 0600 file created or a line replaced atomically,
// in-process and as a real process.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
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
    const r = await users(['add', '--file', file, 'build-agent'], 'secret\n');
    expect(r).toMatchObject({ code: 0, out: [`added user build-agent in ${file}`] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^build-agent:scrypt\$16384\$8\$1\$[^$]+\$[^$]+\n$/);
    expect(readFileSync(file, 'utf8')).not.toContain('secret');
    expect(await ProxyUsers.load(file).verify('build-agent', 'secret')).toBe(true);
    expect(readdirSync(dir)).toEqual(['users.txt']);
  });

  it("replaces the user's line, keeps comments, other users and the file's mode", async () => {
    const file = join(tempDir(), 'users.txt');
    await users(['add', '--file', file, 'alice'], 'one\n');
    await users(['add', '--file', file, 'bob'], 'two\r\n');
    writeFileSync(file, `# agents\n${readFileSync(file, 'utf8')}`);
    chmodSync(file, 0o640);
    const r = await users(['add', '--file', file, 'alice'], 'three');
    expect(r).toMatchObject({ code: 0, out: [`updated user alice in ${file}`] });
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[0]).toBe('# agents');
    expect(lines.filter((l) => l.startsWith('alice:'))).toHaveLength(1);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const loaded = ProxyUsers.load(file);
    expect(loaded.size).toBe(2);
    expect(await loaded.verify('alice', 'three')).toBe(true);
    expect(await loaded.verify('alice', 'one')).toBe(false);
    expect(await loaded.verify('bob', 'two')).toBe(true);
  });

  const refused: [string, string[], string, string][] = [
    ['an empty password', ['add', '--file', 'F', 'alice'], '\n', 'refusing an empty password'],
    ['no stdin at all', ['add', '--file', 'F', 'alice'], '', 'refusing an empty password'],
    ['a name with a colon', ['add', '--file', 'F', 'al:ice'], 'pw\n', 'is not a user name'],
    ['no --file', ['add', 'alice'], 'pw\n', 'users add needs --file'],
    ['another subcommand', ['remove', '--file', 'F', 'alice'], 'pw\n', 'users takes add'],
    ['an unknown flag', ['add', '--fil', 'F', 'alice'], 'pw\n', 'unknown option --fil'],
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

  it('refuses to rewrite a broken file and names its bad line', async () => {
    const file = join(tempDir(), 'users.txt');
    writeFileSync(file, 'alice:not-a-hash\n');
    const r = await users(['add', '--file', file, 'bob'], 'pw\n');
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toContain(`${file}:1: user alice: not a supported hash`);
    expect(readFileSync(file, 'utf8')).toBe('alice:not-a-hash\n');
  });

  it('reads only the first line and bounds its length', async () => {
    expect(await readPasswordLine(Readable.from([Buffer.from('ab'), Buffer.from('c\nrest\n')]))).toBe('abc');
    await expect(readPasswordLine(Readable.from([Buffer.alloc(5000, 0x61)]))).rejects.toThrow('longer than');
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
    child.stdin.end('p@ss word\n');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toBe(`added user ci in ${file}\n`);
    expect(await ProxyUsers.load(file).verify('ci', 'p@ss word')).toBe(true);
  });
});
