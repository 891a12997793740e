// Reads a config file (YAML or JSON), substitutes the environment, validates everything at once and
// returns a frozen, resolved config. Every problem carries its path; nothing is half-applied.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { AcrEgressError } from '../errors.js';
import { normalizeHost } from '../net/host.js';
import { CidrList, classifyAddress, parseIp } from '../net/address.js';
import { SERVICE_TAG_DOWNLOAD_PAGE, type CloudName } from './cloud.js';
import { checkClientGroups } from './client-groups.js';
import { cloudSourceProblem } from './cloud-source.js';
import { substituteEnv } from './env.js';
import { checkInspect } from './inspect.js';
import { checkParent, type ParentProxy } from './parent.js';
import { resolvePaths } from './paths.js';
import { builtinRegions, type RegionCatalog } from './regions.js';
import { resolveRegistries, type ResolvedRegistry } from './registries.js';
import type { Config } from './schema.js';
import { readSecretFile, tokenProblem } from './secrets.js';
import { validateConfigShape } from './validate.js';

const DEFAULT_CONFIG_FILE = 'config/acr-egress.yaml';

export interface LoadedConfig {
  readonly file: string | null;
  readonly config: Readonly<Config>;
  readonly registries: readonly ResolvedRegistry[];
  /** Admin tokens by name; `default` for admin.token / admin.tokenFile. */
  readonly adminTokens: ReadonlyMap<string, string>;
  /** Short hash of the effective config, shown by the admin API and in logs. */
  readonly version: string;
  /** The parent proxy tunnels are handed to (proxy.parent), with its credentials; null = direct. */
  readonly parent: ParentProxy | null;
  /** Registry entries left out because their name is an unset `${VAR}` (the default config's ACR_REGISTRY). */
  readonly skippedRegistries: readonly { path: string; variable: string }[];
}

export interface BuildOptions {
  /**
   * Regions the config may name: a catalogue (the loaded service-tag data's), 'builtin' (the list
   * generated from the real files, the default), or null to skip the check (a caller that checks later).
   */
  regions?: RegionCatalog | 'builtin' | null;
}

/** The config file to use: --config, then ACR_EGRESS_CONFIG, then the default. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.ACR_EGRESS_CONFIG ?? DEFAULT_CONFIG_FILE;
}

/**
 * The line a YAML error points at, the one before it, and a caret under the column, numbered as an
 * editor numbers them; the parser's message ("... at line 4, column 3") goes on top.
 */
function codeFrame(text: string, line: number, col: number): string[] {
  const lines = text.split(/\r?\n/);
  const width = String(line).length;
  const frame: string[] = [];
  for (let n = Math.max(1, line - 1); n <= Math.min(line, lines.length); n++)
    frame.push(`${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`);
  frame.push(`${' '.repeat(width)} | ${' '.repeat(Math.max(0, col - 1))}^`);
  return frame;
}

function parseText(text: string, file: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new AcrEgressError('CONFIG_INVALID', `${file}: not valid YAML or JSON`, {
      details: doc.errors.map((e) => {
        const first = (e.message.split('\n')[0] ?? e.message).replace(/:$/, '');
        const at = e.linePos?.[0];
        return at === undefined ? first : [first, ...codeFrame(text, at.line, at.col)].join('\n  ');
      }),
    });
  }
  return doc.toJS();
}

function checkAllow(patterns: readonly string[], problems: string[]): void {
  patterns.forEach((pattern, i) => {
    const path = `allow[${i}]`;
    const wildcard = pattern.startsWith('*.');
    const body = wildcard ? pattern.slice(2) : pattern;
    if (body.includes('*')) {
      problems.push(`${path}: "${pattern}" may use * only as the whole first label (*.example.com)`);
      return;
    }
    const host = normalizeHost(body);
    if (!host.ok) {
      problems.push(`${path}: "${pattern}" is not a host name (${host.detail})`);
      return;
    }
    if (wildcard && !host.host.includes('.')) {
      problems.push(`${path}: "${pattern}" is too wide: a wildcard needs a suffix of two or more labels`);
    }
  });
}

function checkCidrs(list: readonly string[], path: string, problems: string[]): void {
  const parsed = CidrList.parse([...list]);
  if ('errors' in parsed) {
    for (const e of parsed.errors) problems.push(`${path}: ${e}`);
  }
}

function checkListen(value: string | null, path: string, problems: string[]): void {
  if (value === null) return;
  const m = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) problems.push(`${path}: "${value}" is not host:port with a port 0-65535`);
  else if (m[1] !== undefined && isIP(m[1]) !== 6) problems.push(`${path}: "${m[1]}" is not an IPv6 address`);
}

