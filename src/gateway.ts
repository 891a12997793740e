// The running gateway: holds the current config and policy snapshot, owns the listeners, and swaps
// snapshots atomically on reload or new service tags. Tunnels keep the snapshot they started with.
import type { AddressInfo } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import { createAuditLog, type AuditLog, type AuditLogStatus } from './audit/audit-log.js';
import { Recorder, type RecordSink } from './audit/recorder.js';
import { DecisionStore } from './store/ring.js';
import { loadConfigChecked } from './config/check.js';
import type { LoadedConfig } from './config/load.js';
import { ProxyUsers } from './auth/users-file.js';
import { databaseUrl, instanceName, StoreService } from './store/service.js';
import { PostgresTagShare } from './store/tag-share.js';
import { isAcrEgressError } from './errors.js';
import { componentLog, createOperationalLog } from './log.js';
import { CidrList } from './net/address.js';
import type { BlobCacheHandler } from './cache/blob-cache-handler.js';
import { CacheInterceptor } from './cache/cache-interceptor.js';
import { cacheWanted, openLayerCache } from './cache/open-cache.js';
import type { RequestInterceptor } from './inspect/inspected-request.js';
import { Inspector, type InspectStatus } from './inspect/inspector.js';
import type { LearnedEntry } from './inspect/learned-hosts.js';
import { compilePolicy, type PolicySnapshot } from './policy/snapshot.js';
import { ruleTagNeeds } from './policy/tag-needs.js';
import type { ProxySettings, TunnelEvents } from './proxy/context.js';
import { ClientLimits } from './proxy/client-limits.js';
import { ConnectionTracker } from './proxy/connection-tracker.js';
import { ProxyAuth } from './proxy/proxy-auth.js';
import { parseListen } from './net/listen.js';
import { ProxyServer } from './proxy/proxy-server.js';
import { HostResolver, type ResolveResult } from './proxy/resolver.js';
import { TransparentServer } from './proxy/transparent-server.js';
import { ServiceTagManager, type PreparedTags } from './service-tags/manager.js';
import { prepareAll, type ReloadStep } from './reload.js';
import type { ServiceTagIndex } from './service-tags/types.js';
import { allowLine, tagsLine } from './start-lines.js';
import { VERSION } from './version.js';

export interface GatewayOptions {
  configFile: string;
  env?: NodeJS.ProcessEnv;
  /** Operational log (not the audit log); defaults to pino at log.level on logDestination. */
  logger?: Logger;
  /** Where the default operational log writes; stderr unless given. */
  logDestination?: DestinationStream;
  /** Service tags to start with (trusted, not validated); by default the manager's loadInitial. */
  tags?: ServiceTagIndex | null;
  /** Per-request handlers inside inspected tunnels (inspect/inspected-request.ts), asked in order. */
  interceptors?: readonly RequestInterceptor[];
}

export type ReloadResult = { ok: true; version: string; changed: boolean } | { ok: false; problems: readonly string[] };

export class Gateway {
  readonly log: Logger;
  readonly store: DecisionStore;
  readonly recorder: Recorder;
  /** Inspected tunnels of registries with inspect: true, and the blob hosts learned from them. */
  readonly inspector: Inspector;
  /** The store the admin API asks (memory, embedded or postgres) and its writer. */
  readonly records: StoreService;
  /** The layer cache, when a registry (or mcr) has cache: true at start; null otherwise. */
  readonly cache: BlobCacheHandler | null;
  #audit: AuditLog;
  #loaded: LoadedConfig;
  #tags: ServiceTagIndex | null;
  /** The fleet's shared service-tag data (PostgreSQL store only); closed on stop. */
  #tagShare: PostgresTagShare | null = null;
  #policy: PolicySnapshot;
  #resolver: HostResolver;
  #proxy: ProxyServer;
  #proxyAddress: AddressInfo | null = null;
  #transparent: TransparentServer | null = null;
  #connections = new ConnectionTracker();
  #limits = new ClientLimits();
  /** Compiled from the config at load and reload, never per connection. */
  #trusted: CidrList | null;
  #auth: ProxyAuth | null;
  #transparentAddress: AddressInfo | null = null;
  #options: GatewayOptions;
  #tunnelsActive = 0;
  #stopping: Promise<void> | null = null;
  /** Owns the service-tag data: start-up load, scheduled refresh, validation, cache. */
  readonly serviceTags: ServiceTagManager;
  /** What the proxy reports tunnel by tunnel; observers join through observeTunnels(). */
  readonly tunnelEvents: TunnelEvents;
  #tunnelListeners: TunnelEvents[] = [];

