// `--before REV`: builds another git revision of acr-egress in a temporary worktree (its own
// dist/cli.js, this checkout's node_modules), so one run measures a change against, say, main.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BeforeBuild {
  readonly cli: string;
  /** Removes the temporary worktree. */
  remove(): void;
}

/** Whether `value` names a git revision of `root` (rather than a path to a built cli.js). */
export function isGitRev(root: string, value: string): boolean {
  if (existsSync(value)) return false;
  try {
    execFileSync('git', ['rev-parse', '--verify', '--quiet', `${value}^{commit}`], { cwd: root, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function buildRev(root: string, rev: string, log: (m: string) => void): BeforeBuild {
  const dir = join(mkdtempSync(join(tmpdir(), 'acr-egress-before-')), 'tree');
  const remove = (): void => {
    try {
      execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: root, stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  log(`building ${rev} in ${dir}`);
  execFileSync('git', ['worktree', 'add', '--detach', dir, rev], { cwd: root, stdio: 'ignore' });
  try {
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    try {
      execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], {
        cwd: dir,
        stdio: 'inherit',
      });
    } catch {
      // As for the current build: emitted JavaScript is enough; a missing CLI is what stops the bench.
    }
    const cli = join(dir, 'dist', 'cli.js');
    if (!existsSync(cli)) throw new Error(`the build of ${rev} left no dist/cli.js`);
    return { cli, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
