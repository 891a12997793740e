// Fills across processes sharing one cache folder: two child processes racing for one digest make
// one fill between them, the other reads the growing file; a writer killed mid-fill gives way.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { BlobCache } from '../../../src/cache/blob-cache.js';
import { blobPath, fillsDir } from '../../../src/cache/layout.js';

const CHILD = join(import.meta.dirname, 'fill-race-child.ts');
let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'acr-egress-race-'));
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function child(hex: string, source: string, mode = 'fill'): { proc: ChildProcess; lines: Promise<string>[] } {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, hex, source, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  const rl = createInterface({ input: proc.stdout });
  const first = new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`child exited ${code} without a line`)));
  });
  return { proc, lines: [first] };
}

it('two processes racing for one digest make one fill; the other reads the growing file', async () => {
  const data = randomBytes(2_000_000);
  const hex = createHash('sha256').update(data).digest('hex');
  const source = join(dir, '..', `${hex}.src`);
  writeFileSync(source, data);
  try {
    const a = child(hex, source);
    const b = child(hex, source);
    const results = (await Promise.all([a.lines[0]!, b.lines[0]!])).map(
      (l) => JSON.parse(l) as { role: string; sha?: string },
    );
    const roles = results.map((r) => r.role).sort();
    expect(roles).toEqual(['filled', 'followed']);
    expect(results.find((r) => r.role === 'followed')?.sha).toBe(hex);
    expect(existsSync(blobPath(dir, hex))).toBe(true);
    expect(readdirSync(fillsDir(dir))).toEqual([]);
  } finally {
    rmSync(source, { force: true });
  }
});

it('a fill whose writer was killed is taken over, and its follower is told it failed', async () => {
  const data = randomBytes(1_000_000);
  const hex = createHash('sha256').update(data).digest('hex');
  const source = join(dir, '..', `${hex}.src`);
  writeFileSync(source, data);
  try {
    const writer = child(hex, source, 'hang');
    expect(JSON.parse(await writer.lines[0]!)).toEqual({ role: 'hanging' });
    const cache = await BlobCache.open({ dir, maxBytes: 1 << 30, staleMs: 60_000, pollMs: 10 });
    expect(await cache.beginFill(hex)).toBeNull(); // its writer is alive
    const following = await cache.follow(hex, 10_000);
    expect(following?.size).toBe(data.length);
    const outcome = (async () => {
      for await (const chunk of following!.stream) void chunk;
    })();
    writer.proc.kill('SIGKILL');
    await expect(outcome).rejects.toThrow();
    const w = await cache.beginFill(hex); // the dead writer's marker is stale at once on this host
    expect(w).not.toBeNull();
    await w!.expectSize(data.length);
    await new Promise((resolve, reject) => w!.on('finish', resolve).on('error', reject).end(data));
    expect(await cache.lookup(hex)).toBe(data.length);
    expect(readdirSync(fillsDir(dir))).toEqual([]);
  } finally {
    rmSync(source, { force: true });
  }
});