function isLoopbackListen(listen: string): boolean {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):/.exec(listen);
  const host = (m?.[1] ?? m?.[2] ?? '').toLowerCase();
  if (host === 'localhost') return true;
  const ip = parseIp(host);
  return ip !== null && classifyAddress(ip) === 'loopback';
}

function adminTokens(config: Config, problems: string[]): Map<string, string> {
  const tokens = new Map<string, string>();
  const { token, tokenFile } = config.admin;
  if (token !== null && token !== '' && tokenFile !== null) {
    problems.push('admin: give admin.token or admin.tokenFile, not both');
  }
  if (token !== null && token !== '') {
    const problem = tokenProblem(token);
    if (problem !== null) problems.push(`admin.token: ${problem}`);
    tokens.set('default', token);
  } else if (tokenFile !== null) {
    const read = readSecretFile(tokenFile);
    if (!read.ok) problems.push(`admin.tokenFile: ${read.problem}`);
    else {
      const problem = tokenProblem(read.value);
      if (problem !== null) problems.push(`admin.tokenFile: the token in "${tokenFile}" ${problem}`);
      tokens.set('default', read.value);
    }
  }
  config.admin.tokens.forEach(({ name, token: t }, i) => {
    if (tokens.has(name)) problems.push(`admin.tokens[${i}].name: "${name}" is used twice`);
    const problem = tokenProblem(t);
    if (problem !== null) problems.push(`admin.tokens[${i}].token: ${problem}`);
    tokens.set(name, t);
  });
  // The same refusal startAdmin makes, here so that `config validate` and reload catch it too.
  const listen = config.admin.listen;
  if (listen !== null && tokens.size === 0 && !isLoopbackListen(listen)) {
    problems.push(
      `admin.listen: ${listen} is not a loopback address and no admin token is configured: ` +
        'set admin.token, admin.tokenFile or admin.tokens, or listen on 127.0.0.1',
    );
  }
  return tokens;
}

/**
 * Registry entries named by a whole `${VAR}` that is unset are left out rather than refused: the
 * default config's `name: ${ACR_REGISTRY}` then allows only MCR until ACR_REGISTRY is set.
 */
function unsetRegistries(doc: Record<string, unknown>, unset: ReadonlyMap<string, string>) {
  const skipped: { index: number; path: string; variable: string }[] = [];
  if (!Array.isArray(doc.registries)) return skipped;
  doc.registries.forEach((entry: unknown, i) => {
    const variable = unset.get(`registries[${i}].name`);
    if (variable !== undefined && (entry as { name?: unknown } | null)?.name === null)
      skipped.push({ index: i, path: `registries[${i}]`, variable });
  });
  return skipped;
}

/** serviceTags.source left out: the download page of the configured cloud, not always the Public one. */
function defaultSource(doc: Record<string, unknown>): void {
  const st = doc.serviceTags;
  const cloud = (doc.cloud ?? 'AzureCloud') as string;
  if (!Object.hasOwn(SERVICE_TAG_DOWNLOAD_PAGE, cloud)) return;
  if (st === undefined || st === null) doc.serviceTags = { source: SERVICE_TAG_DOWNLOAD_PAGE[cloud as CloudName] };
  else if (typeof st === 'object' && !Array.isArray(st) && !('source' in st))
    (st as Record<string, unknown>).source = SERVICE_TAG_DOWNLOAD_PAGE[cloud as CloudName];
}

/**
 * Validates a parsed document (already env-substituted). Throws CONFIG_INVALID with every problem at
 * once: a section whose shape is wrong is not checked further, every other section is.
 */
