// Starts the admin API on admin.listen, refusing a non-loopback address when no token is configured
// (an open admin API on the network would hand out the logs and the reload button).
import type { AddressInfo } from 'node:net';
import { AcrEgressError } from '../errors.js';
import { classifyAddress, parseIp } from '../net/address.js';
import { parseListen } from '../net/listen.js';
import type { AdminApp } from './app-types.js';
import { createAdminApp } from './app.js';
import type { AdminDeps, AdminOptions } from './deps.js';

/** Loopback by address (127.0.0.0/8, ::1) or the name localhost; anything else may be reachable. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const ip = parseIp(host);
  return ip !== null && classifyAddress(ip) === 'loopback';
}

export interface RunningAdmin {
  readonly app: AdminApp;
  readonly address: AddressInfo;
}

/** null `listen`: the admin API is off. Throws ADMIN_UNSAFE_BIND or LISTEN_FAILED. */
export async function startAdmin(
  deps: AdminDeps,
  listen: string | null,
  options: AdminOptions = {},
): Promise<RunningAdmin | null> {
  if (listen === null) return null;
  let where: { host: string; port: number };
  try {
    where = parseListen(listen);
  } catch {
    throw new AcrEgressError('LISTEN_FAILED', `admin.listen: "${listen}" is not host:port`);
  }
  const loopback = isLoopbackHost(where.host);
  if (!loopback && deps.tokens().size === 0) {
    throw new AcrEgressError(
      'ADMIN_UNSAFE_BIND',
      `admin.listen is ${listen}, which is not a loopback address, and no admin token is configured: ` +
        'set admin.token, admin.tokenFile or admin.tokens, or listen on 127.0.0.1',
    );
  }
  // Without tokens the API answers without one, which only a loopback listener may do.
  const app = createAdminApp(deps, { ...options, anonymousWithoutToken: loopback });
  try {
    await app.listen({ host: where.host, port: where.port });
  } catch (err) {
    await app.close().catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new AcrEgressError('LISTEN_FAILED', `admin.listen ${listen}: cannot listen (${code})`, { cause: err });
  }
  const address = app.server.address() as AddressInfo;
  app.log.info(
    { listen: address, tokens: [...deps.tokens().keys()], metricsAuth: deps.metricsAuth() },
    'admin API listening',
  );
  return { app, address };
}
