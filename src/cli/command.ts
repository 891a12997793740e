// What every command shares: the Command shape the table in commands.ts lists, usage errors (exit 2,
// one line saying what to type instead) and parseArgs with its messages turned into such a line.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AcrEgressError } from '../errors.js';
import type { Io } from './output.js';

export interface Command {
  /** The first word after `acr-egress`. */
  readonly name: string;
  /** Usage lines: listed by `acr-egress --help`, printed alone by `acr-egress NAME --help`. */
  readonly usage: string;
  /** Runs with the words after the name; resolves to the exit code. Usage mistakes throw usageError(). */
  run(io: Io, argv: string[]): Promise<number>;
}

/** A usage mistake: exit 2 with this one line, which should say what to type instead. */
export function usageError(message: string): AcrEgressError {
  return new AcrEgressError('USAGE', message);
}

/** `--help` or `-h` anywhere before a `--` terminator. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** The option named in one of parseArgs' messages ("Unknown option '--bogus'. To ..."). */
function quoted(message: string): string {
  return /'([^']+)'/.exec(message)?.[1] ?? message;
}

/** parseArgs, strict, with every failure thrown as one usage line naming `command`. */
export function parseCommandArgs<T extends ParseArgsConfig>(
  command: string,
  config: T,
): ReturnType<typeof parseArgs<T & { strict: true }>> {
  try {
    return parseArgs({ ...config, strict: true });
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    const help = `try acr-egress ${command} --help`;
    switch (code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw usageError(`${command}: unknown option ${quoted(message)}: ${help}`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
        const option = quoted(message)
          .replace(/ <value>$/, '')
          .replace(/^-[a-zA-Z], /, '');
        throw usageError(
          /argument missing/.test(message)
            ? `${command}: ${option} needs a value: ${help}`
            : `${command}: ${option} takes no value: ${help}`,
        );
      }
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw usageError(`${command} takes no arguments (got "${quoted(message)}"): ${help}`);
      default:
        throw err;
    }
  }
}
