// `acr-egress cache ls|verify|prune`: the layer cache folder (cache.dir of the config) from the
// command line. Safe beside a running gateway: a file it serves stays readable after a removal.
import { BlobCache } from '../cache/blob-cache.js';
import { configPath, loadConfigFile } from '../config/load.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import { reportError, type Io } from './output.js';

const CACHE_USAGE = `  cache ls [--config FILE] [--json]          the cached layers, least recently used first, and the total
  cache verify [--config FILE]               hashes every cached layer; removes those that do not match
  cache prune [--config FILE] [--to BYTES]   evicts least recently used layers down to BYTES (default: 90% of cache.maxBytes)`;

export const cacheCommand: Command = { name: 'cache', usage: CACHE_USAGE, run: (io, argv) => runCache(io, argv) };

const SUBS = new Set(['ls', 'verify', 'prune']);

async function runCache(io: Io, argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('cache', {
    args: argv,
    options: { config: { type: 'string' }, json: { type: 'boolean' }, to: { type: 'string' } },
    allowPositionals: true,
  });
  const [sub, ...rest] = positionals;
  if (sub === undefined || !SUBS.has(sub)) throw usageError('cache takes ls, verify or prune: try acr-egress cache ls');
  if (rest.length > 0)
    throw usageError(`cache ${sub} takes no arguments (got "${rest[0]}"): try acr-egress cache --help`);
  if (values.to !== undefined && sub !== 'prune') throw usageError(`cache ${sub}: --to is for prune`);
  const to = values.to === undefined ? null : Number(values.to);
  if (to !== null && (!Number.isSafeInteger(to) || to < 0))
    throw usageError(`cache prune: --to takes a number of bytes (got "${values.to}"): e.g. --to 10000000000`);
  try {
    const { dir, maxBytes } = loadConfigFile(configPath(values.config)).config.cache;
    const cache = await BlobCache.open({ dir, maxBytes });
    if (sub === 'ls') return list(io, cache, values.json === true);
    if (sub === 'verify') {
      const { ok, removed } = await cache.verifyAll();
      for (const hex of removed) io.out(`removed sha256:${hex}: its bytes do not match the digest`);
      io.out(`${ok} layer(s) verified, ${removed.length} removed (${dir})`);
      return removed.length === 0 ? 0 : 1;
    }
    const before = cache.sizeBytes;
    const removed = await cache.prune(to ?? Math.floor(maxBytes * 0.9));
    io.out(`${removed} layer(s) evicted: ${before} -> ${cache.sizeBytes} bytes (${dir})`);
    return 0;
  } catch (err) {
    return reportError(io, err, 1);
  }
}

function list(io: Io, cache: BlobCache, json: boolean): number {
  const entries = cache.list().sort((a, b) => a.lastUsed - b.lastUsed);
  if (json) {
    const items = entries.map((e) => ({
      digest: `sha256:${e.hex}`,
      size: e.size,
      lastUsed: new Date(e.lastUsed).toISOString(),
    }));
    io.out(JSON.stringify({ dir: cache.dir, sizeBytes: cache.sizeBytes, maxBytes: cache.maxBytes, items }));
    return 0;
  }
  for (const e of entries) io.out(`sha256:${e.hex}  ${e.size}  ${new Date(e.lastUsed).toISOString()}`);
  io.out(`${entries.length} layer(s), ${cache.sizeBytes} of ${cache.maxBytes} bytes (${cache.dir})`);
  return 0;
}
