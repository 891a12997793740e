// `npm start` runs this first: it rebuilds dist/ only when a source is newer than the last build,
// instead of ~20 s of tsc and esbuild before every start; `npm install` builds once (prepare runs it
// with --always). Plain JavaScript: it must run before anything is compiled.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

/** What the build reads: a change to any of them makes dist/ stale. */
export const INPUTS = ['src', 'ui', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
/** Outputs that must exist whatever the stamp says: a deleted dist/ui is a reason to build. */
export const OUTPUTS = [join('dist', 'cli.js'), join('dist', 'ui', 'index.html')];
/**
 * Its mtime is when the last build this script ran started. Not the outputs' own mtimes: tsc leaves
 * a file it would write unchanged untouched, so they say nothing about when the build ran.
 */
export const STAMP = join('dist', '.build-stamp');

/** The newest mtime (ms) among the files under `paths`, 0 when there are none. */
export function newestInput(root, paths = INPUTS) {
  let newest = 0;
  const visit = (path) => {
    let st;
    try {
      st = statSync(path);
    } catch {
      return; // an input that does not exist (no package-lock.json, say) changes nothing
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(path)) if (e !== 'node_modules') visit(join(path, e));
    } else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of paths) visit(join(root, p));
  return newest;
}

/** Why dist/ must be rebuilt, or null when it is up to date. */
export function staleReason(root) {
  for (const out of OUTPUTS) {
    try {
      statSync(join(root, out));
    } catch {
      return `${out} is missing`;
    }
  }
  let built;
  try {
    built = statSync(join(root, STAMP)).mtimeMs;
  } catch {
    return 'no build by npm install or npm start yet';
  }
  return newestInput(root) > built ? 'sources changed since the last build' : null;
}

/** Marks a build that started at `startedMs` as finished: a source saved during it stays newer. */
export function writeStamp(root, startedMs) {
  mkdirSync(join(root, 'dist'), { recursive: true });
  const file = join(root, STAMP);
  writeFileSync(file, `${new Date(startedMs).toISOString()}\n`);
  utimesSync(file, startedMs / 1000, startedMs / 1000);
}

/** `npm run build`, then the stamp; the build's exit code. */
export function build(root) {
  const started = Date.now();
  const npm = process.env.npm_execpath;
  // Under npm, npm_execpath is npm's own script: run it with this node, as npm does.
  const r =
    npm === undefined
      ? spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
      : spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status === 0) writeStamp(root, started);
  return r.status ?? 1;
}

/**
 * Whether the gateway refuses this Node version: the floor of src/runtime.ts, restated because this
 * script runs before anything is compiled (a unit test keeps the two in step).
 */
export function nodeRefused(version) {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major < 22 || (major === 22 && minor < 13);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const reason = process.argv.includes('--always') ? 'npm install' : staleReason(root);
  // On a Node the gateway refuses (the floor in src/runtime.ts), a rebuild is wasted: with a built
  // dist/ the entry point then prints its one line; without one, the build runs and it prints it after.
  const refused = nodeRefused(process.versions.node);
  if (reason !== null && !(refused && reason !== 'npm install' && existsSync(join(root, OUTPUTS[0])))) {
    process.stderr.write(`acr-egress: building dist/ (${reason})\n`);
    process.exitCode = build(root);
  }
}
