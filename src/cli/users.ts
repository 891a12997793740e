// `acr-egress users add|list|remove --file FILE`: the proxy users file. add writes a user's scrypt
// hash, the password read from stdin so it never appears in a process list or shell history.
import { AcrEgressError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { hashPassword } from '../auth/password-hash.js';
import { ProxyUsers, USER_NAME } from '../auth/users-file.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import { reportError, type Io } from './output.js';

const USERS_USAGE = `  users add --file FILE NAME [--allow-short]
                                             add or replace a proxy user; the password is one line on stdin
                                             (12 characters at least, unless --allow-short)
  users list --file FILE                     the users in FILE and their hash (scrypt or bcrypt)
  users remove --file FILE NAME              remove a proxy user from FILE`;

/** A password line longer than this is refused rather than read on forever. */
const MAX_PASSWORD_BYTES = 1024;
/** Shorter passwords fall to guessing; --allow-short is for test setups. */
const MIN_PASSWORD_CHARS = 12;

export interface UsersDeps {
  stdin?: NodeJS.ReadableStream;
}

export const usersCommand: Command = { name: 'users', usage: USERS_USAGE, run: (io, argv) => runUsers(io, argv) };

const EXAMPLE: Record<string, string> = {
  add: 'acr-egress users add --file users.txt NAME',
  list: 'acr-egress users list --file users.txt',
  remove: 'acr-egress users remove --file users.txt NAME',
};

export async function runUsers(io: Io, argv: string[], deps: UsersDeps = {}): Promise<number> {
  const { values, positionals } = parseCommandArgs('users', {
    args: argv,
    options: { file: { type: 'string' }, 'allow-short': { type: 'boolean' } },
    allowPositionals: true,
  });
  const [sub, ...args] = positionals;
  if (sub === undefined || !Object.hasOwn(EXAMPLE, sub))
    throw usageError(`users takes add, list or remove: try ${EXAMPLE.add}`);
  const file = values.file;
  if (file === undefined) throw usageError(`users ${sub} needs --file: try ${EXAMPLE[sub]}`);
  if (values['allow-short'] === true && sub !== 'add')
    throw usageError(`users ${sub}: --allow-short is for users add: try ${EXAMPLE[sub]}`);
  const names = sub === 'list' ? 0 : 1;
  if (args.length !== names)
    throw usageError(
      `users ${sub} takes ${names === 0 ? 'no NAME' : 'one NAME'} (got ${args.length}): try ${EXAMPLE[sub]}`,
    );
  try {
    if (sub === 'list') {
      listUsers(io, file);
      warnIfOpen(io, file);
      return 0;
    }
    const name = args[0]!;
    if (!USER_NAME.test(name))
      throw usageError(
        `users ${sub}: "${name.slice(0, 64)}" is not a user name: 1-64 of letters, digits and . _ @ + -`,
      );
    if (sub === 'remove') {
      removeUser(file, name);
      io.out(`removed user ${name} from ${file}`);
      warnIfOpen(io, file);
      return 0;
    }
    const stdin = deps.stdin ?? process.stdin;
    // A terminal echoes what is typed: say so, and how to pipe it instead.
    if ((stdin as { isTTY?: boolean }).isTTY === true)
      io.err(
        `password for ${name} (one line; the terminal shows it, so prefer: printf '%s\\n' "$PW" | acr-egress users add ...):`,
      );
    const password = await readPasswordLine(stdin);
    if (password === '') {
      io.err('acr-egress users: refusing an empty password (write it as one line on stdin)');
      return 2;
    }
    if ([...password].length < MIN_PASSWORD_CHARS && values['allow-short'] !== true) {
      io.err(
        `acr-egress users: refusing a password shorter than ${MIN_PASSWORD_CHARS} characters (--allow-short accepts it)`,
      );
      return 2;
    }
    const added = await addUser(file, name, password);
    io.out(`${added ? 'added' : 'updated'} user ${name} in ${file}`);
    warnIfOpen(io, file);
    return 0;
  } catch (err) {
    return reportError(io, err, 1);
  }
}

/** One line per user in file order: the name and its hash kind, never the hash. */
function listUsers(io: Io, file: string): void {
  const { entries } = ProxyUsers.load(file);
  const width = Math.max(0, ...entries.map((e) => e.name.length));
  for (const e of entries) io.out(`${e.name.padEnd(width)}  ${e.kind}`);
}

/**
 * The mode is kept as it was (a 0640 file may be how the gateway's group reads it), but a file
 * every user of the host can read hands them the hashes to guess at: say so (`htpasswd -c` makes 0644).
 */
function warnIfOpen(io: Io, file: string): void {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o007) !== 0)
    io.err(
      `acr-egress users: ${file} is readable by every user of this host (mode 0${mode.toString(8)}): chmod 600 it`,
    );
}

/** The first line of the stream, without its line end; stops reading at the newline. */
export function readPasswordLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const done = (err: Error | null, line?: string): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
      if (err) reject(err);
      else resolve(line!);
    };
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const nl = buf.indexOf(0x0a);
      chunks.push(nl < 0 ? buf : buf.subarray(0, nl));
      length += nl < 0 ? buf.length : nl;
      if (length > MAX_PASSWORD_BYTES) done(new Error(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`));
      else if (nl >= 0) onEnd();
    };
    const onEnd = (): void => done(null, Buffer.concat(chunks).toString('utf8').replace(/\r$/, ''));
    const onError = (err: Error): void => done(err);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.resume();
  });
}

/** The file's text and mode; an empty 0600 file when it does not exist yet. */
function readUsersFile(file: string): { text: string; mode: number } {
  try {
    return { text: readFileSync(file, 'utf8'), mode: statSync(file).mode & 0o777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { text: '', mode: 0o600 };
  }
}

/** The file's lines without the last line end; which one is NAME's, or -1. */
function linesOf(text: string, name: string): { lines: string[]; at: number } {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  return { lines, at: lines.findIndex((l) => l.trim().startsWith(`${name}:`)) };
}

/**
 * Replaces NAME's line or appends one; true when the user is new. The current file must parse (a
 * broken file is reported, not overwritten).
 */
async function addUser(file: string, name: string, password: string): Promise<boolean> {
  const { text, mode } = readUsersFile(file);
  ProxyUsers.parse(text, file);
  const entry = `${name}:${await hashPassword(password)}`;
  const { lines, at } = linesOf(text, name);
  if (at >= 0) lines[at] = entry;
  else lines.push(entry);
  writeAtomically(file, `${lines.join('\n')}\n`, mode);
  return at < 0;
}

/** Removes NAME's line, keeping every other line as it was; an error when NAME is not in the file. */
function removeUser(file: string, name: string): void {
  const { text, mode } = readUsersFile(file);
  const users = ProxyUsers.parse(text, file);
  if (!users.entries.some((e) => e.name === name))
    throw new AcrEgressError('USER_NOT_FOUND', `no user ${name} in ${file} (see acr-egress users list --file ${file})`);
  const { lines, at } = linesOf(text, name);
  lines.splice(at, 1);
  writeAtomically(file, lines.length === 0 ? '' : `${lines.join('\n')}\n`, mode);
}

/**
 * The new text goes to a temp file in the same folder with the old file's mode (0600 for a new one,
 * whatever the umask), synced, then renamed over the old one: a reader sees the old file or the
 * new, never half of one.
 */
function writeAtomically(file: string, text: string, mode: number): void {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(temp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(temp, file);
  } catch (err) {
    unlinkSync(temp);
    throw err;
  }
}
