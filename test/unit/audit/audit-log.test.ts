// The audit log writer on real files: lines as written, a full disk (/dev/full) that is logged once,
// counted and retried until a writable file takes the queue, the queue's bound, a bounded close, and
// reopen after logrotate renames the file; a process that exits without closing it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuditLog, type AuditLog, type AuditLogOptions } from '../../../src/audit/audit-log.js';
import { rec } from '../admin/fake-deps.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-audit-log-'));
let n = 0;
const file = (): string => join(dir, `audit-${n++}.log`);
const hasDevFull = existsSync('/dev/full');

interface Line {
  level: 'error' | 'warn' | 'info';
  msg: string;
}

function opLog(): { log: AuditLogOptions['log']; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: Line['level']) =>
    (_obj: unknown, msg?: string): void => {
      lines.push({ level, msg: msg ?? '' });
    };
  return { log: { error: at('error'), warn: at('warn'), info: at('info') }, lines };
}

function hosts(f: string): string[] {
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { host: string }).host);
}

/** The log's failed writes, polled until the file system's answer arrives. */
const writeErrors = (log: AuditLog) => expect.poll(() => log.status().writeErrors, { timeout: 15_000 });

function writeHosts(log: AuditLog, from: number, count: number): void {
  for (let i = from; i < from + count; i++) log.write(rec({ host: `h${i}.example.com` }));
}

const range = (from: number, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `h${from + i}.example.com`);

describe('audit log on a writable file', () => {
  it('writes one "kind":"decision" line per record, in order, once flushed', async () => {
    const f = file();
    const log = createAuditLog(f);
    writeHosts(log, 0, 3);
    expect(await log.flush()).toBe(true);
    const lines = readFileSync(f, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ kind: 'decision', host: 'h0.example.com' });
    expect(log.status()).toMatchObject({ available: true, queued: 0, writeErrors: 0, dropped: 0 });
    expect(await log.close()).toEqual({ lost: 0 });
  });

  it('after a rename and reopen, new records go to a new file at the path and old ones stay put', async () => {
    const f = file();
    const log = createAuditLog(f);
    writeHosts(log, 0, 2);
    await log.flush();
    renameSync(f, `${f}.1`);
    log.reopen();
    writeHosts(log, 2, 1);
    await log.flush();
    expect(hosts(`${f}.1`)).toEqual(range(0, 2));
    expect(hosts(f)).toEqual(range(2, 1));
    await log.close();
  });
});

describe.skipIf(!hasDevFull)('audit log on a full disk (/dev/full; skipped without it)', () => {
  it('keeps records while writes fail, logs the burst once, counts errors, and writes all to a new file', async () => {
    const { log: ops, lines } = opLog();
    const log = createAuditLog('/dev/full', { log: ops });
    writeHosts(log, 0, 50);
    expect(await log.flush(300)).toBe(false);
    await writeErrors(log).toBeGreaterThanOrEqual(3);
    expect(log.available()).toBe(false);
    expect(log.status()).toMatchObject({ queued: 50, dropped: 0, lastError: 'ENOSPC' });
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);

    const f = file();
    log.reopen(f);
    expect(await log.flush(15_000)).toBe(true);
    expect(log.available()).toBe(true);
    expect(hosts(f)).toEqual(range(0, 50));
    expect(lines.filter((l) => l.msg.includes('writable again'))).toHaveLength(1);
    expect(await log.close()).toEqual({ lost: 0 });
  });

  it('beyond the bound, counts records as dropped and writes the ones it kept', async () => {
    const { log: ops, lines } = opLog();
    const log = createAuditLog('/dev/full', { log: ops, maxQueued: 10 });
    writeHosts(log, 0, 25);
    await writeErrors(log).toBeGreaterThanOrEqual(1);
    expect(log.status()).toMatchObject({ queued: 10, dropped: 15 });
    expect(lines.filter((l) => l.msg.includes('queue full'))).toHaveLength(1);
    const f = file();
    log.reopen(f);
    expect(await log.flush(15_000)).toBe(true);
    expect(hosts(f)).toEqual(range(0, 10));
    expect(log.status()).toMatchObject({ available: true, queued: 0, dropped: 15 });
    await log.close();
  });

  it('closes within its deadline on a failing disk and says how many records were lost', async () => {
    const { log: ops, lines } = opLog();
    const log = createAuditLog('/dev/full', { log: ops });
    writeHosts(log, 0, 7);
    expect(await log.close(300)).toEqual({ lost: 7 });
    expect(log.status().dropped).toBe(7);
    expect(lines.some((l) => l.level === 'error' && l.msg.includes('7 record(s) unwritten'))).toBe(true);
    writeHosts(log, 7, 1); // after close: counted, never thrown
    expect(log.status().dropped).toBe(8);
  });
});

/** Runs a script in a child Node (with tsx) and resolves with its exit code. */
function runChild(script: string): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the child did not exit: ${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const AUDIT_LOG = JSON.stringify(new URL('../../../src/audit/audit-log.ts', import.meta.url).href);

describe('audit log when the process exits without closing it', () => {
  it('writes what is queued in one last attempt', async () => {
    const f = file();
    const code = await runChild(`
      import { createAuditLog } from ${AUDIT_LOG};
      const log = createAuditLog(${JSON.stringify(f)});
      for (let i = 0; i < 3; i++) log.write({ host: 'h' + i + '.example.com' });
      process.exit(0);
    `);
    expect(code).toBe(0);
    expect(hosts(f)).toEqual(range(0, 3));
  });

  it('lets the process end once closed (no timer of the close deadline is left behind)', async () => {
    const f = file();
    const code = await runChild(`
      import { createAuditLog } from ${AUDIT_LOG};
      const log = createAuditLog(${JSON.stringify(f)});
      log.write({ host: 'h0.example.com' });
      await log.close(600_000);
    `);
    expect(code).toBe(0);
    expect(hosts(f)).toEqual(range(0, 1));
  });

  it.skipIf(!hasDevFull)(
    'exits on a full disk instead of retrying forever (/dev/full; skipped without it)',
    async () => {
      const code = await runChild(`
      import { createAuditLog } from ${AUDIT_LOG};
      const log = createAuditLog('/dev/full');
      for (let i = 0; i < 100; i++) log.write({ host: 'h' + i + '.example.com' });
      await log.flush(200);
      for (let i = 0; i < 10; i++) log.write({ host: 'x' + i + '.example.com' });
      process.exit(3);
    `);
      expect(code).toBe(3);
    },
  );
});
