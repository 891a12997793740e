// `--node` without a path: the other of the two current lines (24 and 26), at the version .ci/run
// pins, installed once from the npm registry's `node` package into node_modules/.cache.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The line compared against: 26 when the bench runs on anything but 26, else 24. */
export function otherLine(major: number): 24 | 26 {
  return major === 26 ? 24 : 26;
}

/** NODE<line>_VERSION from .ci/run, so the bench compares exactly what CI tests. */
export function pinnedVersion(ciRun: string, line: number): string {
  const v = new RegExp(`^NODE${line}_VERSION=(\\d+\\.\\d+\\.\\d+)$`, 'm').exec(ciRun)?.[1];
  if (v === undefined) throw new Error(`.ci/run pins no NODE${line}_VERSION`);
  return v;
}

/** The node binary of the other line, installed on first use; its path. */
export function otherNode(root: string, major = Number(process.versions.node.split('.')[0])): string {
  const version = pinnedVersion(readFileSync(join(root, '.ci', 'run'), 'utf8'), otherLine(major));
  const prefix = join(root, 'node_modules', '.cache', 'acr-egress-bench', `node-${version}`);
  const bin = join(prefix, 'node_modules', '.bin', 'node');
  if (!existsSync(bin)) {
    console.error(`bench: installing node@${version} into ${prefix}`);
    execFileSync('npm', ['i', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `node@${version}`], {
      stdio: 'inherit',
    });
  }
  return bin;
}
