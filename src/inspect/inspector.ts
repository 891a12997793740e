// Inspected tunnels, a handler of the pipeline's handle stage: for a registry with inspect: true,
// after the usual checks pass, terminate the client's TLS with a leaf for the tunnel's host (ALPN
// http/1.1 only), serve its requests through one shared http.Server, reach the registry through the
// tunnel's vetted dial, and write the tunnel's record when the client goes. Reconfigured on reload.
import { AcrEgressError } from '../errors.js';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext, TLSSocket } from 'node:tls';
import HttpProxy from 'http-proxy';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { mcrRegistry } from '../config/mcr.js';
import type { HostMatch } from '../policy/rules.js';
import type { TunnelHandler, TunnelJob } from '../proxy/context.js';
import { loadCa } from '../tls/ca.js';
import {
  handleInspectedRequest,
  onUpstreamResponse,
  type RequestEnv,
  type RequestInterceptor,
  type RequestState,
  type TunnelState,
} from './inspected-request.js';
import { LearnedHosts } from './learned-hosts.js';
import { LeafSigner, type LeafStats } from './leaf-signer.js';
import { compileRegistryRules, type RegistryRequestRules } from './rules.js';
import { VettedAgent } from './upstream-agent.js';

interface RegistryInspection {
  readonly rules: RegistryRequestRules;
  readonly blobLearned: boolean;
}

export interface InspectStatus {
  readonly registries: string[];
  readonly leaf: LeafStats;
  readonly learnedHosts: number;
  readonly learnedTotal: number;
  readonly tunnelsActive: number;
}

export class Inspector implements TunnelHandler {
  /** Inspection opens its own TLS connections to the registry through job.connect(). */
  readonly rawUpstream = false;
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

