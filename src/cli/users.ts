// `acr-egress users add --file FILE NAME`: writes a user's scrypt hash into the proxy users file,
// the password read from stdin so it never appears in a process list or shell history.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { hashPassword } from '../auth/password-hash.js';
import { ProxyUsers, USER_NAME } from '../auth/users-file.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import { reportError, type Io } from './output.js';

export const USERS_USAGE = `  users add --file FILE NAME                 add or replace a proxy user; the password is one line on stdin`;

/** A password line longer than this is refused rather than read on forever. */
const MAX_PASSWORD_BYTES = 1024;

export interface UsersDeps {
  stdin?: NodeJS.ReadableStream;
}

export const usersCommand: Command = { name: 'users', usage: USERS_USAGE, run: (io, argv) => runUsers(io, argv) };

export async function runUsers(io: Io, argv: string[], deps: UsersDeps = {}): Promise<number> {
  const { values, positionals } = parseCommandArgs('users', {
    args: argv,
    options: { file: { type: 'string' } },
    allowPositionals: true,
  });
  const [sub, ...args] = positionals;
  if (sub !== 'add') throw usageError('users takes add: try acr-egress users add --file users.txt NAME');
  if (values.file === undefined)
    throw usageError('users add needs --file: try acr-egress users add --file users.txt NAME');
  if (args.length !== 1)
    throw usageError(`users add takes one NAME (got ${args.length}): try acr-egress users add --file users.txt NAME`);
  const name = args[0]!;
  if (!USER_NAME.test(name))
    throw usageError(`users add: "${name.slice(0, 64)}" is not a user name: 1-64 of letters, digits and . _ @ + -`);
  try {
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
    const added = await addUser(values.file, name, password);
    io.out(`${added ? 'added' : 'updated'} user ${name} in ${values.file}`);
    return 0;
  } catch (err) {
    return reportError(io, err, 1);
  }
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

/**
 * Replaces NAME's line or appends one; true when the user is new. The current file must parse (a
 * broken file is reported, not overwritten). The new text goes to a temp file in the same folder,
 * synced, then renamed over the old one, so a reader sees the old file or the new, never half.
 */
export async function addUser(file: string, name: string, password: string): Promise<boolean> {
  let text = '';
  let mode = 0o600;
  try {
    text = readFileSync(file, 'utf8');
    mode = statSync(file).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  ProxyUsers.parse(text, file);
  const entry = `${name}:${await hashPassword(password)}`;
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const at = lines.findIndex((l) => l.trim().startsWith(`${name}:`));
  if (at >= 0) lines[at] = entry;
  else lines.push(entry);
  writeAtomically(file, `${lines.join('\n')}\n`, mode);
  return at < 0;
}

function writeAtomically(file: string, text: string, mode: number): void {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
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
