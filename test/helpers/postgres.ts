// Starts a real PostgreSQL server for tests: Debian's binaries, a data directory in a temp folder,
// a free loopback port, trust authentication on 127.0.0.1 only. As root (CI) the server runs as an
// unprivileged user (postgres, else nobody), since PostgreSQL refuses to run as root.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const VERSIONS = ['17', '16', '15'];

/** The directory with initdb and postgres, or null when PostgreSQL is not installed. */
function postgresBin(): string | null {
  const fromEnv = process.env.ACR_EGRESS_PG_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'postgres'))) return fromEnv;
  let versions = VERSIONS;
  try {
    versions = [...readdirSync('/usr/lib/postgresql')].sort().reverse();
  } catch {
    // not installed
  }
  for (const v of versions) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb'))) return dir;
  }
  return null;
}

export const POSTGRES_MISSING = postgresBin() === null;

/** uid/gid to run the server as when we are root. */
function unprivileged(): { user: string; uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  for (const user of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { user, uid: Number(uid.stdout), gid: Number(gid.stdout) };
  }
  throw new Error('running as root and neither a postgres nor a nobody user exists');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestPostgres {
  readonly port: number;
  /** A URL for a database (created by createDatabase), trust auth: no password. */
  url(database?: string): string;
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown; the data stays for start(). */
  stop(): Promise<void>;
  /** Starts again on the same port and data. */
  start(): Promise<void>;
  /** Stops and removes everything. */
  destroy(): Promise<void>;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (bin === null) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql');
  const who = unprivileged();
  const root = mkdtempSync(join(tmpdir(), 'acr-egress-pg-'));
  const data = join(root, 'data');
  const sockets = join(root, 'sock');
  const run = (cmd: string, args: string[]): ChildProcess => {
    // setpriv execs in place (no parent left between us and the server), so signals reach postgres.
    const full =
      who === null
        ? [cmd, ...args]
        : ['setpriv', `--reuid=${who.uid}`, `--regid=${who.gid}`, '--clear-groups', '--', cmd, ...args];
    return spawn(full[0] as string, full.slice(1), {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: root,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
    });
  };
  if (who !== null) {
    chownSync(root, who.uid, who.gid);
    chmodSync(root, 0o700);
  }
  spawnSync('mkdir', [sockets]);
  if (who !== null) chownSync(sockets, who.uid, who.gid);
  const init = run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const initErr = await exited(init);
  if (initErr.code !== 0) throw new Error(`initdb failed: ${initErr.stderr}`);
  // Trust on loopback TCP only; the unix socket sits in our private folder.
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
  if (who !== null) chownSync(join(data, 'pg_hba.conf'), who.uid, who.gid);
  const port = await freePort();
  let server: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    server = run(join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-h',
      '127.0.0.1',
      '-k',
      sockets,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'shared_buffers=32MB',
      '-c',
      'max_connections=100',
    ]);
    let stderr = '';
    server.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    // A plain retry loop rather than vi.waitFor: bench/ starts this server outside vitest.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      try {
        await c.connect();
        await c.end();
        return;
      } catch {
        await c.end().catch(() => undefined);
        if (server.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = null;
    if (s === null || s.exitCode !== null) return;
    const done = exited(s);
    s.kill('SIGINT'); // fast shutdown: disconnects clients, as a failover would
    await done;
  };
  await start();
  const url = (db = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${db}`;
  return {
    port,
    url,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function exited(p: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  p.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => {
    if (p.exitCode !== null) return resolve({ code: p.exitCode, stderr });
    p.once('exit', (code) => resolve({ code, stderr }));
  });
}
