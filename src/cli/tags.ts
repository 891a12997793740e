// `acr-egress tags update|lookup|diff|show`: the service-tag data from the command line, through the
// same manager (fetch, validation, cache) the running gateway uses.
import { isIP } from 'node:net';
import pino, { type Logger } from 'pino';
import { configPath, loadConfigFile } from '../config/load.js';
import { ruleTagNeeds } from '../policy/tag-needs.js';
import { diffServiceTags } from '../service-tags/diff.js';
import type { FetchLike } from '../service-tags/fetch.js';
import { ServiceTagManager } from '../service-tags/manager.js';
import { parseServiceTags } from '../service-tags/parse.js';
import { readSourceFile } from '../service-tags/source.js';
import type { ServiceTagsFile, TagsStatus } from '../service-tags/types.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import { reportError, type Io } from './output.js';

const TAGS_USAGE = `  tags update [--config FILE] [--force] [--verbose]
                                             download service tags from serviceTags.source into the cache
  tags lookup IP [--config FILE]             every service tag whose ranges contain IP
  tags show [--config FILE] [--json]         change number, cloud, age and used tags of the data in use
  tags diff OLD NEW [--json]                 what changed per tag between two service-tag files`;

export interface TagsDeps {
  /** Operational log; default silent (info to stderr with --verbose). */
  log?: Logger;
  fetchImpl?: FetchLike;
  now?: () => number;
}

type Values = { config?: string; force?: boolean; json?: boolean; verbose?: boolean };

export const tagsCommand: Command = { name: 'tags', usage: TAGS_USAGE, run: (io, argv) => runTags(io, argv) };

export async function runTags(io: Io, argv: string[], deps: TagsDeps = {}): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs('tags', {
      args: argv,
      options: {
        config: { type: 'string' },
        force: { type: 'boolean' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean' },
      },
      allowPositionals: true,
    });
    const [sub, ...args] = positionals;
    const log = deps.log ?? (values.verbose ? pino({ level: 'info' }, pino.destination(2)) : pino({ level: 'silent' }));
    switch (sub) {
      case 'update':
        if (args.length !== 0) throw usageError('tags update takes no arguments: try acr-egress tags update');
        return await update(io, values, log, deps);
      case 'lookup':
        if (args.length !== 1)
          throw usageError(`tags lookup takes one IP (got ${args.length}): try acr-egress tags lookup 20.42.66.1`);
        return await lookup(io, values, args[0]!, log);
      case 'show':
        if (args.length !== 0) throw usageError('tags show takes no arguments: try acr-egress tags show');
        return await show(io, values, log, deps);
      case 'diff':
        if (args.length !== 2)
          throw usageError(
            `tags diff takes two files (got ${args.length}): try acr-egress tags diff OLD.json NEW.json`,
          );
        return await diff(io, args[0]!, args[1]!, values.json === true);
      default:
        throw usageError(
          `${sub === undefined ? 'tags needs a subcommand' : `unknown tags subcommand "${sub}"`}: try acr-egress tags show (or acr-egress tags --help)`,
        );
    }
  } catch (err) {
    return reportError(io, err, 1);
  }
}

function manager(values: Values, log: Logger, deps: TagsDeps): ServiceTagManager {
  const config = loadConfigFile(configPath(values.config));
  return new ServiceTagManager({ config, needs: ruleTagNeeds, log, fetchImpl: deps.fetchImpl, now: deps.now });
}

async function update(io: Io, values: Values, log: Logger, deps: TagsDeps): Promise<number> {
  const tags = manager(values, log, deps);
  const { cacheFile, source } = tags.config.config.serviceTags;
  if (cacheFile === null) {
    io.err('acr-egress: serviceTags.cacheFile is null: there is no cache file to update (set serviceTags.cacheFile)');
    return 1;
  }
  const old = await tags.loadCache();
  const result = await tags.refresh({ force: values.force === true });
  const kept = `the cache file ${cacheFile} is unchanged${old ? ` (change ${old.changeNumber})` : ''}`;
  if (!result.ok) {
    io.err(`acr-egress: tags update from ${source ?? '(no source)'} failed: ${result.error}`);
    io.err(kept);
    return 1;
  }
  if (result.cacheError !== undefined) {
    io.err(`acr-egress: ${result.cacheError}`);
    io.err(kept);
    return 1;
  }
  const s = result.status;
  const was = old !== null && result.changed ? ` (was ${old.changeNumber})` : '';
  io.out(
    `${result.changed ? 'updated' : 'unchanged'}: change ${s.changeNumber}${was}, cloud ${s.cloud}, from ${s.source}`,
  );
  io.out(`cache: ${cacheFile}`);
  const moved = new Map(result.changes.map((c) => [c.tag, c]));
  for (const [tag, count] of Object.entries(s.tags)) {
    const c = moved.get(tag);
    io.out(`  ${tag}: ${count} prefixes${c ? ` (+${c.added} -${c.removed})` : ''}`);
  }
  for (const c of result.changes)
    if (!(c.tag in s.tags)) io.out(`  ${c.tag}: no longer used or present (-${c.removed})`);
  return 0;
}

