// One HTTP request inside an inspected tunnel: parse, check, forward with http-proxy or refuse in
// the registry's error shape, learn a blob redirect's storage host, and write a `request` record.
// Never kept anywhere: the Authorization header, request or response bodies, the query string.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type HttpProxy from 'http-proxy';
import type { Recorder } from '../audit/recorder.js';
import type { RequestFields } from '../audit/record.js';
import type { BlobCacheHandler, CachePlan, FetchLocation } from '../cache/blob-cache-handler.js';
import { normalizeHost } from '../net/host.js';
import { allow, block, chain, refuse, type Decision } from '../policy/decide.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import { answerRefusal } from './answers.js';
import type { LearnedHosts } from './learned-hosts.js';
import { parseRegistryPath, pathOnly, type RegistryRoute } from './registry-path.js';
import { checkRegistryRequest, type RegistryRequestRules } from './rules.js';
import { isTlsVerifyError, type VettedAgent } from './upstream-agent.js';

/** What every request of one tunnel shares; made once when the tunnel starts. */
export interface TunnelState {
  readonly id: string;
  readonly client: string | null;
  readonly host: string;
  readonly ip: string;
  readonly port: number;
  readonly decision: Decision;
  readonly policy: PolicySnapshot;
  readonly rules: RegistryRequestRules;
  readonly blobLearned: boolean;
  readonly agent: VettedAgent;
  readonly target: string;
  readonly recorder: Recorder;
  /** The layer cache, on a registry with cache: true; null otherwise. */
  readonly cache: BlobCacheHandler | null;
  /** Follows a blob redirect for the cache, vetted like this tunnel's client's own CONNECT. */
  readonly fetchLocation: FetchLocation;
}

export interface RequestEnv {
  readonly proxy: HttpProxy;
  readonly learned: LearnedHosts;
}