  /** `interceptors`: per-request handlers (a layer cache) asked in order for each forwarded request. */
  constructor(loaded: LoadedConfig, log: Logger, interceptors: readonly RequestInterceptor[] = []) {
    this.#log = log;
    const { learnedTtlSeconds, learnedMax } = loaded.config.inspect;
    this.learned = new LearnedHosts(learnedTtlSeconds, learnedMax);
    this.#proxy = HttpProxy.createProxyServer({});
    this.#env = { proxy: this.#proxy, learned: this.learned, interceptors };
    this.#proxy.on('proxyRes', (upstream, req) => {
      const rs = this.#requests.get(req);
      if (rs !== undefined) onUpstreamResponse(this.#env, rs, upstream);
    });
    // Errors reach the per-request callback; this keeps an unexpected one from crashing the process.
    this.#proxy.on('error', () => undefined);
    const serve = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
      const state = this.#tunnels.get(req.socket);
      if (state === undefined) return void res.destroy();
      handleInspectedRequest(this.#env, this.#requests, state, req, res, expectsContinue);
    };
    this.#server = createServer({ maxHeaderSize: 32 * 1024 }, (req, res) => serve(req, res, false));
    // With a listener, Node leaves `100 Continue` to us: sent only once the request is allowed.
    this.#server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => serve(req, res, true));
    this.#server.headersTimeout = 60_000;
    this.#server.requestTimeout = 0; // a layer upload may take long; idleness is bounded per socket
    this.configure(loaded);
  }

  /** Applies a (re)loaded config; the CA files were checked by the loader. Tunnels in flight keep theirs. */
  configure(loaded: LoadedConfig): void {
    this.prepare(loaded).commit();
  }

  /** Reload, first half: reads and compiles everything that can fail; commit() swaps and cannot fail. */
  prepare(loaded: LoadedConfig): { commit(): void } {
    const { caCertFile, caKeyFile, upstreamCaFile, learnedTtlSeconds, learnedMax } = loaded.config.inspect;
    const registries = new Map<string, RegistryInspection>();
    for (const reg of [...loaded.registries, mcrRegistry(loaded.config.mcr)]) {
      if (reg?.inspect) registries.set(reg.name, { rules: compileRegistryRules(reg), blobLearned: reg.blobLearned });
    }
    // Everything that can fail is read before anything is swapped: a failed reload changes nothing.
    const roots = createSecureContext(
      upstreamCaFile === null ? {} : { ca: [...rootCertificates, readFileSync(upstreamCaFile, 'utf8')] },
    );
    let signer = this.#signer;
    let caPem = this.#caPem;
    if (caCertFile !== null && caKeyFile !== null) {
      const ca = loadCa(caCertFile, caKeyFile);
      if (!ca.ok) throw new AcrEgressError('INTERNAL', ca.problem); // unreachable after validation, unless the files changed since
      if (ca.ca.certPem !== caPem) {
        const { leafValidityHours, leafCacheSize } = loaded.config.inspect;
        signer = new LeafSigner(ca.ca, { validityHours: leafValidityHours, cacheSize: leafCacheSize });
        caPem = ca.ca.certPem;
      }
    }
    const learning = new Set([...registries].filter(([, r]) => r.blobLearned).map(([name]) => name));
    return {
      commit: () => {
        this.#roots = roots;
        this.#signer = signer;
        this.#caPem = caPem;
        this.#server.keepAliveTimeout = loaded.config.proxy.idleTimeoutMs;
        this.learned.reconfigure(learnedTtlSeconds, learnedMax, learning);
        this.#registries = registries;
        // New roots or timeouts: later tunnels get new agents; the old ones close as the LRU drops them.
        this.#generation++;
      },
    };
  }

  /** Closes pooled upstream connections (gateway stop). */
  close(): void {
    this.#agents.clear();
  }

  #agentFor(job: TunnelJob, host: string): VettedAgent {
    const key = `${this.#generation} ${job.routeKey}`;
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      const handshakeTimeoutMs = job.settings.connectTimeoutMs;
      agent = new VettedAgent({ host, roots: this.#roots, connect: job.connect, handshakeTimeoutMs });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** Takes the tunnels of a registry API host whose registry has inspect: true (and a CA to sign with). */
  claims(match: HostMatch | null): boolean {
    const registry = match?.rule.registry ?? null;
    return registry !== null && this.#signer !== null && this.#registries.has(registry.name);
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

  async run(job: TunnelJob): Promise<void> {
    const { ctx, client, first, decision, settings, events } = job;
    // The hello reader may have left the socket flowing: paused, the ClientHello put back (unshift)
    // stays buffered for the TLS socket instead of being emitted to no listener.
    client.pause();
    const matched = job.match?.rule.registry ?? null;
    const registry = matched === null ? undefined : this.#registries.get(matched.name);
    const signer = this.#signer;
    const { host, port } = ctx;
    if (matched === null || registry === undefined || signer === null || host === null || port === null) {
      // Reconfigured between claims() and here: close rather than let the tunnel through unchecked.
      client.destroy();
      job.record({ ...decision, detail: 'inspection was reconfigured as the tunnel opened' }, 0, 0);
      return;
    }
    const agent = this.#agentFor(job, host);
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
    this.#tunnels.set(tls, {
      ctx,
      host,
      port,
      decision,
      policy: job.policy,
      registry: matched,
      rules: registry.rules,
      blobLearned: registry.blobLearned,
      agent,
      target: `https://${host}:${port}`,
      recorder: job.recorder,
      dial: job.dial,
      roots: this.#roots,
      settings,
    });
    this.#active++;
    events?.opened();
    const closed = once(tls, 'close').catch(() => undefined);
    this.#server.emit('connection', tls);
    await closed;
    // Raw bytes on the client's TCP connection (TLS records included), as a spliced tunnel counts them.
    const up = client.bytesRead;
    const down = client.bytesWritten;
    client.destroy();
    this.#active--;
    events?.closed(up, down);
    const detail =
      handshake === null
        ? decision.detail
        : `${handshake}: does the client trust the acr-egress CA? (docs/inspection.md)`;
    job.record(detail === decision.detail ? decision : { ...decision, detail }, up, down);
    this.#log.debug({ tunnel: ctx.id, host }, 'inspected tunnel closed');
  }
}