async function lookup(io: Io, values: Values, ip: string, log: Logger): Promise<number> {
  if (isIP(ip) === 0)
    throw usageError(`tags lookup takes an IP address, not "${ip}": try acr-egress tags lookup 20.42.66.1`);
  const tags = manager(values, log, {});
  if ((await tags.loadInitial()) === null) return noData(io, tags.status());
  const found = tags.lookup(ip);
  for (const name of found) io.out(name);
  if (found.length === 0) io.err(`no service tag in change ${tags.index?.changeNumber} contains ${ip}`);
  return found.length > 0 ? 0 : 1;
}

function noData(io: Io, status: TagsStatus): number {
  io.err('acr-egress: no service-tag data could be loaded (the source file or the cache file)');
  if (status.lastError !== null) io.err(`  ${status.lastError}`);
  return 1;
}

function formatAge(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`;
}

async function show(io: Io, values: Values, log: Logger, deps: TagsDeps): Promise<number> {
  const tags = manager(values, log, deps);
  const index = await tags.loadInitial();
  const s = tags.status();
  const { maxAgeDays } = tags.config.config.serviceTags;
  if (values.json) {
    io.out(
      JSON.stringify({ ...s, maxAgeDays, tagCount: index?.tagCount ?? null, prefixCount: index?.prefixCount ?? null }),
    );
    return index === null ? 1 : 0;
  }
  if (index === null) return noData(io, s);
  io.out(`change ${s.changeNumber}, cloud ${s.cloud}, ${index.tagCount} tags, ${index.prefixCount} prefixes`);
  io.out(`source: ${s.source}`);
  const stale = s.stale ? `  STALE: older than serviceTags.maxAgeDays (${maxAgeDays})` : '';
  const from = s.publishedAt !== null ? 'published' : 'data time';
  io.out(`${from}: ${s.loadedAt} (age ${formatAge(s.ageSeconds ?? 0)}, from the ${s.ageFrom})${stale}`);
  io.out('tags in use (prefixes):');
  for (const [tag, count] of Object.entries(s.tags)) io.out(`  ${tag}: ${count}`);
  return 0;
}

async function readTags(path: string): Promise<ServiceTagsFile> {
  const { body } = await readSourceFile(path);
  try {
    return parseServiceTags(body);
  } catch (err) {
    throw Object.assign(err as Error, { message: `${path}: ${(err as Error).message}` });
  }
}

async function diff(io: Io, oldPath: string, newPath: string, json: boolean): Promise<number> {
  const [a, b] = await Promise.all([readTags(oldPath), readTags(newPath)]);
  const changed = diffServiceTags(a, b);
  const side = (path: string, f: ServiceTagsFile) => ({
    file: path,
    changeNumber: f.changeNumber,
    cloud: f.cloud,
    tags: f.values.length,
  });
  if (json) {
    io.out(JSON.stringify({ old: side(oldPath, a), new: side(newPath, b), changed }));
    return 0;
  }
  io.out(`old: ${oldPath}: change ${a.changeNumber}, cloud ${a.cloud}, ${a.values.length} tags`);
  io.out(`new: ${newPath}: change ${b.changeNumber}, cloud ${b.cloud}, ${b.values.length} tags`);
  io.out(`${changed.length} tag${changed.length === 1 ? '' : 's'} changed`);
  for (const d of changed) {
    const numbers =
      d.changeNumberFrom !== undefined && d.changeNumberTo !== undefined
        ? `, change ${d.changeNumberFrom} -> ${d.changeNumberTo}`
        : '';
    const what = d.status === 'changed' ? '' : ` (${d.status})`;
    io.out(`${d.name}${what}: +${d.added.length} -${d.removed.length}${numbers}`);
    for (const p of d.added) io.out(`  + ${p}`);
    for (const p of d.removed) io.out(`  - ${p}`);
  }
  return 0;
}
