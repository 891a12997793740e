// proxy.parent and serviceTags.proxy: the parent proxy allowed tunnels are handed to, its
// credentials (read from a file at every load, never logged), and the refusal of an enforce: true
// that a parent would silently turn into "no range check".
import type { Config } from './schema.js';
import { readSecretFile } from './secrets.js';

export interface ParentProxy {
  readonly host: string;
  readonly port: number;
  /** `Basic <base64(user:password)>`, or null without credentials. A secret: never log it. */
  readonly authorization: string | null;
  /** host:port, for logs and records. */
  readonly label: string;
}

/** http://host:port with nothing else; the problem otherwise. */
function parseProxyUrl(value: string): { host: string; port: number } | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL; use http://host:port`;
  }
  if (url.protocol !== 'http:') return `"${value}": only http://host:port proxies are supported`;
  if (url.username !== '' || url.password !== '') return 'credentials do not belong in the URL; use a credentials file';
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '')
    return `"${value}" has a path or query; use http://host:port`;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? 80 : Number(url.port) };
}

export function checkParent(config: Config, problems: string[]): ParentProxy | null {
  const { parent, parentCredentialsFile } = config.proxy;
  const st = config.serviceTags;
  if (st.proxy !== null) {
    const p = parseProxyUrl(st.proxy);
    if (typeof p === 'string') problems.push(`serviceTags.proxy: ${p}`);
  }
  if (parent === null) {
    if (parentCredentialsFile !== null)
      problems.push('proxy.parentCredentialsFile: set only together with proxy.parent');
    return null;
  }
  const where = parseProxyUrl(parent);
  if (typeof where === 'string') {
    problems.push(`proxy.parent: ${where}`);
    return null;
  }
  if (st.enforce === true && st.enforceWithParent !== false) {
    problems.push(
      'serviceTags.enforce: true cannot be honoured with proxy.parent: the parent resolves the names, so the ' +
        'addresses are never checked against service-tag ranges; set serviceTags.enforceWithParent: false to ' +
        'accept that, or serviceTags.enforce: false',
    );
  }
  let authorization: string | null = null;
  if (parentCredentialsFile !== null) {
    const read = readSecretFile(parentCredentialsFile);
    if (!read.ok) problems.push(`proxy.parentCredentialsFile: ${read.problem}`);
    else if (!read.value.includes(':'))
      problems.push(`proxy.parentCredentialsFile: "${parentCredentialsFile}" must hold user:password on one line`);
    else authorization = `Basic ${Buffer.from(read.value, 'utf8').toString('base64')}`;
  }
  const label = `${where.host.includes(':') ? `[${where.host}]` : where.host}:${where.port}`;
  return { host: where.host, port: where.port, authorization, label };
}
