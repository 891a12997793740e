// Plain-HTTP proxying of absolute-form requests (`GET http://host/path`, proxy.allowPlainHttp): each
// request runs the pipeline's stages up to route (admitToRoute), then goes over the route's one
// vetted connection (the vetted address, or a CONNECT tunnel through proxy.parent) with http-proxy.
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import httpProxy from 'http-proxy';
import { refuse, type Decision } from '../policy/decide.js';
import type { Reason } from '../policy/reasons.js';
import { stripHopByHop } from '../net/hop-by-hop.js';
import { Admitted } from './admitted.js';
import { newContext, type ProxyDeps } from './context.js';
import { admitToRoute } from './pipeline.js';
import { blockBody, PROXY_AUTHENTICATE, statusFor } from './responses.js';
import { SPLICE } from './splice-handler.js';
import { connectRoute } from './vetted-dial.js';

/**
 * The handler for http.Server's 'request' and 'checkContinue' events (both must be wired, so that
 * Node never sends a 100 by itself). `clientOf`: the client a trusted PROXY header named for this
 * request's connection, if any.
 */
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

  // Each forwarded request's state, for the shared proxy's listeners.
  const forwarded = new WeakMap<IncomingMessage, PlainRequest>();
  proxy.on('error', (err, req, res) => {
    const detail = `the upstream request failed (${errorCode(err)})`;
    const exchange = forwarded.get(req);
    if (exchange !== undefined)
      exchange.failed = refuse('upstream_unreachable', detail, exchange.ctx.decision?.rule ?? null);
    const r = res as ServerResponse;
    if ('headersSent' in r && !r.headersSent) answer(r, 'upstream_unreachable', detail);
    else (res as { destroy?: () => void }).destroy?.();
  });
  proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => {
    const exchange = forwarded.get(req);
    if (exchange) proxyRes.on('data', (c: Buffer) => (exchange.bytesDown += c.length));
  });

  return (req, res) => {
    const exchange = new PlainRequest(deps, req.socket.remoteAddress, clientOf(req));
    // The one release of the per-client slot: the response ended, or the connection went.
    res.once('close', () => exchange.finish());
    forward(deps, proxy, forwarded, exchange, req, res).catch((err: unknown) => {
      deps.log.error({ err }, 'http forwarding failed');
      if (!res.headersSent) answer(res, 'upstream_unreachable', 'internal error');
      exchange.record(refuse('upstream_unreachable', 'internal error'));
    });
  };
}

/** One plain request: its context (the source of its record), its per-client slot, its bytes. */
class PlainRequest extends Admitted {
  bytesUp = 0;
  bytesDown = 0;
  /** Set when the upstream exchange failed after the dial: the record says so instead of allowed. */
  failed: Decision | null = null;

  constructor(deps: ProxyDeps, peer: string | undefined, proxiedClient: string | undefined) {
    super(deps.recorder, newContext('http', peer));
    if (proxiedClient !== undefined) this.ctx.client = proxiedClient;
  }

  /** Gives the per-client slot back, exactly once. */
  finish(): void {
    this.releaseSlot();
  }
}

function answer(res: ServerResponse, reason: Reason, detail?: string): void {
  if (res.headersSent || res.destroyed) return;
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

/** True when Node left the 100 to us ('checkContinue'): the request expects one before its body. */
function expectsContinue(req: IncomingMessage): boolean {
  return req.httpVersionMinor >= 1 && /(?:^|\W)100-continue(?:$|\W)/i.test(req.headers.expect ?? '');
}

async function forward(
  deps: ProxyDeps,
  proxy: httpProxy,
  forwarded: WeakMap<IncomingMessage, PlainRequest>,
  exchange: PlainRequest,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { ctx } = exchange;
  const refused = (decision: Decision): void => {
    if (decision.reason !== null) answer(res, decision.reason, decision.detail);
    exchange.record(decision);
  };

  // The request itself, as the CONNECT reader checks its authority before the pipeline.
  let url: URL | null = null;
  try {
    if (req.url !== undefined && /^http:\/\//i.test(req.url)) url = new URL(req.url);
  } catch {
    url = null;
  }
  if (url === null || url.username !== '' || url.password !== '') {
    return refused(refuse('bad_request', 'only absolute-form http:// requests (or CONNECT) are proxied'));
  }
  const port = url.port === '' ? 80 : Number(url.port);
  ctx.host = url.hostname;
  ctx.port = port;
  // A plain request to the TLS port can only be a mistake (the client meant https://).
  if (port === 443) return refused(refuse('not_tls', 'a plain http:// request to port 443: use https:// (CONNECT)'));
  // The Host header must name the same host, or the upstream would serve another site than was checked.
  const hostHeader = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
  if (hostHeader !== '' && hostHeader !== url.hostname.toLowerCase()) {
    return refused(
      refuse('bad_request', `Host header "${hostHeader}" differs from the request target ${url.hostname}`),
    );
  }

  // admit -> authenticate -> decide -> audit gate -> route: the tunnels' own stages.
  const routed = await admitToRoute(deps, exchange, {
    host: url.hostname,
    port,
    credentials: { header: req.headers['proxy-authorization'] },
  });
  if (!routed.ok) return refused(routed.decision);
  // A handler other than the splice (inspection) enforces rules a plain request would bypass.
  if (routed.handler !== SPLICE) {
    const detail = `${ctx.host ?? url.hostname} is inspected (inspect: true): use https:// through CONNECT`;
    return refused(refuse('plain_http_not_allowed', detail, routed.decision.rule));
  }
  const settings = deps.settings();
  const dialed = await connectRoute(routed.route, settings.connectTimeoutMs, null, () => req.socket.destroyed);
  if (!dialed.ok) return refused(dialed.decision);
  ctx.ip = dialed.ip;
  const decision = dialed.decision;
  if (!decision.allowed) {
    dialed.upstream.destroy();
    return refused(decision);
  }

  // Decided and connected: only now may the client send its body.
  if (expectsContinue(req)) res.writeContinue();
  stripHopByHop(req.headers);
  ctx.decision = decision;
  forwarded.set(req, exchange);
  req.on('data', (c: Buffer) => (exchange.bytesUp += c.length));
  res.once('close', () => {
    if (!res.writableFinished) dialed.upstream.destroy();
    exchange.record(exchange.failed ?? decision, exchange.bytesUp, exchange.bytesDown);
  });
  const host = ctx.host ?? url.hostname;
  proxy.web(req, res, {
    target: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    agent: new DialledAgent(dialed.upstream),
    proxyTimeout: settings.idleTimeoutMs,
    timeout: settings.idleTimeoutMs,
  });
  // A connection through a parent comes paused (parent.ts). The HTTP client attached its reader in a
  // tick queued by web() above, before this resume takes effect.
  dialed.upstream.resume();
}

/** Hands http-proxy the connection the route stage dialled and vetted, so it never dials itself. */
class DialledAgent extends Agent {
  readonly #socket: Socket;

  constructor(socket: Socket) {
    super({ keepAlive: false, maxSockets: 1 });
    this.#socket = socket;
  }

  override createConnection(): Socket {
    return this.#socket;
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