  private constructor(
    options: GatewayOptions,
    loaded: LoadedConfig,
    tags: ServiceTagIndex | null,
    log: Logger,
    serviceTags: ServiceTagManager,
    ring: DecisionStore,
    records: StoreService,
    cache: BlobCacheHandler | null,
  ) {
    this.#options = options;
    this.serviceTags = serviceTags;
    this.#loaded = loaded;
    this.#tags = tags;
    this.log = log;
    this.#policy = compilePolicy(loaded, tags);
    this.#resolver = makeResolver(loaded);
    this.#trusted = compileTrusted(loaded);
    this.#auth = loadAuth(loaded);
    this.#audit = createAuditLog(loaded.config.log.file, { log: componentLog(log, 'audit') });
    this.store = ring;
    this.records = records;
    this.recorder = new Recorder(this.#audit, this.store, {
      failClosed: loaded.config.log.failClosed,
      instance: records.instance,
    });
    // After the audit log (the record of truth): the store's writer queues, never blocks.
    this.recorder.addSink((rec) => records.add(rec));
    this.cache = cache;
    // The cache is one more per-request interceptor of inspected tunnels; it claims only the blob
    // GETs of registries whose rule match carries cache: true, so the caller's interceptors come first.
    const interceptors = [...(options.interceptors ?? []), ...(cache === null ? [] : [new CacheInterceptor(cache)])];
    this.inspector = new Inspector(loaded, componentLog(log, 'inspect'), interceptors);
    const listeners = this.#tunnelListeners;
    this.tunnelEvents = {
      opened: () => {
        this.#tunnelsActive++;
        for (const l of listeners) l.opened();
      },
      closed: (up, down) => {
        this.#tunnelsActive--;
        for (const l of listeners) l.closed(up, down);
      },
      decided: (seconds) => {
        for (const l of listeners) l.decided?.(seconds);
      },
      helloWaited: (seconds) => {
        for (const l of listeners) l.helloWaited?.(seconds);
      },
      limited: (limit) => {
        for (const l of listeners) l.limited?.(limit);
      },
    };
    const deps = {
      policy: () => this.#policy,
      settings: () => this.settings,
      resolver: () => this.#resolver,
      recorder: this.recorder,
      connections: this.#connections,
      limits: this.#limits,
      proxyProtocolTrusted: () => this.#trusted,
      auth: () => this.#auth,
      log: componentLog(this.log, 'proxy'),
      events: this.tunnelEvents,
      learned: this.inspector.learned,
      handlers: [this.inspector],
      parent: () => this.#loaded.parent,
    };
    this.#proxy = new ProxyServer(deps);
    if (loaded.config.proxy.transparentListen !== null) {
      this.#transparent = new TransparentServer(deps, () => this.#loaded.config.proxy.transparentUpstreamPort);
    }
  }

  static async create(options: GatewayOptions): Promise<Gateway> {
    let log: Logger | undefined;
    let gateway: Gateway | undefined;
    let serviceTags: ServiceTagManager | undefined;
    // The same path `config validate` takes: a config serve would refuse, validate refuses too.
    const { loaded, tags } = await loadConfigChecked(options.configFile, options.env ?? process.env, async (first) => {
      log = componentLog(
        options.logger ?? createOperationalLog(first.config.log.level, options.logDestination),
        'gateway',
      );
      serviceTags = new ServiceTagManager({
        config: first,
        needs: ruleTagNeeds,
        log: componentLog(log, 'service-tags'),
        // A refresh swaps the policy snapshot; tunnels in flight keep the one they started with.
        onUpdate: (index) => gateway?.setTags(index),
        env: options.env,
      });
      if (options.tags === undefined) return serviceTags.loadInitial();
      serviceTags.use(options.tags);
      return options.tags;
    });
    // Regions may now be spelled the ARM way (centralfrance -> francecentral); same source, no re-read.
    await serviceTags!.reconfigure(loaded);
    const cache = await openLayerCache(loaded);
    const ring = new DecisionStore(loaded.config.log.recent);
    const records = await StoreService.open(
      loaded.config.audit,
      ring,
      loaded.config.audit.instance ?? instanceName(options.env ?? process.env),
      componentLog(log!, 'store'),
    );
    // With a PostgreSQL store the fleet shares its last good service-tag data: a replica without a
    // cache (a new pod) starts from it instead of tunnelling unenforced until its own download.
    const tagShare = fleetTagShare(loaded, records.instance, log!);
    serviceTags!.setShare(tagShare);
    const startTags = tags ?? (options.tags === undefined ? await serviceTags!.loadShared() : null);
    gateway = new Gateway(options, loaded, startTags, log!, serviceTags!, ring, records, cache);
    gateway.#tagShare = tagShare;
    return gateway;
  }

  get config(): LoadedConfig {
    return this.#loaded;
  }

  get policy(): PolicySnapshot {
    return this.#policy;
  }

  get tags(): ServiceTagIndex | null {
    return this.#tags;
  }

  get settings(): ProxySettings {
    return this.#loaded.config.proxy;
  }

  /** Client connections open on the proxy listener (tunnels and plain-HTTP keep-alives). */
  get connections(): number {
    return this.#connections.size;
  }

  /** True once stop() has begun (readiness turns false while draining). */
  get stopping(): boolean {
    return this.#stopping !== null;
  }

  get tunnelsActive(): number {
    return this.#tunnelsActive;
  }

  get resolver(): HostResolver {
    return this.#resolver;
  }

  get proxyAddress(): AddressInfo | null {
    return this.#proxyAddress;
  }

  get transparentAddress(): AddressInfo | null {
    return this.#transparentAddress;
  }

  /** Why the gateway should not get traffic now (empty: ready), as /readyz reports it. */
  readiness(): string[] {
    const reasons: string[] = [];
    if (this.#proxyAddress === null) reasons.push('the proxy is not listening');
    if (this.#loaded.config.serviceTags.enforce === true && this.#tags === null) {
      reasons.push('no service-tag data is loaded and serviceTags.enforce is true: tunnels that need tags are blocked');
    }
    if (this.stopping) reasons.push('stopping: draining connections');
    if (this.recorder.failClosed && !this.recorder.available())
      reasons.push('the audit log cannot be written and log.failClosed is true: new tunnels are refused');
    return reasons;
  }

  /** Adds an observer of every tunnel (metrics); returns the function that removes it. */
  observeTunnels(listener: TunnelEvents): () => void {
    this.#tunnelListeners.push(listener);
    return () => {
      const i = this.#tunnelListeners.indexOf(listener);
      if (i !== -1) this.#tunnelListeners.splice(i, 1);
    };
  }

  /** Adds an observer of every record, after the audit log has it (metrics). */
  observeRecords(sink: RecordSink): void {
    this.recorder.addSink(sink);
  }

  /** DNS cache hits and misses since start, for the metrics. */
  dnsCounts(): { hits: number; misses: number } {
    return { hits: this.#resolver.hits, misses: this.#resolver.misses };
  }

  /** Inspection counters and the registries inspected, for the admin API and the metrics. */
  inspectStatus(): InspectStatus {
    return this.inspector.status();
  }

  /** The blob hosts learned from inspected registries' redirects. */
  learnedHosts(): LearnedEntry[] {
    return this.inspector.learned.list();
  }

  auditStatus(): AuditLogStatus {
    return this.recorder.auditStatus();
  }

  /** Resolves a host as a tunnel would (POST /api/v1/check with "resolve": true). */
  resolve(host: string): Promise<ResolveResult> {
    return this.#resolver.resolve(host);
  }

  async listen(): Promise<AddressInfo> {
    this.#proxyAddress = await this.#proxy.listen(parseListen(this.#loaded.config.proxy.listen));
    // Only a listening gateway refreshes: `check` and tests that never listen start no timers.
    this.serviceTags.start();
    const transparentListen = this.#loaded.config.proxy.transparentListen;
    if (this.#transparent !== null && transparentListen !== null) {
      this.#transparentAddress = await this.#transparent.listen(parseListen(transparentListen));
      this.log.info({ listen: this.#transparentAddress }, 'transparent listener up');
    }
    this.log.info(
      {
        version: VERSION,
        listen: this.#proxyAddress,
        configVersion: this.#loaded.version,
        mode: this.#policy.mode,
        tags: this.#tags?.changeNumber ?? null,
      },
      'proxy listening',
    );
    this.log.info(allowLine(this.#loaded));
    this.log.info({ enforce: this.#loaded.config.serviceTags.enforce }, tagsLine(this.#loaded, this.#tags !== null));
    return this.#proxyAddress;
  }

  /** New service tags: recompile against the running config and swap. */
  setTags(index: ServiceTagIndex | null): void {
    this.#tags = index;
    this.#policy = compilePolicy(this.#loaded, index);
  }

  /**
   * Re-reads the config file; an invalid one is refused and the running one kept. Every component
   * prepares the new config first (src/reload.ts); none switches unless all have agreed.
   */
  async reload(): Promise<ReloadResult> {
    let next: LoadedConfig;
    let auth: ProxyAuth | null;
    const env = this.#options.env ?? process.env;
    try {
      // Regions are checked against the data in use, as at start.
      next = (await loadConfigChecked(this.#options.configFile, env, async () => this.#tags)).loaded;
      auth = loadAuth(next); // the users file is re-read on every reload
    } catch (err) {
      return this.#refused(isAcrEgressError(err) ? [err.message, ...err.details] : [String(err)]);
    }
    let tags: PreparedTags | null = null;
    let tagIndex: ServiceTagIndex | null = null;
    const steps: ReloadStep[] = [
      {
        name: 'serviceTags',
        prepare: async () => (tags = await this.serviceTags.prepare(next)),
      },
      {
        name: 'policy',
        prepare: () => {
          tagIndex = tags!.index();
          const compiled = compilePolicy(next, tagIndex);
          return {
            commit: () => {
              this.#tags = tagIndex;
              this.#policy = compiled;
            },
          };
        },
      },
      {
        name: 'proxy',
        prepare: () => {
          const resolver = makeResolver(next);
          const trusted = compileTrusted(next);
          return {
            commit: () => {
              this.#resolver = resolver;
              this.#trusted = trusted;
              this.#auth = auth;
            },
          };
        },
      },
      { name: 'inspect', prepare: () => this.inspector.prepare(next) },
      {
        name: 'log',
        prepare: () => ({
          commit: () => {
            if (next.config.log.file !== this.#loaded.config.log.file) this.#audit.reopen(next.config.log.file);
            this.recorder.failClosed = next.config.log.failClosed;
          },
        }),
      },
      {
        name: 'audit',
        prepare: () => this.records.prepare(next.config.audit, next.config.audit.instance ?? instanceName(env)),
      },
    ];
    const prepared = await prepareAll(steps);
    if (!prepared.ok) return this.#refused(prepared.problems);
    const changed = next.version !== this.#loaded.version;
    prepared.commit();
    if (cacheWanted(next) && this.cache === null)
      this.log.warn('cache: true takes effect at the next start (the cache folder is opened at start)');
    this.#loaded = next;
    this.log.info({ configVersion: next.version, changed }, 'config reloaded');
    return { ok: true, version: next.version, changed };
  }

  #refused(problems: readonly string[]): ReloadResult {
    this.log.warn({ problems }, 'config reload refused; keeping the running config');
    return { ok: false, problems };
  }

  /** Reopens log.file by its path (SIGHUP, SIGUSR2): after logrotate renames it, records go to a new file. */
  reopenAuditLog(): void {
    this.#audit.reopen();
  }

  /** Stops accepting, drains open tunnels up to proxy.drainTimeoutMs, flushes the audit log. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.log.info({ active: this.#connections.size }, 'stopping: draining connections');
      this.serviceTags.stop();
      const drainMs = this.#loaded.config.proxy.drainTimeoutMs;
      await Promise.all([this.#proxy.close(drainMs), this.#transparent?.close(drainMs)]);
      this.inspector.close();
      await this.#audit.close();
      await this.records.close().catch((err: unknown) => this.log.warn({ err: String(err) }, 'store close failed'));
      await this.#tagShare?.close().catch(() => undefined);
      this.log.info('stopped');
    })();
    return this.#stopping;
  }
}

/** The fleet's service-tag share: only with the PostgreSQL store (the URL StoreService.open already read). */
function fleetTagShare(loaded: LoadedConfig, instance: string, log: Logger): PostgresTagShare | null {
  const audit = loaded.config.audit;
  if (audit.store !== 'postgres') return null;
  return new PostgresTagShare({
    url: databaseUrl(audit),
    cloud: loaded.config.cloud,
    instance,
    onError: (err) => log.warn({ err: String(err) }, 'postgres connection error (service-tag share)'),
  });
}

function compileTrusted(loaded: LoadedConfig): CidrList | null {
  const trusted = loaded.config.proxy.proxyProtocol.trusted;
  if (trusted.length === 0) return null;
  const parsed = CidrList.parse(trusted);
  return 'list' in parsed ? parsed.list : null; // load.ts has already refused bad entries
}

/**
 * The proxy users file, read at start, on every reload and by `config validate` (which must agree).
 * Throws AcrEgressError (from ProxyUsers.load) when the file is unreadable or invalid.
 */
export function loadAuth(loaded: LoadedConfig): ProxyAuth | null {
  const file = loaded.config.proxy.auth.usersFile;
  return file === null ? null : new ProxyAuth(ProxyUsers.load(file));
}

function makeResolver(loaded: LoadedConfig): HostResolver {
  const dns = loaded.config.dns;
  return new HostResolver({
    overrides: dns.overrides,
    servers: dns.servers,
    timeoutMs: dns.timeoutMs,
    cacheSize: dns.cacheSize,
    minTtlSeconds: dns.minTtlSeconds,
    maxTtlSeconds: dns.maxTtlSeconds,
  });
}

/**
 * Tags at start, for commands that do not run a gateway (`check`): the source when it is a local
 * file, else the cache file, validated like a download. A URL source is only read by a refresh.
 */
export async function loadInitialTags(loaded: LoadedConfig, log: Logger): Promise<ServiceTagIndex | null> {
  return new ServiceTagManager({ config: loaded, needs: ruleTagNeeds, log }).loadInitial();
}