export function buildConfig(
  raw: unknown,
  file: string | null,
  unset: ReadonlyMap<string, string> = new Map(),
  options: BuildOptions = {},
): LoadedConfig {
  const label = file ?? 'config';
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new AcrEgressError('CONFIG_INVALID', `${label}: the top level must be a mapping`, {
      details: ['(root): must be object'],
    });
  }
  const doc = structuredClone(raw) as Record<string, unknown>;
  const skipped = unsetRegistries(doc, unset);
  const skippedPrefixes = skipped.map((s) => `${s.path}.`);
  defaultSource(doc);
  const problems = validateConfigShape(doc)
    .filter((p) => !skippedPrefixes.some((prefix) => p.startsWith(prefix)))
    .map((p) => {
      const path = p.slice(0, p.indexOf(': '));
      const name = unset.get(path);
      return name === undefined ? p : `${path}: environment variable ${name} is not set`;
    });
  const skippedRegistries = skipped.map(({ path, variable }) => ({ path, variable }));
  const shapeOk = (prefix: string): boolean =>
    !problems.some((p) => p.startsWith(`${prefix}:`) || p.startsWith(`${prefix}.`) || p.startsWith(`${prefix}[`));
  resolvePaths(doc, file === null ? process.cwd() : dirname(resolve(file)));
  const config = doc as unknown as Config;
  const cloudOk = shapeOk('cloud');
  const cloud = config.cloud;
  const catalog =
    options.regions === undefined || options.regions === 'builtin' ? builtinRegions(cloud) : options.regions;
  let registries: ResolvedRegistry[] = [];
  if (cloudOk && Array.isArray(config.registries)) {
    const bad = new Set(config.registries.map((_, i) => i).filter((i) => !shapeOk(`registries[${i}]`)));
    for (const { index } of skipped) bad.add(index);
    registries = resolveRegistries(config.registries, cloud, problems, catalog, bad);
  }
  if (shapeOk('allow')) checkAllow(config.allow, problems);
  if (shapeOk('inspect') && shapeOk('registries')) checkInspect(config, registries, problems);
  if (shapeOk('proxy')) {
    checkCidrs(config.proxy.clients, 'proxy.clients', problems);
    checkCidrs(config.proxy.proxyProtocol.trusted, 'proxy.proxyProtocol.trusted', problems);
    checkListen(config.proxy.listen, 'proxy.listen', problems);
    checkListen(config.proxy.transparentListen, 'proxy.transparentListen', problems);
  }
  if (shapeOk('clientGroups') && shapeOk('registries') && shapeOk('mcr') && shapeOk('allow'))
    checkClientGroups(config, registries, problems);
  if (shapeOk('admin')) checkListen(config.admin.listen, 'admin.listen', problems);
  if (shapeOk('network')) checkCidrs(config.network.allowPrivate, 'network.allowPrivate', problems);
  if (shapeOk('dns')) {
    for (const [name, addrs] of Object.entries(config.dns.overrides)) {
      const host = normalizeHost(name);
      if (!host.ok) problems.push(`dns.overrides["${name}"]: not a host name (${host.detail})`);
      addrs.forEach((a, i) => {
        if (isIP(a) === 0) problems.push(`dns.overrides["${name}"][${i}]: "${a}" is not an IP address`);
      });
    }
    if (config.dns.minTtlSeconds > config.dns.maxTtlSeconds)
      problems.push('dns.minTtlSeconds: must not exceed dns.maxTtlSeconds');
  }
  if (cloudOk && shapeOk('serviceTags')) {
    const wrong = cloudSourceProblem(cloud, config.serviceTags.source);
    if (wrong !== null) problems.push(`serviceTags.source: ${wrong}`);
  }
  if (shapeOk('registries') && shapeOk('mcr') && shapeOk('allow')) {
    if (registries.length === 0 && !config.mcr && config.allow.length === 0) {
      problems.push('registries: nothing is allowed: configure a registry, mcr: true or an allow entry');
    }
  }
  const tokens = shapeOk('admin') ? adminTokens(config, problems) : new Map<string, string>();
  const parent = shapeOk('proxy') && shapeOk('serviceTags') ? checkParent(config, problems) : null;
  if (problems.length > 0) {
    throw new AcrEgressError('CONFIG_INVALID', `${label}: ${problems.length} problem(s)`, { details: problems });
  }
  // Hostnames in overrides are matched after normalisation, like every other host.
  const overrides: Record<string, string[]> = {};
  for (const [name, addrs] of Object.entries(config.dns.overrides)) {
    const host = normalizeHost(name);
    if (host.ok) overrides[host.host] = addrs;
  }
  config.dns.overrides = overrides;
  const version = createHash('sha256').update(JSON.stringify({ config, registries })).digest('hex').slice(0, 12);
  return deepFreeze({ file, config, registries, adminTokens: tokens, version, parent, skippedRegistries });
}

/** The parsed, env-substituted document of a config file (buildConfig turns it into a config). */
export function readConfigDocument(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): { value: unknown; unset: Map<string, string> } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new AcrEgressError('CONFIG_UNREADABLE', `${file}: cannot read the config file (${code})`, { cause: err });
  }
  return substituteEnv(parseText(text, file), env);
}

export function loadConfigFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  options: BuildOptions = {},
): LoadedConfig {
  const { value, unset } = readConfigDocument(file, env);
  return buildConfig(value, file, unset, options);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof Map)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
