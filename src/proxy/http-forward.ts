// Plain-HTTP proxying of absolute-form requests (`GET http://host/path`) through http-proxy, with the
// same host and address checks as tunnels; the upstream is dialled at the vetted address only.
import type { IncomingMessage, ServerResponse } from 'node:http';
import httpProxy from 'http-proxy';
import { auditGate } from '../audit/recorder.js';
import { checkRequest, refuse, chain, type Decision } from '../policy/decide.js';
import type { Reason } from '../policy/reasons.js';
import { blockBody, PROXY_AUTHENTICATE, statusFor } from './responses.js';
import { chooseDestination } from './destination.js';
import { stripHopByHop } from '../net/hop-by-hop.js';
import { newContext, recordOf, type ProxyDeps } from './context.js';

/** `clientOf`: the client a trusted PROXY header named for this request's connection, if any. */
export function createHttpForwarder(
  deps: ProxyDeps,
  clientOf: (req: IncomingMessage) => string | undefined = () => undefined,
): (req: IncomingMessage, res: ServerResponse) => void {
  const proxy = httpProxy.createProxyServer({
    xfwd: false,
    changeOrigin: false,
    ws: false,
    followRedirects: false,
  });
  proxy.on('error', (_err, _req, res) => {
    const r = res as ServerResponse;
    if ('headersSent' in r && !r.headersSent) answer(r, 'upstream_unreachable', 'the upstream request failed');
    else (res as { destroy?: () => void }).destroy?.();
  });

  // Response bytes per request; one listener for the shared proxy, keyed by the request.
  const counters = new WeakMap<IncomingMessage, Counter>();
  proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => {
    const counter = counters.get(req);
    if (counter) proxyRes.on('data', (c: Buffer) => (counter.bytesDown += c.length));
  });

  return (req, res) => {
    void forward(deps, proxy, counters, req, res, clientOf(req)).catch((err: unknown) => {
      deps.log.error({ err }, 'http forwarding failed');
      if (!res.headersSent) answer(res, 'upstream_unreachable', 'internal error');
    });
  };
}

function answer(res: ServerResponse, reason: Reason, detail?: string): void {
  const body = blockBody(reason, detail);
  if (reason === 'proxy_auth_required') res.setHeader('Proxy-Authenticate', PROXY_AUTHENTICATE);
  res.writeHead(statusFor(reason), {
    'X-Acr-Egress-Reason': reason,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
}

interface Counter {
  bytesUp: number;
  bytesDown: number;
}

async function forward(
  deps: ProxyDeps,
  proxy: httpProxy,
  counters: WeakMap<IncomingMessage, Counter>,
  req: IncomingMessage,
  res: ServerResponse,
  proxiedClient: string | undefined,
): Promise<void> {
  const ctx = newContext('http', req.socket.remoteAddress);
  if (proxiedClient !== undefined) ctx.client = proxiedClient;
  const done = (decision: Decision, bytesUp: number | null = null, bytesDown: number | null = null): void => {
    ctx.decision = decision;
    deps.recorder.record(recordOf(ctx, { decision, bytesUp, bytesDown }));
  };
  const blocked = (decision: Decision): void => {
    if (decision.reason !== null) answer(res, decision.reason, decision.detail);
    done(decision);
  };

  let url: URL | null = null;
  try {
    if (req.url !== undefined && /^http:\/\//i.test(req.url)) url = new URL(req.url);
  } catch {
    url = null;
  }
  if (url === null || url.username !== '' || url.password !== '') {
    return blocked(refuse('bad_request', 'only absolute-form http:// requests (or CONNECT) are proxied'));
  }
  const port = url.port === '' ? 80 : Number(url.port);
  ctx.host = url.hostname;
  ctx.port = port;
  const auth = deps.auth();
  if (auth !== null) {
    const header = req.headers['proxy-authorization'];
    const who = await auth.check(Array.isArray(header) ? undefined : header, ctx.client);
    if (!who.ok) return blocked(refuse('proxy_auth_required', who.detail));
    ctx.user = who.user;
  }
  // A plain request to the TLS port can only be a mistake (the client meant https://).
  if (port === 443) return blocked(refuse('not_tls', 'a plain http:// request to port 443: use https:// (CONNECT)'));
  // The Host header must name the same host, or the upstream would serve another site than was checked.
  const hostHeader = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
  const policy = deps.policy();
  const request = checkRequest(policy, { client: ctx.client, user: ctx.user, host: url.hostname, port });
  if (request.host !== null) ctx.host = request.host;
  let decision = request.decision;
  if (!decision.allowed) return blocked(decision);
  const unaudited = auditGate(deps);
  if (unaudited !== null) return blocked(chain(decision, unaudited));
  if (hostHeader !== '' && hostHeader !== url.hostname.toLowerCase()) {
    return blocked(
      refuse('bad_request', `Host header "${hostHeader}" differs from the request target ${url.hostname}`),
    );
  }
  const dest = await chooseDestination(policy, deps.resolver(), ctx.host, request.match);
  ctx.ip = dest.ip;
  decision = chain(decision, dest.decision);
  if (!dest.ok || !decision.allowed) return blocked(decision);

  stripHopByHop(req.headers);
  const counter: Counter = { bytesUp: 0, bytesDown: 0 };
  counters.set(req, counter);
  req.on('data', (c: Buffer) => (counter.bytesUp += c.length));
  res.once('close', () => done(decision, counter.bytesUp, counter.bytesDown));
  const target = `http://${dest.ip.includes(':') ? `[${dest.ip}]` : dest.ip}:${port}`;
  proxy.web(req, res, { target, proxyTimeout: deps.settings().idleTimeoutMs, timeout: deps.settings().idleTimeoutMs });
}
