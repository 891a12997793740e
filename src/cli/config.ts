// `acr-egress config validate FILE`: loads a config file as serve would and prints every problem
// with its path, without starting anything.
import pino from 'pino';
import { loadConfigChecked } from '../config/check.js';
import { ruleTagNeeds } from '../policy/tag-needs.js';
import { ServiceTagManager } from '../service-tags/manager.js';
import { loadAuth } from '../gateway.js';
import { allowLine } from '../start-lines.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import { reportError } from './output.js';

export const configCommand: Command = {
  name: 'config',
  usage: `  config validate FILE                       check a config file; every problem with its path`,
  async run(io, argv) {
    const { positionals } = parseCommandArgs('config', { args: argv, options: {}, allowPositionals: true });
    const [sub, ...files] = positionals;
    if (sub !== 'validate')
      throw usageError(
        `${sub === undefined ? 'config needs a subcommand' : `unknown config subcommand "${sub}"`}: try acr-egress config validate FILE`,
      );
    if (files.length !== 1)
      throw usageError(`config validate takes one FILE (got ${files.length}): try acr-egress config validate FILE`);
    const file = files[0]!;
    try {
      // What serve does at start, short of listening: the same checks, the same service-tag data.
      const { loaded } = await loadConfigChecked(file, process.env, (first) =>
        new ServiceTagManager({ config: first, needs: ruleTagNeeds, log: pino({ level: 'silent' }) }).loadInitial(),
      );
      loadAuth(loaded); // serve reads the users file at start: an unreadable one is refused here too
      const n = loaded.registries.length;
      io.out(`${file}: valid (version ${loaded.version}, ${n} registr${n === 1 ? 'y' : 'ies'}); ${allowLine(loaded)}`);
      return 0;
    } catch (err) {
      return reportError(io, err, 2);
    }
  },
};
