// Reads a config file (YAML or JSON), substitutes the environment, validates everything at once and
// returns a frozen, resolved config. Every problem carries its path; nothing is half-applied.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseDocument } from 'yaml';
import { AcrEgressError } from '../errors.js';
import { normalizeHost } from '../net/host.js';
import { CidrList } from '../net/address.js';
import type { CloudName } from './cloud.js';
import { substituteEnv } from './env.js';
import { resolveRegistries, type ResolvedRegistry } from './registries.js';
import type { Config } from './schema.js';
import { validateConfigShape } from './validate.js';

export const DEFAULT_CONFIG_FILE = 'config/acr-egress.yaml';

export interface LoadedConfig {
  readonly file: string | null;
  readonly config: Readonly<Config>;
  readonly registries: readonly ResolvedRegistry[];
  /** Admin tokens by name; `default` for admin.token / admin.tokenFile. */
  readonly adminTokens: ReadonlyMap<string, string>;
  /** Short hash of the effective config, shown by the admin API and in logs. */
  readonly version: string;
}

/** The config file to use: --config, then ACR_EGRESS_CONFIG, then the default. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.ACR_EGRESS_CONFIG ?? DEFAULT_CONFIG_FILE;
}

function parseText(text: string, file: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new AcrEgressError('CONFIG_INVALID', `${file}: not valid YAML or JSON`, {
      details: doc.errors.map((e) => e.message.split('\n')[0] ?? e.message),
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

function adminTokens(config: Config, problems: string[]): Map<string, string> {
  const tokens = new Map<string, string>();
  const { token, tokenFile } = config.admin;
  if (token !== null && token !== '' && tokenFile !== null) {
    problems.push('admin: give admin.token or admin.tokenFile, not both');
  }
  if (token !== null && token !== '') {
    if (token.length < 16) problems.push('admin.token: must be at least 16 characters');
    tokens.set('default', token);
  } else if (tokenFile !== null) {
    try {
      const t = readFileSync(tokenFile, 'utf8').trim();
      if (t.length < 16) problems.push(`admin.tokenFile: the token in "${tokenFile}" must be at least 16 characters`);
      tokens.set('default', t);
    } catch (err) {
      problems.push(
        `admin.tokenFile: cannot read "${tokenFile}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  for (const { name, token: t } of config.admin.tokens) {
    if (tokens.has(name)) problems.push(`admin.tokens: the name "${name}" is used twice`);
    tokens.set(name, t);
  }
  return tokens;
}

/** Validates a parsed document (already env-substituted). Throws CONFIG_INVALID with every problem. */
export function buildConfig(
  raw: unknown,
  file: string | null,
  unset: ReadonlyMap<string, string> = new Map(),
): LoadedConfig {
  const label = file ?? 'config';
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new AcrEgressError('CONFIG_INVALID', `${label}: the top level must be a mapping`, {
      details: ['(root): must be object'],
    });
  }
  const doc = structuredClone(raw) as Record<string, unknown>;
  const problems = validateConfigShape(doc).map((p) => {
    const path = p.slice(0, p.indexOf(': '));
    const name = unset.get(path);
    return name === undefined ? p : `${path}: environment variable ${name} is not set`;
  });
  if (problems.length > 0) {
    throw new AcrEgressError('CONFIG_INVALID', `${label}: ${problems.length} problem(s)`, { details: problems });
  }
  const config = doc as unknown as Config;
  const registries = resolveRegistries(config.registries, config.cloud as CloudName, problems);
  checkAllow(config.allow, problems);
  checkCidrs(config.proxy.clients, 'proxy.clients', problems);
  checkCidrs(config.proxy.proxyProtocol.trusted, 'proxy.proxyProtocol.trusted', problems);
  checkCidrs(config.network.allowPrivate, 'network.allowPrivate', problems);
  checkListen(config.proxy.listen, 'proxy.listen', problems);
  checkListen(config.proxy.transparentListen, 'proxy.transparentListen', problems);
  checkListen(config.admin.listen, 'admin.listen', problems);
  for (const [name, addrs] of Object.entries(config.dns.overrides)) {
    const host = normalizeHost(name);
    if (!host.ok) problems.push(`dns.overrides["${name}"]: not a host name (${host.detail})`);
    addrs.forEach((a, i) => {
      if (isIP(a) === 0) problems.push(`dns.overrides["${name}"][${i}]: "${a}" is not an IP address`);
    });
  }
  if (config.dns.minTtlSeconds > config.dns.maxTtlSeconds)
    problems.push('dns.minTtlSeconds: must not exceed dns.maxTtlSeconds');
  if (registries.length === 0 && !config.mcr && config.allow.length === 0) {
    problems.push('registries: nothing is allowed: configure a registry, mcr: true or an allow entry');
  }
  const tokens = adminTokens(config, problems);
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
  return deepFreeze({ file, config, registries, adminTokens: tokens, version });
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new AcrEgressError('CONFIG_UNREADABLE', `${file}: cannot read the config file (${code})`, { cause: err });
  }
  const { value, unset } = substituteEnv(parseText(text, file), env);
  return buildConfig(value, file, unset);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof Map)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
