// The layer cache as a request interceptor of inspected tunnels: it claims the blob GETs of a
// registry whose rule match carries cache: true, and writes the client's answer from the registry's
// own answer to that request (a refusal relayed as it came, a redirect or a 200 served or filled).
// A request whose registry cannot be reached never gets here: the inspector refuses it (fail closed).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange, RequestInterceptor } from '../inspect/inspected-request.js';
import { fetchLocation } from '../inspect/location-fetch.js';
import type { BlobCacheHandler, CachePlan } from './blob-cache-handler.js';

export class CacheInterceptor implements RequestInterceptor {
  readonly #handler: BlobCacheHandler;
  /** The plan made when a request was claimed, until its response arrives. */
  readonly #plans = new WeakMap<Exchange, CachePlan>();

  constructor(handler: BlobCacheHandler) {
    this.#handler = handler;
  }

  claims(exchange: Exchange): boolean {
    const { route, tunnel } = exchange;
    if (!tunnel.registry.cache || route.kind !== 'blob') return false;
    // HEAD, other methods and other digest algorithms: null, and the usual relay.
    const plan = this.#handler.plan(exchange.method, route.digest, exchange.headers);
    if (plan === null) return false;
    this.#plans.set(exchange, plan);
    return true;
  }

  onResponse(exchange: Exchange, upstream: IncomingMessage, res: ServerResponse): void {
    const plan = this.#plans.get(exchange);
    this.#plans.delete(exchange);
    if (plan === undefined) {
      res.destroy(); // claimed by another instance: cannot happen, and is never answered from disk
      return;
    }
    exchange.bodyBytes = () => plan.bytesSent;
    const answer = { status: upstream.statusCode ?? 502, headers: upstream.headers, body: upstream };
    const follow = async (url: URL) => {
      const stored = await fetchLocation(exchange.tunnel, url);
      return { status: stored.statusCode ?? 502, headers: stored.headers, body: stored };
    };
    plan.respond(answer, res, follow).then(
      (result) => (exchange.fields.cache = result),
      () => res.destroy(),
    );
  }
}
