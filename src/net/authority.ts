// Parses the authority of a CONNECT request or a `check` argument: `host:port` or `[v6]:port`.

/** `host:port` or `[v6]:port`; null when malformed. */
export function parseAuthority(authority: string | undefined): { host: string; port: number } | null {
  if (authority === undefined || authority.length === 0 || authority.length > 300) return null;
  const m = /^(\[[^\]\s]*\]|[^:\s[\]/]+):([0-9]{1,5})$/.exec(authority);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] as string, port };
}
