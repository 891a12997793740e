// One HTTP request inside an inspected tunnel: parse, check, then (only if it will be forwarded)
// `100 Continue`, forward with http-proxy without hop-by-hop or proxy headers, or refuse in the
// registry's error shape; learn a blob redirect's storage host, and write a `request` record.
// Never kept anywhere: the Authorization header, request or response bodies, the query string.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { SecureContext } from 'node:tls';
import type HttpProxy from 'http-proxy';
import type { Recorder } from '../audit/recorder.js';
import type { RequestFields } from '../audit/record.js';
import type { ResolvedRegistry } from '../config/registries.js';
import { stripHopByHop } from '../net/hop-by-hop.js';
import { normalizeHost } from '../net/host.js';
import { allow, block, chain, refuse, type Decision } from '../policy/decide.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import { recordOf, type ConnectionContext, type ProxySettings } from '../proxy/context.js';
import type { Dialed } from '../proxy/vetted-dial.js';
import { answerRefusal } from './answers.js';
import type { LearnedHosts } from './learned-hosts.js';
import { parseRegistryPath, pathOnly, type RegistryRoute } from './registry-path.js';
import { checkRegistryRequest, type RegistryRequestRules } from './rules.js';
import { isTlsVerifyError, type VettedAgent } from './upstream-agent.js';

/** What every request of one tunnel shares; made once when the tunnel starts. */
export interface TunnelState {
  /** The connection's facts (client, user, via, ip...): every request record is built from them. */
  readonly ctx: Readonly<ConnectionContext>;
  readonly host: string;
  readonly port: number;
  readonly decision: Decision;
  readonly policy: PolicySnapshot;
  /** The registry the tunnel's rule match carries, with its settings (inspect, cache...). */
  readonly registry: ResolvedRegistry;
  readonly rules: RegistryRequestRules;
  readonly blobLearned: boolean;
  readonly agent: VettedAgent;
  readonly target: string;
  readonly recorder: Recorder;
  /** The vetted dial for another host (policy, addresses, parent), on behalf of this tunnel's client. */
  readonly dial: (host: string, port: number) => Promise<Dialed>;
  /** Roots that TLS to an upstream host is verified against (system + inspect.upstreamCaFile). */
  readonly roots: SecureContext;
  readonly settings: Pick<ProxySettings, 'connectTimeoutMs' | 'idleTimeoutMs'>;
}

/**
 * The per-request extension point (a layer cache plugs in here). `claims` is asked for each request
 * that will be forwarded; for a claimed one the upstream response is not relayed by http-proxy:
 * `onResponse` sees its status and headers first and either answers the client itself (fetching a
 * redirect's Location through `exchange.tunnel.dial`) or hands it back to `relayResponse`.
 */
export interface RequestInterceptor {
  claims(exchange: Exchange): boolean;
  onResponse(exchange: Exchange, upstream: IncomingMessage, res: ServerResponse): void;
}

/** One forwarded request as an interceptor sees it. */
export interface Exchange {
  readonly tunnel: TunnelState;
  readonly method: string;
  readonly route: RegistryRoute;
  /** The request's end-to-end headers, as forwarded (hop-by-hop and proxy headers removed). */
  readonly headers: IncomingHttpHeaders;
  /** Request record fields; an interceptor may refine them (status is filled at the end). */
  readonly fields: RequestFields;
  /** Set by an interceptor that writes the body itself: the body bytes the client got. */
  bodyBytes: (() => number) | null;
}

export interface RequestEnv {
  readonly proxy: HttpProxy;
  readonly learned: LearnedHosts;
  readonly interceptors: readonly RequestInterceptor[];
}

