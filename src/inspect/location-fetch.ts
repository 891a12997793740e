// The gateway following a blob redirect itself (for the layer cache): the storage host passes the
// checks a client's CONNECT to it would (host rule or learned host, client groups, an address in
// the rule's service tags, no private address), then a TLS connection verified against that name.
// Any refusal is an error: the cache then relays the redirect and the client follows it itself.
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { UpstreamAnswer } from '../cache/relay.js';
import { checkRequest, type LearnedLookup } from '../policy/decide.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import { chooseDestination } from '../proxy/destination.js';
import type { HostResolver } from '../proxy/resolver.js';
import type { VettedAgent } from './upstream-agent.js';

export interface LocationFetchEnv {
  readonly policy: PolicySnapshot;
  readonly client: string | null;
  readonly user: string | null;
  readonly learned: LearnedLookup;
  readonly resolver: Pick<HostResolver, 'resolve'>;
  /** With proxy.parent no address can be checked here, so the gateway does not follow at all. */
  readonly viaParent: boolean;
  readonly agentFor: (host: string, ip: string, port: number) => VettedAgent;
  /** Until the storage answer's headers arrive, and then between body chunks. */
  readonly timeoutMs: number;
}

export async function fetchVettedLocation(env: LocationFetchEnv, url: URL): Promise<UpstreamAnswer> {
  if (url.protocol !== 'https:') throw new Error(`the redirect is not https (${url.protocol})`);
  if (env.viaParent) throw new Error('proxy.parent is set: redirects are left to the client');
  const port = url.port === '' ? 443 : Number(url.port);
  const check = checkRequest(env.policy, { client: env.client, user: env.user, host: url.hostname, port }, env.learned);
  if (!check.decision.allowed || check.host === null)
    throw new Error(`${check.decision.reason ?? 'refused'}: ${check.decision.detail ?? url.hostname}`);
  const dest = await chooseDestination(env.policy, env.resolver, check.host, check.match);
  if (!dest.ok) throw new Error(`${dest.decision.reason ?? 'refused'}: ${dest.decision.detail ?? ''}`);
  const agent = env.agentFor(check.host, dest.ip, port);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: check.host!,
        port,
        method: 'GET',
        path: `${url.pathname}${url.search}`,
        headers: { host: url.host },
      },
      (res: IncomingMessage) => {
        res.setTimeout(env.timeoutMs, () => res.destroy(new Error('storage answer stalled')));
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body: res });
      },
    );
    req.setTimeout(env.timeoutMs, () => req.destroy(new Error('storage did not answer in time')));
    req.once('error', reject);
    req.end();
  });
}
