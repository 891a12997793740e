// The acr-egress command line: finds the command in the table, answers --help and --version, and
// turns every usage mistake into exit 2 with one line that says what to type instead.
import { VERSION } from '../version.js';
import { usageError, wantsHelp, type Command } from './command.js';
import { COMMANDS } from './commands.js';
import { processIo, reportError, type Io } from './output.js';

function commandUsage(command: Command): string {
  return `usage: acr-egress ${command.name} ...\n\n${command.usage}`;
}

function usage(commands: readonly Command[] = COMMANDS): string {
  return `usage: acr-egress <command> [options]

${commands.map((c) => c.usage).join('\n')}

  acr-egress --version                       print the version
  acr-egress <command> --help                usage of one command

The config file is --config, else $ACR_EGRESS_CONFIG, else config/acr-egress.yaml.`;
}

/** Edit distance, to suggest "check" for "chek". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

function unknownCommand(name: string, rest: readonly string[], commands: readonly Command[]): Error {
  if (name.startsWith('-')) return usageError(`unknown option ${name}: try acr-egress --help`);
  const near = commands.find((c) => distance(c.name, name) <= 2);
  const instead = near ? ['acr-egress', near.name, ...rest].join(' ') : 'acr-egress --help';
  return usageError(`unknown command "${name}": try ${instead}`);
}

export async function main(argv: string[], io: Io = processIo, commands = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === '--version' || name === '-V') {
      io.out(VERSION);
      return 0;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      const command = commands.find((c) => c.name === rest[0]);
      io.out(command ? commandUsage(command) : usage(commands));
      return 0;
    }
    if (name === undefined) throw usageError('a command is needed: try acr-egress --help');
    const command = commands.find((c) => c.name === name);
    if (command === undefined) throw unknownCommand(name, rest, commands);
    if (wantsHelp(rest)) {
      io.out(commandUsage(command));
      return 0;
    }
    return await command.run(io, rest);
  } catch (err) {
    return reportError(io, err, 2);
  }
}
