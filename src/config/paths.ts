// Every config key that names a file or folder, in one list: a relative value is resolved against
// the folder of the config file (not the working directory), so a config means the same wherever
// the gateway is started. A key added elsewhere only needs a line here.
import { isAbsolute, resolve } from 'node:path';

/** Dotted paths; `[]` walks every element of an array. Keys absent from a config are skipped. */
const PATH_KEYS: readonly string[] = [
  'registries[].endpointsFile',
  'serviceTags.cacheFile',
  'serviceTags.source',
  'admin.tokenFile',
  'log.file',
  'proxy.parentCredentialsFile',
  'proxy.auth.usersFile',
  'inspect.caCertFile',
  'inspect.caKeyFile',
  'inspect.upstreamCaFile',
  'audit.dir',
  'audit.urlFile',
  'cache.dir',
];

/** URLs (serviceTags.source may be one) are left alone; so are absolute paths. */
function resolvable(value: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !isAbsolute(value);
}

function walk(node: unknown, parts: readonly string[], base: string): void {
  if (node === null || typeof node !== 'object' || parts.length === 0) return;
  const [head, ...rest] = parts as [string, ...string[]];
  const array = head.endsWith('[]');
  const key = array ? head.slice(0, -2) : head;
  const obj = node as Record<string, unknown>;
  const value = obj[key];
  if (array) {
    if (Array.isArray(value)) for (const item of value) walk(item, rest, base);
    return;
  }
  if (rest.length > 0) return walk(value, rest, base);
  if (typeof value === 'string' && value !== '' && resolvable(value)) obj[key] = resolve(base, value);
}

/** Rewrites, in place, every relative path in doc to an absolute one under base. */
export function resolvePaths(doc: Record<string, unknown>, base: string): void {
  for (const key of PATH_KEYS) walk(doc, key.split('.'), base);
}
