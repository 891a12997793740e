// Child processes for the bench: started with a raised fd limit, tracked, and stopped by PID only
// (SIGTERM, then SIGKILL after a grace period), plus the resident memory of one PID from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Set once the process has exited. */
  exited(): boolean;
  /** SIGTERM by PID, SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Proc>();

export interface SpawnOptions {
  /** File that receives stdout and stderr (appended). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** RLIMIT_NOFILE soft limit for the child (capped at the hard limit by the shell). */
  nofile?: number;
}

/** Starts cmd through `bash -c 'ulimit -n ..; exec "$@"'`: the exec keeps the PID the child's own. */
export function spawnProc(name: string, cmd: string, args: readonly string[], o: SpawnOptions): Proc {
  const fd = openSync(o.logFile, 'a');
  const limit = o.nofile === undefined ? '' : `ulimit -n ${o.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; `;
  const child = spawn('bash', ['-c', `${limit}exec "$@"`, 'bash', cmd, ...args], {
    stdio: ['ignore', fd, fd],
    env: o.env ?? process.env,
    cwd: o.cwd,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const pid = child.pid;
  let done = false;
  const exit = once(child, 'exit').then(() => {
    done = true;
    running.delete(proc);
  });
  const proc: Proc = {
    name,
    pid,
    child,
    exited: () => done,
    async stop(graceMs = 5_000) {
      if (done) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
  running.add(proc);
  return proc;
}

/** Kills (SIGKILL, by PID) every child still running: the deadline and crash path. */
export function killAll(): void {
  for (const p of running) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** VmRSS of a process in KiB, or null when it is gone. */
export function rssKb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** A TCP port free on host right now (bound and released; the caller binds it soon after). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, host, () => resolve());
  });
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Resolves once host:port accepts a TCP connection; rejects if proc exits or timeoutMs passes. */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  proc?: Proc,
  log?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    const tail = log === undefined ? '' : `\n${readTail(log)}`;
    if (proc?.exited()) throw new Error(`${proc.name} exited before listening on ${host}:${port}${tail}`);
    if (Date.now() > deadline)
      throw new Error(`${proc?.name ?? 'server'} not listening on ${host}:${port} after ${timeoutMs} ms${tail}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readTail(file: string, bytes = 2_000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '';
  }
}

/** The hard RLIMIT_NOFILE this process may raise its children to. */
export function hardNofile(): number {
  try {
    const m = /^Max open files\s+\d+\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m || m[1] === 'unlimited') return 1_048_576;
    return Number(m[1]);
  } catch {
    return 1024;
  }
}

/** User and system CPU time of a process in milliseconds (from /proc/<pid>/stat), or null when gone. */
export function cpuMs(pid: number): { user: number; sys: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: (Number(fields[11]) * 1000) / CLOCK_TICKS, sys: (Number(fields[12]) * 1000) / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux this bench runs on. */
const CLOCK_TICKS = 100;
