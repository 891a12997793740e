// `acr-egress check HOST[:PORT] [--sni NAME] [--ip ADDR] [--client ADDR] [--user NAME] [--json]`: the
// policy for one request (client groups included), evaluated from values, without opening any connection.
// Without --client the client checks do not run, and the output says so.
import pino from 'pino';
import { makeRecord } from '../audit/recorder.js';
import { configPath, loadConfigFile, type LoadedConfig } from '../config/load.js';
import { loadInitialTags } from '../gateway.js';
import { evaluate } from '../policy/decide.js';
import { compilePolicy } from '../policy/snapshot.js';
import type { ServiceTagIndex } from '../service-tags/types.js';
import { parseAuthority } from '../net/authority.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import type { Io } from './output.js';

const USAGE = `  check HOST[:PORT] [--sni NAME] [--ip ADDR] [--client ADDR] [--user NAME]
        [--config FILE] [--json]
                                             evaluate the policy for one request (no connection)`;

const quietLog = pino({ level: 'silent' });

export const checkCommand: Command = {
  name: 'check',
  usage: USAGE,
  async run(io, argv) {
    const { values, positionals } = parseCommandArgs('check', {
      args: argv,
      options: {
        config: { type: 'string' },
        sni: { type: 'string' },
        ip: { type: 'string' },
        client: { type: 'string' },
        user: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    });
    if (positionals.length !== 1)
      throw usageError(
        `check takes one HOST[:PORT] (got ${positionals.length}): try acr-egress check myregistry.azurecr.io`,
      );
    const target = checkTarget(positionals[0]!);
    const loaded = loadConfigFile(configPath(values.config));
    const tags = values.ip !== undefined ? await loadInitialTags(loaded, quietLog) : null;
    return runCheck(io, loaded, tags, {
      target,
      sni: values.sni,
      ip: values.ip,
      client: values.client,
      user: values.user,
      json: values.json === true,
    });
  },
};

/** Without --client the question is about the host: proxy.clients and client groups are not applied. */
const CLIENT_NOT_CHECKED = 'client not checked: give --client ADDR to apply proxy.clients and client groups';

interface CheckArgs {
  target: { host: string; port: number };
  sni?: string;
  ip?: string;
  client?: string;
  /** The proxy user, for client groups that match by user. */
  user?: string;
  json: boolean;
}

/** Splits `host`, `host:port` or `[v6]:port`; a bare host means port 443. */
function splitTarget(target: string): { host: string; port: number } | null {
  if (/:[0-9]+$/.test(target)) return parseAuthority(target);
  return target.length > 0 ? { host: target, port: 443 } : null;
}

/**
 * The HOST[:PORT] argument, or a usage error that says what to type: a URL or a path is a mistake
 * to point out, not a host name for the policy to block.
 */
function checkTarget(arg: string): { host: string; port: number } {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(arg);
  if (scheme !== null) {
    let suggestion = 'host';
    try {
      const url = new URL(arg);
      suggestion = url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
    } catch {
      // Not even a URL: the generic suggestion will do.
    }
    throw usageError(`check takes HOST[:PORT], not a URL: try acr-egress check ${suggestion}`);
  }
  const slash = arg.search(/[/?#]/);
  if (slash > 0) throw usageError(`check takes HOST[:PORT], not a path: try acr-egress check ${arg.slice(0, slash)}`);
  const target = splitTarget(arg);
  if (target === null)
    throw usageError(`check takes HOST[:PORT] (got "${arg}"): try acr-egress check myregistry.azurecr.io`);
  return target;
}

function runCheck(io: Io, loaded: LoadedConfig, tags: ServiceTagIndex | null, args: CheckArgs): number {
  const { target } = args;
  const policy = compilePolicy(loaded, tags);
  const { decision, host } = evaluate(policy, {
    client: args.client ?? null,
    user: args.user ?? null,
    host: target.host,
    port: target.port,
    sni: args.sni,
    ip: args.ip ?? null,
  });
  if (args.json) {
    const record = makeRecord({
      mode: 'check',
      client: args.client ?? null,
      user: args.user ?? null,
      host: host ?? target.host,
      port: target.port,
      sni: args.sni ?? null,
      ip: args.ip ?? null,
      decision,
    });
    if (args.client === undefined) record.clientChecked = false;
    io.out(JSON.stringify(record));
  } else if (decision.allowed) {
    let line = `allowed rule=${decision.rule ?? '-'}`;
    if (decision.tag !== null) line += ` tag=${decision.tag}`;
    if (decision.report) line += ` report=true would-block reason=${decision.reason ?? ''}`;
    if (decision.tagsUnenforced) line += ' tags=unenforced';
    io.out(line);
  } else {
    io.out(`blocked reason=${decision.reason ?? 'unknown'}`);
    if (decision.detail !== undefined) io.err(decision.detail);
  }
  if (!args.json && args.client === undefined) io.err(CLIENT_NOT_CHECKED);
  return decision.allowed ? 0 : 1;
}
