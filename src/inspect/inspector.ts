// Inspected tunnels: for a registry with inspect: true, after the usual checks pass, terminate the
// client's TLS with a leaf for the CONNECT host (ALPN http/1.1 only), serve its requests through one
// shared http.Server, and write the tunnel's record when the client goes. Reconfigured on reload.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext, TLSSocket } from 'node:tls';
import HttpProxy from 'http-proxy';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { newRecordId } from '../audit/recorder.js';
import type { BlobCacheHandler } from '../cache/blob-cache-handler.js';
import type { LoadedConfig } from '../config/load.js';
import { resolveMcr } from '../config/mcr.js';
import type { ConnectionContext, ProxyDeps, TunnelInspector } from '../proxy/context.js';
import { loadCa } from './ca.js';
import {
  handleInspectedRequest,
  onUpstreamResponse,
  respondWithCache,
  type RequestEnv,
  type RequestState,
  type TunnelState,
} from './inspected-request.js';
import { LearnedHosts } from './learned-hosts.js';
import { fetchVettedLocation } from './location-fetch.js';
import { LeafSigner, type LeafStats } from './leaf-signer.js';
import { compileRegistryRules, type RegistryRequestRules } from './rules.js';
import { VettedAgent } from './upstream-agent.js';

interface RegistryInspection {
  readonly rules: RegistryRequestRules;
  readonly blobLearned: boolean;
  readonly cache: boolean;
}

export interface InspectStatus {
  readonly registries: string[];
  readonly leaf: LeafStats;
  readonly learnedHosts: number;
  readonly learnedTotal: number;
  readonly tunnelsActive: number;
}

/** The inspected entry a rule belongs to: a registry's name, or `mcr` (no registry name has 3 letters). */
const RULE = /^(?:registry:([a-z0-9]+):(?:login|data:|geo:)|(mcr):login$)/;

function inspectedName(rule: string | null): string | null {
  const m = RULE.exec(rule ?? '');
  return m === null ? null : ((m[1] ?? m[2]) as string);
}

export class Inspector implements TunnelInspector {
  readonly learned: LearnedHosts;
  #registries = new Map<string, RegistryInspection>();
  #signer: LeafSigner | null = null;
  #caPem: string | null = null;
  #roots: SecureContext = createSecureContext();
  #log: Logger;
  #server: Server;
  #proxy: HttpProxy;
  #tunnels = new WeakMap<Socket, TunnelState>();
  #requests = new WeakMap<IncomingMessage, RequestState>();
  #active = 0;
  /** Upstream agents by config generation, host, address and port; evicted ones close their sockets. */
  #agents = new LRUCache<string, VettedAgent>({ max: 256, dispose: (agent) => agent.destroy() });
  #generation = 0;
  #env: RequestEnv;
  #cache: BlobCacheHandler | null = null;

