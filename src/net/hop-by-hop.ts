// Hop-by-hop headers (RFC 9110 section 7.6.1): they belong to one connection, so a proxy consumes
// them and never forwards them, with every name the Connection header lists. The Proxy-* headers
// are the gateway's own (its credentials must never travel past it).
import type { IncomingHttpHeaders } from 'node:http';

/** Always consumed; Transfer-Encoding is left to Node, which re-frames the body it forwards. */
const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'upgrade'];
const PROXY = ['proxy-authorization', 'proxy-authenticate'];

/** Deletes the hop-by-hop and proxy headers (and the names Connection lists) from `headers`, in place. */
export function stripHopByHop(headers: IncomingHttpHeaders): void {
  for (const field of [headers.connection, headers['proxy-connection']]) {
    if (typeof field !== 'string') continue;
    for (const name of field.split(',')) {
      const n = name.trim().toLowerCase();
      // Never let a listed name remove what framing needs.
      if (n !== '' && n !== 'host' && n !== 'content-length' && n !== 'transfer-encoding') delete headers[n];
    }
  }
  for (const name of HOP_BY_HOP) delete headers[name];
  for (const name of PROXY) delete headers[name];
}