/** Per-request bookkeeping, found again from http-proxy's events through the request. */
export interface RequestState extends Exchange {
  readonly tunnel: TunnelState;
  readonly route: RegistryRoute;
  /** The interceptor that takes this request's response, if any. */
  interceptor: RequestInterceptor | null;
  readonly res: ServerResponse;
  readonly startedAt: number;
  readonly fields: RequestFields;
  decision: Decision;
  bytesUp: number;
  bytesDown: number;
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

/**
 * `expectsContinue`: the client sent `Expect: 100-continue` (http.Server's checkContinue); it gets
 * its 100 only once the request is known to be forwarded, so a refused push sends no body.
 */
export function handleInspectedRequest(
  env: RequestEnv,
  requests: WeakMap<IncomingMessage, RequestState>,
  state: TunnelState,
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue = false,
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
    method,
    route,
    headers: req.headers,
    interceptor: null,
    res,
    startedAt: Date.now(),
    fields: {
      tunnel: state.ctx.id,
      method: method.slice(0, 16),
      path: pathOnly(target),
      status: null,
      ...routeFields(route),
    },
    decision: chain(state.decision, decision),
    bytesUp: 0,
    bytesDown: 0,
    bodyBytes: null,
  };
  res.once('close', () => finish(rs, res));
  if (!rs.decision.allowed) {
    answerRefusal(res, rs.decision.reason!, rs.decision.detail ?? '', !BODYLESS.has(method));
    return;
  }
  requests.set(req, rs);
  stripHopByHop(req.headers);
  if (expectsContinue) {
    // Decided: the 100 is the gateway's to send; the upstream gets the body without waiting for its own.
    delete req.headers.expect;
    res.writeContinue();
  }
  rs.interceptor = env.interceptors.find((i) => i.claims(rs)) ?? null;
  const options = {
    target: state.target,
    agent: state.agent,
    secure: true,
    xfwd: false,
    selfHandleResponse: rs.interceptor !== null,
  };
  env.proxy.web(req, res, options, (err) => upstreamFailed(rs, res, err));
  req.on('data', (chunk: Buffer) => (rs.bytesUp += chunk.length));
}

function upstreamFailed(rs: RequestState, res: ServerResponse, err: NodeJS.ErrnoException): void {
  const rule = rs.tunnel.decision.rule;
  const where = rs.tunnel.ctx.via === 'parent' ? 'via parent' : (rs.tunnel.ctx.ip ?? 'no address');
  const detail = `${rs.tunnel.host} (${where}): ${err.code ?? 'error'}: ${err.message}`.slice(0, 300);
  rs.decision = isTlsVerifyError(err)
    ? refuse('upstream_tls_error', detail, rule)
    : refuse('upstream_unreachable', detail, rule);
  answerRefusal(res, rs.decision.reason!, detail, true);
}

/** http-proxy's proxyRes: status and digest for the record, and a blob redirect's storage host. */
export function onUpstreamResponse(env: RequestEnv, rs: RequestState, upstream: IncomingMessage): void {
  // The upstream's hop-by-hop headers are its own; the client's connection keeps what it asked for
  // (http-proxy would otherwise answer keep-alive to a client that sent Connection: close).
  stripHopByHop(upstream.headers);
  upstream.headers.connection = rs.res.shouldKeepAlive ? 'keep-alive' : 'close';
  upstream.on('data', (chunk: Buffer) => (rs.bytesDown += chunk.length));
  const digest = upstream.headers['docker-content-digest'];
  if (rs.route.kind === 'manifest' && typeof digest === 'string' && digest.length <= 200) rs.fields.digest = digest;
  learnRedirect(env, rs, upstream);
  // Last: an interceptor following the redirect dials a storage host already learned for this client.
  rs.interceptor?.onResponse(rs, upstream, rs.res);
}

/** blobStorage: learned: a blob redirect's storage host is allowed for this client from now on. */
function learnRedirect(env: RequestEnv, rs: RequestState, upstream: IncomingMessage): void {
  const { tunnel } = rs;
  const client = tunnel.ctx.client;
  const status = upstream.statusCode ?? 0;
  if (!tunnel.blobLearned || rs.route.kind !== 'blob' || !REDIRECTS.has(status) || client === null) return;
  let host: string;
  try {
    // Only the host name is read; the URL (with its SAS signature) is passed on and never kept.
    host = new URL(upstream.headers.location ?? '', `https://${tunnel.host}/`).hostname;
  } catch {
    return;
  }
  const norm = normalizeHost(host);
  if (norm.ok && tunnel.policy.rules.isStorageHost(norm.host))
    env.learned.learn(client, norm.host, tunnel.rules.registry);
}

function finish(rs: RequestState, res: ServerResponse): void {
  rs.fields.status = res.headersSent ? res.statusCode : null;
  const outcome = {
    decision: rs.decision,
    bytesUp: rs.bytesUp,
    // The body the client got: with an interceptor writing it (the cache: from disk or teed), not
    // the registry's redirect.
    bytesDown: rs.bodyBytes?.() ?? rs.bytesDown,
    request: { startedAt: rs.startedAt, fields: rs.fields },
  };
  rs.tunnel.recorder.record(recordOf(rs.tunnel.ctx, outcome));
}
