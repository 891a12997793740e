// Runs the command line for the process: argv in, exit code out, an unexpected error as one line.
import { main } from './main.js';

export function run(argv: string[]): Promise<void> {
  return main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`acr-egress: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
