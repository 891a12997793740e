// The gateway following a registry redirect itself (what the layer cache does on a miss): a GET of
// the Location through the tunnel's vetted dial, so the storage host passes exactly what the
// client's own CONNECT to it would (host rule or learned host, client groups, service tags and
// private addresses, or the parent proxy), then TLS verified against that name. A refusal is an error.
import { AcrEgressError } from '../errors.js';
import { request, type IncomingMessage } from 'node:http';
import type { TunnelState } from './inspected-request.js';
import { verifiedTls } from './upstream-agent.js';

/** Until the storage answer's headers arrive, and then between body chunks: the tunnel's idle timeout. */
export async function fetchLocation(tunnel: TunnelState, url: URL): Promise<IncomingMessage> {
  if (url.protocol !== 'https:')
    throw new AcrEgressError('LOCATION_REFUSED', `the redirect is not https (${url.protocol})`);
  const port = url.port === '' ? 443 : Number(url.port);
  const dialed = await tunnel.dial(url.hostname, port);
  if (!dialed.ok)
    throw new AcrEgressError(
      'LOCATION_REFUSED',
      `${dialed.decision.reason ?? 'refused'}: ${dialed.decision.detail ?? url.hostname}`,
    );
  const { connectTimeoutMs, idleTimeoutMs } = tunnel.settings;
  const tls = verifiedTls(dialed.upstream, url.hostname, tunnel.roots, connectTimeoutMs);
  return new Promise((resolve, reject) => {
    // No agent: this one connection carries this one request (Connection: close), then closes.
    const req = request(
      {
        createConnection: () => tls,
        method: 'GET',
        path: `${url.pathname}${url.search}`,
        headers: { host: url.host },
      },
      (res) => {
        res.setTimeout(idleTimeoutMs, () => res.destroy(new Error('storage answer stalled')));
        resolve(res);
      },
    );
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error('storage did not answer in time')));
    req.once('error', (err) => {
      tls.destroy();
      reject(err);
    });
    req.end();
  });
}
