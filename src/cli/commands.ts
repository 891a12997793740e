// The command table: one entry per command. `acr-egress --help` lists their usage in this order;
// a new command is one file exporting a Command and one line here.
import { caCommand } from './ca.js';
import { cacheCommand } from './cache.js';
import { checkCommand } from './check.js';
import type { Command } from './command.js';
import { configCommand } from './config.js';
import { logsCommand } from './logs.js';
import { serveCommand } from './serve.js';
import { tagsCommand } from './tags.js';
import { usersCommand } from './users.js';

export const COMMANDS: readonly Command[] = [
  serveCommand,
  checkCommand,
  configCommand,
  tagsCommand,
  logsCommand,
  usersCommand,
  caCommand,
  cacheCommand,
];
