#!/usr/bin/env node
// Entry point of the `acr-egress` command.
import { main } from './cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`acr-egress: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
