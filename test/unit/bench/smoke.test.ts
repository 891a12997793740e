// Keeps `npm run bench` from rotting: every scenario once with tiny sizes (acr-egress run from src/
// through tsx, so no build), checking that each one produced its table. No figure is judged.
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const hasSquid = spawnSync('/usr/sbin/squid', ['-v'], { stdio: 'ignore' }).status === 0;
const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
const skipNote = hasSquid && hasCurl ? '' : ' (SKIPPED: squid or curl not installed; apt-get install -y squid curl)';

describe.skipIf(!hasSquid || !hasCurl)(`bench smoke run${skipNote}`, () => {
  it('runs all seven scenarios with tiny sizes and prints every table', async () => {
    const args = [
      '--import',
      'tsx',
      'bench/run.ts',
      '--quick',
      '--from-source',
      '--no-write',
      '--size',
      '256k',
      '--tunnels',
      '6',
      '--idle',
      '6',
      '--pulls',
      '2',
      '--iterations',
      '1000',
      '--deadline',
      '4',
    ];
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve) => {
        execFile(process.execPath, args, { cwd: ROOT, timeout: 300_000, maxBuffer: 16 * 2 ** 20 }, (err, out, errOut) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout: out, stderr: errOut }),
        );
      },
    );
    expect(code, stderr.slice(-3000)).toBe(0);
    for (const heading of [
      '### Summary',
      '### 1. Bulk throughput',
      '### 2. Tunnel setup rate',
      '### 3. Concurrent idle tunnels',
      '### 4. Many pulls',
      '### 5. Policy micro-benchmarks',
      '### 6. Inspected pull',
      '### 7. Layer cache',
    ]) {
      expect(stdout).toContain(heading);
    }
    expect(stdout).not.toMatch(/not run: failed/);
    // Every contender carried traffic in the data-path scenarios.
    for (const name of ['acr-egress', 'squid', 'node-pipe', 'direct'])
      expect(stdout).toMatch(new RegExp(`^\\| ${name} \\| \\d`, 'm'));
    expect(stdout).toMatch(/^\| 6 \| acr-egress \| [\d.]+ \|/m);
    // The layer cache judged every goal (figures meaningless at this size: no verdict is asserted).
    const goals = stdout.split('\n').filter((l) => l.startsWith('| 7. Layer cache |'));
    for (const goal of ['bytes across the WAN', "0.2× Squid's", 'one warm pull', 'serving a hit', 'upstream requests'])
      expect(goals.find((l) => l.includes(goal))).toMatch(/\| \*\*(met|missed)\*\* \|$/);
  }, 320_000);
});