  constructor(loaded: LoadedConfig, log: Logger) {
    this.#log = log;
    const { learnedTtlSeconds, learnedMax } = loaded.config.inspect;
    this.learned = new LearnedHosts(learnedTtlSeconds, learnedMax);
    this.#proxy = HttpProxy.createProxyServer({});
    this.#env = { proxy: this.#proxy, learned: this.learned };
    this.#proxy.on('proxyRes', (upstream, req, res) => {
      const rs = this.#requests.get(req);
      if (rs === undefined) return;
      onUpstreamResponse(this.#env, rs, upstream);
      if (rs.cachePlan !== null) respondWithCache(rs, upstream, res);
    });
    // Errors reach the per-request callback; this keeps an unexpected one from crashing the process.
    this.#proxy.on('error', () => undefined);
    this.#server = createServer({ maxHeaderSize: 32 * 1024 }, (req, res) => {
      const state = this.#tunnels.get(req.socket);
      if (state === undefined) return void res.destroy();
      handleInspectedRequest(this.#env, this.#requests, state, req, res);
    });
    this.#server.headersTimeout = 60_000;
    this.#server.requestTimeout = 0; // a layer upload may take long; idleness is bounded per socket
    this.configure(loaded);
  }

  /** Applies a (re)loaded config; the CA files were checked by the loader. Tunnels in flight keep theirs. */
  configure(loaded: LoadedConfig): void {
    const { caCertFile, caKeyFile, upstreamCaFile, learnedTtlSeconds, learnedMax } = loaded.config.inspect;
    const registries = new Map<string, RegistryInspection>();
    for (const reg of loaded.registries) {
      if (reg.inspect)
        registries.set(reg.name, { rules: compileRegistryRules(reg), blobLearned: reg.blobLearned, cache: reg.cache });
    }
    const mcr = resolveMcr(loaded.config.mcr);
    if (mcr.inspect) {
      const asRegistry = { ...mcr, name: 'mcr', regions: [], dataEndpoints: [], regionalEndpoints: [] };
      const rules = compileRegistryRules({ ...asRegistry, blobStorage: false, blobLearned: false });
      registries.set('mcr', { rules, blobLearned: false, cache: mcr.cache });
    }
    // Everything that can fail is read before anything is swapped: a failed reload changes nothing.
    const roots = createSecureContext(
      upstreamCaFile === null ? {} : { ca: [...rootCertificates, readFileSync(upstreamCaFile, 'utf8')] },
    );
    let signer = this.#signer;
    let caPem = this.#caPem;
    if (caCertFile !== null && caKeyFile !== null) {
      const ca = loadCa(caCertFile, caKeyFile);
      if (!ca.ok) throw new Error(ca.problem); // unreachable after validation, unless the files changed since
      if (ca.ca.certPem !== caPem) {
        const { leafValidityHours, leafCacheSize } = loaded.config.inspect;
        signer = new LeafSigner(ca.ca, { validityHours: leafValidityHours, cacheSize: leafCacheSize });
        caPem = ca.ca.certPem;
      }
    }
    this.#roots = roots;
    this.#signer = signer;
    this.#caPem = caPem;
    this.#server.keepAliveTimeout = loaded.config.proxy.idleTimeoutMs;
    const learning = new Set([...registries].filter(([, r]) => r.blobLearned).map(([name]) => name));
    this.learned.reconfigure(learnedTtlSeconds, learnedMax, learning);
    this.#registries = registries;
    // New roots or timeouts: later tunnels get new agents; the old ones close as the LRU drops them.
    this.#generation++;
  }

  /** The layer cache for registries with cache: true (opened by the gateway; null: none). */
  attachCache(cache: BlobCacheHandler | null): void {
    this.#cache = cache;
  }

  /** Closes pooled upstream connections (gateway stop). */
  close(): void {
    this.#agents.clear();
  }

  #agentFor(host: string, ip: string, port: number, connectTimeoutMs: number): VettedAgent {
    const key = `${this.#generation} ${host} ${ip} ${port}`;
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      agent = new VettedAgent({ host, ip, port, roots: this.#roots, connectTimeoutMs });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  wants(rule: string | null): boolean {
    if (rule === null || this.#signer === null) return false;
    const name = inspectedName(rule);
    return name !== null && this.#registries.has(name);
  }

  status(): InspectStatus {
    return {
      registries: [...this.#registries.keys()],
      leaf: { ...(this.#signer?.stats ?? { signatures: 0, hits: 0 }) },
      learnedHosts: this.learned.size,
      learnedTotal: this.learned.learnedTotal,
      tunnelsActive: this.#active,
    };
  }

  async run(deps: ProxyDeps, ctx: ConnectionContext, client: Socket, upstream: Socket, first: Buffer): Promise<void> {
    // The splice's raw connection proved the address answers; requests go over TLS connections of their own.
    upstream.destroy();
    const registry = this.#registries.get(inspectedName(ctx.decision?.rule ?? null) ?? '');
    const signer = this.#signer;
    const { host, ip, port, decision } = ctx;
    if (registry === undefined || signer === null || host === null || ip === null || port === null || !decision) {
      client.destroy();
      return;
    }
    const settings = deps.settings();
    const id = newRecordId(ctx.startedAt);
    const agent = this.#agentFor(host, ip, port, settings.connectTimeoutMs);
    if (first.length > 0) client.unshift(first);
    const tls = new TLSSocket(client, {
      isServer: true,
      secureContext: signer.contextFor(host),
      ALPNProtocols: ['http/1.1'],
    });
    // Every error ends in 'close'; one before the handshake completes is kept for the record, since
    // it is what a client that does not trust the CA yet looks like.
    let handshake: string | null = 'no TLS handshake completed';
    tls.on('error', (err: NodeJS.ErrnoException) => {
      if (handshake !== null) handshake = `the client's TLS handshake failed (${err.code ?? err.message})`;
    });
    // The handshake gets the ClientHello deadline; after it, the tunnel's idle timeout applies.
    tls.setTimeout(settings.clientHelloTimeoutMs, () => tls.destroy());
    tls.once('secure', () => {
      handshake = null;
      tls.setTimeout(settings.idleTimeoutMs, () => tls.destroy());
    });
    const policy = deps.policy();
    const fetchEnv = {
      policy,
      client: ctx.client,
      user: ctx.user,
      learned: this.learned,
      resolver: deps.resolver(),
      viaParent: (deps.parent?.() ?? null) !== null,
      agentFor: (h: string, a: string, p: number) => this.#agentFor(h, a, p, settings.connectTimeoutMs),
      timeoutMs: settings.idleTimeoutMs,
    };
    this.#tunnels.set(tls, {
      id,
      client: ctx.client,
      host,
      ip,
      port,
      decision,
      policy,
      rules: registry.rules,
      blobLearned: registry.blobLearned,
      agent,
      target: `https://${host}:${port}`,
      recorder: deps.recorder,
      cache: registry.cache ? this.#cache : null,
      fetchLocation: (url) => fetchVettedLocation(fetchEnv, url),
    });
    this.#active++;
    deps.events?.opened();
    const closed = once(tls, 'close').catch(() => undefined);
    this.#server.emit('connection', tls);
    await closed;
    // Raw bytes on the client's TCP connection (TLS records included), as a spliced tunnel counts them.
    const up = client.bytesRead;
    const down = client.bytesWritten;
    client.destroy();
    this.#active--;
    deps.events?.closed(up, down);
    const detail =
      handshake === null
        ? decision.detail
        : `${handshake}: does the client trust the acr-egress CA? (docs/inspection.md)`;
    deps.recorder.record({
      id,
      mode: ctx.mode,
      client: ctx.client,
      host,
      port,
      sni: ctx.sni,
      ip,
      decision: detail === decision.detail ? decision : { ...decision, detail },
      startedAt: ctx.startedAt,
      bytesUp: up,
      bytesDown: down,
    });
    this.#log.debug({ tunnel: id, host }, 'inspected tunnel closed');
  }
}
