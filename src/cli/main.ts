// The acr-egress command line: serve, check, config validate, tags.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfigChecked } from '../config/check.js';
import { configPath, loadConfigFile } from '../config/load.js';
import { ruleTagNeeds } from '../policy/tag-needs.js';
import { ServiceTagManager } from '../service-tags/manager.js';
import { loadInitialTags } from '../gateway.js';
import { allowLine } from '../start-lines.js';
import { runCheck } from './check.js';
import { LOGS_USAGE, runLogs } from './logs.js';
import { processIo, reportError, type Io } from './output.js';
import { runServe } from './serve.js';
import { runTags, TAGS_USAGE } from './tags.js';
import pino from 'pino';

const USAGE = `usage: acr-egress <command> [options]

  serve [--config FILE]                      run the proxy and the admin API
  check HOST[:PORT] [--sni NAME] [--ip ADDR] [--client ADDR] [--config FILE] [--json]
                                             evaluate the policy for one request (no connection)
  config validate FILE                       check a config file; every problem with its path
${TAGS_USAGE}
${LOGS_USAGE}

The config file is --config, else $ACR_EGRESS_CONFIG, else config/acr-egress.yaml.`;

type Handler = (io: Io, argv: string[]) => Promise<number>;

type Values = Record<string, string | boolean | undefined>;

function parse(argv: string[], options: ParseArgsConfig['options']): { values: Values; positionals: string[] } {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  return { values: values as Values, positionals };
}

const quietLog = pino({ level: 'silent' });

const commands: Record<string, Handler> = {
  async serve(io, argv) {
    const { values, positionals } = parse(argv, { config: { type: 'string' } });
    if (positionals.length > 0) throw new UsageError(`serve takes no arguments (got ${positionals.join(' ')})`);
    return runServe(io, configPath(values.config as string | undefined));
  },
  async check(io, argv) {
    const { values, positionals } = parse(argv, {
      config: { type: 'string' },
      sni: { type: 'string' },
      ip: { type: 'string' },
      client: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1) throw new UsageError('check needs exactly one HOST[:PORT]');
    const loaded = loadConfigFile(configPath(values.config as string | undefined));
    const tags = values.ip !== undefined ? await loadInitialTags(loaded, quietLog) : null;
    return runCheck(io, loaded, tags, {
      target: positionals[0] as string,
      sni: values.sni as string | undefined,
      ip: values.ip as string | undefined,
      client: values.client as string | undefined,
      json: values.json === true,
    });
  },
  async config(io, argv) {
    const { positionals } = parse(argv, {});
    if (positionals[0] !== 'validate' || positionals.length !== 2)
      throw new UsageError('usage: acr-egress config validate FILE');
    const file = positionals[1] as string;
    try {
      // What serve does at start, short of listening: the same checks, the same service-tag data.
      const { loaded } = await loadConfigChecked(file, process.env, (first) =>
        new ServiceTagManager({ config: first, needs: ruleTagNeeds, log: quietLog }).loadInitial(),
      );
      io.out(
        `${file}: valid (version ${loaded.version}, ${loaded.registries.length} registr${loaded.registries.length === 1 ? 'y' : 'ies'}); ${allowLine(loaded)}`,
      );
      return 0;
    } catch (err) {
      return reportError(io, err, 2);
    }
  },
  tags: (io, argv) => runTags(io, argv),
  logs: (io, argv) => runLogs(io, argv),
};

class UsageError extends Error {}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.err : io.out)(USAGE);
    return name === undefined ? 2 : 0;
  }
  const handler = commands[name];
  if (handler === undefined) {
    io.err(`acr-egress: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await handler(io, rest);
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`acr-egress ${name}: ${(err as Error).message}`);
      return 2;
    }
    return reportError(io, err, 2);
  }
}
