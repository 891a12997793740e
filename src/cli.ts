#!/usr/bin/env node
// Entry point of the `acr-egress` command: refuses an unsupported Node in one line (exit 2) before
// loading anything that could fail on it, then runs the command line.
import { runtimeProblem } from './runtime.js';

const problem = runtimeProblem(process.versions.node);
if (problem !== null) {
  process.stderr.write(`${problem}\n`);
  process.exitCode = 2;
} else {
  // Dynamic: on an old Node the command line's imports (node:sqlite, newer syntax) must not load.
  import('./cli/run.js').then(
    ({ run }) => run(process.argv.slice(2)),
    (err: unknown) => {
      process.stderr.write(`acr-egress: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
