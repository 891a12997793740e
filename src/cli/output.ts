// Output helpers for the command line: one place that prints problems and picks exit codes.
import { isAcrEgressError } from '../errors.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Prints an error (with every detail) and returns its exit code. */
export function reportError(io: Io, err: unknown, fallbackExit = 1): number {
  if (isAcrEgressError(err)) {
    io.err(`acr-egress: ${err.message}`);
    for (const d of err.details) io.err(`  ${d}`);
    return err.exitCode;
  }
  io.err(`acr-egress: ${err instanceof Error ? err.message : String(err)}`);
  return fallbackExit;
}
