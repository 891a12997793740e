// The running gateway: holds the current config and policy snapshot, owns the listeners, and swaps
// snapshots atomically on reload or new service tags. Tunnels keep the snapshot they started with.
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { createAuditLog, type AuditLog } from './audit/audit-log.js';
import { Recorder } from './audit/recorder.js';
import { DecisionStore } from './audit/store.js';
import { instanceName, StoreService } from './store/service.js';
import { loadConfigFile, type LoadedConfig } from './config/load.js';
import { isAcrEgressError } from './errors.js';
import { compilePolicy, type PolicySnapshot } from './policy/snapshot.js';
import type { ProxySettings, TunnelEvents } from './proxy/context.js';
import { ConnectionTracker } from './proxy/connection-tracker.js';
import { parseListen } from './net/listen.js';
import { ProxyServer } from './proxy/proxy-server.js';
import { HostResolver } from './proxy/resolver.js';
import { TransparentServer } from './proxy/transparent-server.js';
import { ServiceTagManager } from './service-tags/manager.js';
import type { ServiceTagIndex } from './service-tags/types.js';

export interface GatewayOptions {
  configFile: string;
  env?: NodeJS.ProcessEnv;
  /** Operational log (not the audit log); defaults to pino on stderr at log.level. */
  logger?: Logger;
  /** Service tags to start with (trusted, not validated); by default the manager's loadInitial. */
  tags?: ServiceTagIndex | null;
  /** Loads tags for a config at start and when its source changes, instead of the manager. */
  loadTags?: (loaded: LoadedConfig, log: Logger) => Promise<ServiceTagIndex | null>;
  /** Passed to the service-tag manager (tests point it at a fake download site). */
  serviceTagFetch?: ConstructorParameters<typeof ServiceTagManager>[0]['fetchImpl'];
}

export type ReloadResult = { ok: true; version: string; changed: boolean } | { ok: false; problems: readonly string[] };

export class Gateway {
  readonly log: Logger;
  readonly store: DecisionStore;
  readonly recorder: Recorder;
  /** The store the admin API asks (memory, embedded or postgres) and its writer. */
  readonly records: StoreService;
  #audit: AuditLog;
  #loaded: LoadedConfig;
  #tags: ServiceTagIndex | null;
  #policy: PolicySnapshot;
  #resolver: HostResolver;
  #proxy: ProxyServer;
  #proxyAddress: AddressInfo | null = null;
  #transparent: TransparentServer | null = null;
  #connections = new ConnectionTracker();
  #transparentAddress: AddressInfo | null = null;
  #options: GatewayOptions;
  #tunnelsActive = 0;
  #stopping: Promise<void> | null = null;
  /** Owns the service-tag data: start-up load, scheduled refresh, validation, cache. */
  readonly serviceTags: ServiceTagManager;
  readonly tunnelEvents: TunnelEvents & { listeners: TunnelEvents[] };

