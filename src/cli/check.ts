// `acr-egress check HOST[:PORT] [--sni NAME] [--ip ADDR] [--client ADDR] [--user NAME] [--json]`: the
// policy for one request (client groups included), evaluated from values, without opening any connection.
import { makeRecord } from '../audit/recorder.js';
import type { LoadedConfig } from '../config/load.js';
import { evaluate } from '../policy/decide.js';
import { compilePolicy } from '../policy/snapshot.js';
import type { ServiceTagIndex } from '../service-tags/types.js';
import { parseAuthority } from '../net/authority.js';
import type { Io } from './output.js';

export interface CheckArgs {
  target: string;
  sni?: string;
  ip?: string;
  client?: string;
  /** The proxy user, for client groups that match by user. */
  user?: string;
  json: boolean;
}

/** Splits `host`, `host:port` or `[v6]:port`; a bare host means port 443. */
export function splitTarget(target: string): { host: string; port: number } | null {
  if (/:[0-9]+$/.test(target)) return parseAuthority(target);
  return target.length > 0 ? { host: target, port: 443 } : null;
}

export function runCheck(io: Io, loaded: LoadedConfig, tags: ServiceTagIndex | null, args: CheckArgs): number {
  const target = splitTarget(args.target);
  if (target === null) {
    io.err(`acr-egress check: "${args.target}" is not HOST[:PORT]`);
    return 2;
  }
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
  return decision.allowed ? 0 : 1;
}
