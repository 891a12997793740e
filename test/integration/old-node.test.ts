// acr-egress under a real Node 20 (end of life): every command and `npm start` print the one-line
// refusal and exit 2, with no stack trace. Skipped only on a machine with no Node 20 binary.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = process.cwd();

/** The first Node 20 among the usual places (Debian's package, a manual install). */
function findNode20(): string | null {
  for (const bin of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node']) {
    if (!existsSync(bin)) continue;
    const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (v.status === 0 && v.stdout.startsWith('v20.')) return bin;
  }
  return null;
}

const node20 = findNode20();
const REFUSAL =
  /^acr-egress: needs Node\.js \^22\.13\.0 \|\| \^24 \|\| \^26, found 20\.\d+\.\d+; get Node 24 or 26 .*\n$/;

describe.skipIf(node20 === null)(`acr-egress on Node 20 (${node20 ?? 'none found'})`, () => {
  beforeAll(() => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  }, 180_000);

  it.each([[['--version']], [['serve']], [['check', 'myregistry.azurecr.io']], [['no-such-command']]])(
    'acr-egress %j prints one line and exits 2',
    (args) => {
      const r = spawnSync(node20 as string, [join(root, 'dist/cli.js'), ...args], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(REFUSAL);
    },
  );

  it('npm start on Node 20 ends with the same line and exit 2', () => {
    // Node 20's own npm, first on PATH, so `node` in the start script is Node 20 too.
    const env = { ...process.env, PATH: `${dirname(node20 as string)}:${process.env.PATH ?? ''}` };
    const r = spawnSync('npm', ['start'], { cwd: root, env, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(REFUSAL);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 180_000);
});
