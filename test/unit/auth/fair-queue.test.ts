// The fair share of password hashing: a few jobs at once, the waiting ones per client in turns, and
// a client (or everyone) waiting too much refused at once rather than queued.
import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../../src/auth/fair-queue.js';

/** A job that finishes when its release() is called, and notes when it started. */
function gate(started: string[], name: string): { job: () => Promise<string>; release: () => void } {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return {
    job: async () => {
      started.push(name);
      await done;
      return name;
    },
    release: () => release(),
  };
}

describe('FairQueue', () => {
  it('runs up to `running` jobs at once and serves the waiting clients in turns', async () => {
    const q = new FairQueue({ running: 1, perClient: 10, total: 100 });
    const started: string[] = [];
    const jobs = [
      ['flood', 'f1'],
      ['flood', 'f2'],
      ['flood', 'f3'],
      ['flood', 'f4'],
      ['user', 'u1'],
      ['other', 'o1'],
    ].map(([client, name]) => ({ client: client!, ...gate(started, name!) }));
    const results = jobs.map((j) => q.run(j.client, j.job)!);
    await expect.poll(() => started).toEqual(['f1']);
    for (const j of jobs) j.release();
    expect(await Promise.all(results)).toEqual(['f1', 'f2', 'f3', 'f4', 'u1', 'o1']);
    // flood, user and other take turns: the user waits for the flood job running, not for the others.
    expect(started).toEqual(['f1', 'u1', 'o1', 'f2', 'f3', 'f4']);
  });

  it('refuses a client that already has perClient jobs waiting, but not another client', async () => {
    const q = new FairQueue({ running: 1, perClient: 2, total: 100 });
    const started: string[] = [];
    const held = gate(started, 'a1');
    const first = q.run('a', held.job);
    const waiting = [q.run('a', async () => 'a2'), q.run('a', async () => 'a3')];
    expect(q.run('a', async () => 'a4')).toBeNull();
    const other = q.run('b', async () => 'b1');
    expect(other).not.toBeNull();
    held.release();
    expect(await Promise.all([first, ...waiting, other])).toEqual(['a1', 'a2', 'a3', 'b1']);
    // Once its jobs ran, the client may queue again.
    expect(await q.run('a', async () => 'a5')).toBe('a5');
  });

  it('refuses everyone once `total` jobs are waiting', async () => {
    const q = new FairQueue({ running: 1, perClient: 10, total: 2 });
    const held = gate([], 'x');
    const first = q.run('a', held.job);
    const waiting = [q.run('b', async () => 'b'), q.run('c', async () => 'c')];
    expect(q.run('d', async () => 'd')).toBeNull();
    held.release();
    expect(await Promise.all([first, ...waiting])).toEqual(['x', 'b', 'c']);
  });

  it('gives the slot back when a job fails', async () => {
    const q = new FairQueue({ running: 1, perClient: 10, total: 10 });
    const failing = q.run('a', () => Promise.reject(new Error('scrypt failed')));
    const next = q.run('b', async () => 'b');
    await expect(failing).rejects.toThrow('scrypt failed');
    expect(await next).toBe('b');
    expect(await q.run('c', async () => 'c')).toBe('c');
  });
});
