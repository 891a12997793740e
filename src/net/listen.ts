// Parses a listen address from the config: `host:port` or `[v6]:port`.
import { AcrEgressError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]+)$/.exec(value);
  if (!m) throw new AcrEgressError('LISTEN_FAILED', `not host:port: ${value}`);
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
}
