// The gateway's own way out for the service-tag download: undici with a connector that resolves
// names through dns.servers (when set) and, when a proxy is configured (serviceTags.proxy, else
// HTTPS_PROXY/NO_PROXY of the gateway's environment), undici's proxy agent. This applies to the
// download only: client tunnels never go through it.
import { Resolver } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent, EnvHttpProxyAgent, fetch as undiciFetch, type Dispatcher } from 'undici';
import type { FetchLike } from './fetch.js';

export interface EgressOptions {
  /** serviceTags.proxy; null = the environment's HTTPS_PROXY (or none). */
  proxy: string | null;
  /** dns.servers; empty = the system resolver. */
  dnsServers: readonly string[];
  dnsTimeoutMs: number;
  env: NodeJS.ProcessEnv;
}

export interface Egress {
  readonly fetch: FetchLike;
  /** Which proxy the download uses (for logs), or null for direct. */
  readonly proxy: string | null;
  close(): Promise<void>;
}

/** A net.connect lookup that asks only the given DNS servers (A, then AAAA). */
function lookupVia(servers: readonly string[], timeoutMs: number): LookupFunction {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  resolver.setServers([...servers]);
  const resolveAll = async (host: string): Promise<{ address: string; family: number }[]> => {
    const v4 = await new Promise<string[]>((ok) => resolver.resolve4(host, (err, a) => ok(err ? [] : a)));
    if (v4.length > 0) return v4.map((address) => ({ address, family: 4 }));
    const v6 = await new Promise<string[]>((ok) => resolver.resolve6(host, (err, a) => ok(err ? [] : a)));
    return v6.map((address) => ({ address, family: 6 }));
  };
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    // Node's lookup contract is a callback: every outcome, a rejection included, reaches it.
    void resolveAll(hostname).then((found) => {
      if (found.length === 0) {
        const err = Object.assign(new Error(`${hostname}: not found via dns.servers`), { code: 'ENOTFOUND', hostname });
        return callback(err);
      }
      if (options.all) return callback(null, found);
      return callback(null, found[0]!.address, found[0]!.family);
    }, callback);
  }) as unknown as LookupFunction;
}

export function createEgress(options: EgressOptions): Egress {
  const { env } = options;
  const proxy = options.proxy ?? env.HTTPS_PROXY ?? env.https_proxy ?? null;
  const lookup = options.dnsServers.length > 0 ? lookupVia(options.dnsServers, options.dnsTimeoutMs) : undefined;
  const connect = lookup === undefined ? undefined : { lookup };
  let dispatcher: Dispatcher;
  if (proxy === null || proxy === '') {
    dispatcher = new Agent({ connect });
  } else {
    // NO_PROXY applies to a proxy from the environment; an explicit serviceTags.proxy is always used.
    const noProxy = options.proxy === null ? (env.NO_PROXY ?? env.no_proxy ?? '') : '';
    dispatcher = new EnvHttpProxyAgent({ httpProxy: proxy, httpsProxy: proxy, noProxy, connect, proxyTls: connect });
  }
  const fetch: FetchLike = (url, init) =>
    undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher });
  return { fetch, proxy: proxy === '' ? null : proxy, close: () => dispatcher.close() };
}