/** Per-request bookkeeping, found again from http-proxy's events through the request. */
export interface RequestState {
  readonly tunnel: TunnelState;
  readonly route: RegistryRoute;
  readonly startedAt: number;
  readonly fields: RequestFields;
  decision: Decision;
  bytesUp: number;
  bytesDown: number;
  /** Set when the cache takes part: it writes the response from the registry's answer. */
  readonly cachePlan: CachePlan | null;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

function routeFields(route: RegistryRoute): Pick<RequestFields, 'repository' | 'reference' | 'digest'> {
  switch (route.kind) {
    case 'manifest':
      return {
        repository: route.repository,
        reference: route.reference,
        digest: route.byDigest ? route.reference : null,
      };
    case 'blob':
    case 'referrers':
      return { repository: route.repository, reference: route.digest, digest: route.digest };
    case 'upload':
    case 'tags':
    case 'acr':
      return { repository: route.repository, reference: null, digest: null };
    default:
      return { repository: null, reference: null, digest: null };
  }
}

/** The Host header must name the tunnel's host: a registry front end routes by it. */
function hostHeaderProblem(req: IncomingMessage, state: TunnelState): string | null {
  const raw = req.headers.host ?? '';
  const m = /^([^:]+)(?::(\d+))?$/.exec(raw);
  const host = m ? normalizeHost(m[1] as string) : null;
  const port = m?.[2] === undefined ? 443 : Number(m[2]);
  if (host?.ok && host.host === state.host && (port === state.port || port === 443)) return null;
  return `the Host header "${raw.slice(0, 100)}" is not ${state.host}`;
}

export function handleInspectedRequest(
  env: RequestEnv,
  requests: WeakMap<IncomingMessage, RequestState>,
  state: TunnelState,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const method = req.method ?? '';
  const target = req.url ?? '';
  const route = parseRegistryPath(target);
  const verdict = checkRegistryRequest(state.rules, method, route);
  const hostProblem = hostHeaderProblem(req, state);
  let decision = allow(state.decision.rule);
  if (hostProblem !== null) decision = refuse('request_not_allowed', hostProblem, state.decision.rule);
  else if (verdict.reason !== null) decision = block(state.policy, verdict.reason, verdict.detail, state.decision.rule);
  const rs: RequestState = {
    tunnel: state,
    route,
    startedAt: Date.now(),
    fields: {
      tunnel: state.id,
      method: method.slice(0, 16),
      path: pathOnly(target),
      status: null,
      ...routeFields(route),
    },
    decision: chain(state.decision, decision),
    bytesUp: 0,
    bytesDown: 0,
    cachePlan: state.cache?.plan(method, route.kind === 'blob' ? route.digest : null, req.headers) ?? null,
  };
  res.once('close', () => finish(rs, res));
  if (!rs.decision.allowed) {
    answerRefusal(res, rs.decision.reason!, rs.decision.detail ?? '', !BODYLESS.has(method));
    return;
  }
  requests.set(req, rs);
  // With a cache plan the answer comes back through respondWithCache, never straight to the client.
  const selfHandleResponse = rs.cachePlan !== null;
  const options = { target: state.target, agent: state.agent, secure: true, xfwd: false, selfHandleResponse };
  env.proxy.web(req, res, options, (err) => upstreamFailed(rs, res, err as NodeJS.ErrnoException));
  req.on('data', (chunk: Buffer) => (rs.bytesUp += chunk.length));
}

function upstreamFailed(rs: RequestState, res: ServerResponse, err: NodeJS.ErrnoException): void {
  const rule = rs.tunnel.decision.rule;
  const detail = `${rs.tunnel.host} (${rs.tunnel.ip}): ${err.code ?? 'error'}: ${err.message}`.slice(0, 300);
  rs.decision = isTlsVerifyError(err)
    ? refuse('upstream_tls_error', detail, rule)
    : refuse('upstream_unreachable', detail, rule);
  answerRefusal(res, rs.decision.reason!, detail, true);
}

/** http-proxy's proxyRes: status and digest for the record, and a blob redirect's storage host. */
export function onUpstreamResponse(env: RequestEnv, rs: RequestState, upstream: IncomingMessage): void {
  upstream.on('data', (chunk: Buffer) => (rs.bytesDown += chunk.length));
  const digest = upstream.headers['docker-content-digest'];
  if (rs.route.kind === 'manifest' && typeof digest === 'string' && digest.length <= 200) rs.fields.digest = digest;
  const status = upstream.statusCode ?? 0;
  const { tunnel } = rs;
  if (!tunnel.blobLearned || rs.route.kind !== 'blob' || !REDIRECTS.has(status) || tunnel.client === null) return;
  let host: string;
  try {
    // Only the host name is read; the URL (with its SAS signature) is passed on and never kept.
    host = new URL(upstream.headers.location ?? '', `https://${tunnel.host}/`).hostname;
  } catch {
    return;
  }
  const norm = normalizeHost(host);
  if (norm.ok && tunnel.policy.rules.isStorageHost(norm.host))
    env.learned.learn(tunnel.client, norm.host, tunnel.rules.registry);
}

/** The registry answered a request the cache takes part in: the cache writes the client's response. */
export function respondWithCache(rs: RequestState, upstream: IncomingMessage, res: ServerResponse): void {
  const answer = { status: upstream.statusCode ?? 502, headers: upstream.headers, body: upstream };
  rs.cachePlan?.respond(answer, res, rs.tunnel.fetchLocation).then(
    (result) => (rs.fields.cache = result),
    () => res.destroy(),
  );
}

function finish(rs: RequestState, res: ServerResponse): void {
  const { tunnel } = rs;
  rs.fields.status = res.headersSent ? res.statusCode : null;
  tunnel.recorder.recordRequest(
    {
      mode: 'connect',
      client: tunnel.client,
      host: tunnel.host,
      port: tunnel.port,
      sni: tunnel.host,
      ip: tunnel.ip,
      decision: rs.decision,
      startedAt: rs.startedAt,
      bytesUp: rs.bytesUp,
      // The body the client got: with the cache in the path, from disk or teed, not the registry's redirect.
      bytesDown: rs.cachePlan?.bytesSent ?? rs.bytesDown,
    },
    rs.fields,
  );
}