  private constructor(
    options: GatewayOptions,
    loaded: LoadedConfig,
    tags: ServiceTagIndex | null,
    log: Logger,
    serviceTags: ServiceTagManager,
    ring: DecisionStore,
    records: StoreService,
  ) {
    this.#options = options;
    this.serviceTags = serviceTags;
    this.#loaded = loaded;
    this.#tags = tags;
    this.log = log;
    this.#policy = compilePolicy(loaded, tags);
    this.#resolver = makeResolver(loaded);
    this.#audit = createAuditLog(loaded.config.log.file);
    this.store = ring;
    this.records = records;
    this.recorder = new Recorder(this.#audit, this.store, records.instance);
    // After the audit log (the record of truth): the store's writer queues, never blocks.
    this.recorder.addSink((rec) => records.add(rec));
    const listeners: TunnelEvents[] = [];
    this.tunnelEvents = {
      listeners,
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
    };
    const deps = {
      policy: () => this.#policy,
      settings: () => this.settings,
      resolver: () => this.#resolver,
      recorder: this.recorder,
      connections: this.#connections,
      log: this.log.child({ component: 'proxy' }),
      events: this.tunnelEvents,
    };
    this.#proxy = new ProxyServer(deps);
    if (loaded.config.proxy.transparentListen !== null) {
      this.#transparent = new TransparentServer(deps, () => this.#loaded.config.proxy.transparentUpstreamPort);
    }
  }

  static async create(options: GatewayOptions): Promise<Gateway> {
    const loaded = loadConfigFile(options.configFile, options.env ?? process.env);
    const log =
      options.logger ?? pino({ level: loaded.config.log.level, base: { component: 'gateway' } }, pino.destination(2));
    let gateway: Gateway | undefined;
    const serviceTags = new ServiceTagManager({
      config: loaded,
      log: log.child({ component: 'service-tags' }),
      // A refresh swaps the policy snapshot; tunnels in flight keep the one they started with.
      onUpdate: (index) => gateway?.setTags(index),
      fetchImpl: options.serviceTagFetch,
    });
    let tags: ServiceTagIndex | null;
    if (options.tags !== undefined || options.loadTags !== undefined) {
      tags = options.tags !== undefined ? options.tags : await options.loadTags!(loaded, log);
      serviceTags.use(tags);
    } else {
      tags = await serviceTags.loadInitial();
    }
    const ring = new DecisionStore(loaded.config.log.recent);
    const records = await StoreService.open(
      loaded.config.audit,
      ring,
      loaded.config.audit.instance ?? instanceName(options.env ?? process.env),
      log.child({ component: 'store' }),
    );
    gateway = new Gateway(options, loaded, tags, log, serviceTags, ring, records);
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
        listen: this.#proxyAddress,
        configVersion: this.#loaded.version,
        mode: this.#policy.mode,
        tags: this.#tags?.changeNumber ?? null,
      },
      'proxy listening',
    );
    return this.#proxyAddress;
  }

  /** New service tags: recompile against the running config and swap. */
  setTags(index: ServiceTagIndex | null): void {
    this.#tags = index;
    this.#policy = compilePolicy(this.#loaded, index);
  }

  /** Re-reads the config file; an invalid one is refused and the running one kept. */
  async reload(): Promise<ReloadResult> {
    let next: LoadedConfig;
    try {
      next = loadConfigFile(this.#options.configFile, this.#options.env ?? process.env);
    } catch (err) {
      const problems = isAcrEgressError(err) ? [err.message, ...err.details] : [String(err)];
      this.log.warn({ problems }, 'config reload refused; keeping the running config');
      return { ok: false, problems };
    }
    const changed = next.version !== this.#loaded.version;
    const sourceChanged =
      next.config.serviceTags.source !== this.#loaded.config.serviceTags.source ||
      next.config.cloud !== this.#loaded.config.cloud;
    let tags = this.#tags;
    if (this.#options.loadTags !== undefined) {
      await this.serviceTags.reconfigure(next);
      if (sourceChanged) tags = await this.#options.loadTags(next, this.log);
      this.serviceTags.use(tags);
    } else {
      await this.serviceTags.reconfigure(next);
      tags = this.serviceTags.index;
    }
    const policy = compilePolicy(next, tags);
    this.#loaded = next;
    this.#tags = tags;
    this.#policy = policy;
    this.#resolver = makeResolver(next);
    this.log.info({ configVersion: next.version, changed }, 'config reloaded');
    return { ok: true, version: next.version, changed };
  }

  /** Stops accepting, drains open tunnels up to proxy.drainTimeoutMs, flushes the audit log. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.log.info({ active: this.#connections.size }, 'stopping: draining connections');
      this.serviceTags.stop();
      const drainMs = this.#loaded.config.proxy.drainTimeoutMs;
      await Promise.all([this.#proxy.close(drainMs), this.#transparent?.close(drainMs)]);
      await this.#audit.close();
      await this.records.close().catch((err: unknown) => this.log.warn({ err: String(err) }, 'store close failed'));
      this.log.info('stopped');
    })();
    return this.#stopping;
  }
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
  return new ServiceTagManager({ config: loaded, log }).loadInitial();
}
