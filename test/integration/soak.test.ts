// A short `npm run soak` inside `npm test`: the gateway (from source) under 15 s of churn by every
// client kind, then its fds, RSS, tunnels, slots and records checked by the soak itself.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('soak (short)', () => {
  it('settles fds and RSS back to baseline and records every connection after 15 s of good and bad clients', async () => {
    const args = ['--import', 'tsx', 'bench/soak.ts', '--seconds', '15', '--from-source', '--concurrency', '16'];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, failed: output.split('\n').filter((l) => l.startsWith('FAIL')) }, output).toEqual({
      code: 0,
      failed: [],
    });
    expect(output).toMatch(/^\| half-close-after-200 \| [1-9]/m);
  }, 240_000);
});
