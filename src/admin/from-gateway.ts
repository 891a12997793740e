// Builds the admin API's dependencies from a running Gateway, and wires the metrics into its
// recorder and tunnel events, so serve needs one call to start the admin API.
import type { Logger } from 'pino';
import { cacheStatus } from '../cache/cache-status.js';
import type { Gateway } from '../gateway.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import type { TagsStatus } from '../service-tags/types.js';
import { registerStoreMetrics } from '../store/metrics.js';
import type { AdminDeps, TagsFacade } from './deps.js';

export interface GatewayAdminExtra {
  /** Default: createMetrics over the gateway, attached to it (see attachMetrics). */
  metrics?: Metrics;
  /** Default: the gateway's service-tag manager. */
  tags?: TagsFacade;
  /** Default: the gateway's log. */
  log?: Logger;
  /** Further readiness reasons (each non-empty string makes /readyz answer 503). */
  notReady?: () => string[];
}

/** The slice of the service-tag manager the admin API uses (ServiceTagManager has it). */
interface TagManagerLike {
  status(): TagsStatus;
  refresh(): Promise<{ status: TagsStatus }>;
  lookup(ip: string): string[];
}

function tagsFacade(manager: TagManagerLike): TagsFacade {
  return {
    status: () => manager.status(),
    refresh: async () => (await manager.refresh()).status,
    lookup: (ip) => manager.lookup(ip),
  };
}

/** A registry over the gateway's resolver, tunnels and service tags; not yet attached. */
function metricsForGateway(gateway: Gateway, tags: TagsFacade): Metrics {
  const metrics = createMetrics({
    inspect: () => gateway.inspectStatus(),
    cache: () => cacheStatus(gateway.cache),
    tags: () => tags.status(),
    dns: () => gateway.dnsCounts(),
    tunnelsActive: () => gateway.tunnelsActive,
    audit: () => gateway.auditStatus(),
  });
  registerStoreMetrics(metrics.registry, gateway.records.store.backend, () => gateway.records.writer?.state() ?? null);
  return metrics;
}

/** Feeds metrics from every decision record and every tunnel of the gateway. */
function attachMetrics(gateway: Gateway, metrics: Metrics): void {
  gateway.observeRecords(metrics.recordSink);
  gateway.observeTunnels(metrics.tunnelListener);
}

export function adminDepsFromGateway(gateway: Gateway, extra: GatewayAdminExtra = {}): AdminDeps {
  const tags = extra.tags ?? tagsFacade(gateway.serviceTags);
  let metrics = extra.metrics;
  if (metrics === undefined) {
    metrics = metricsForGateway(gateway, tags);
    attachMetrics(gateway, metrics);
  }
  return {
    store: gateway.store,
    records: gateway.records,
    policy: () => gateway.policy,
    config: () => gateway.config,
    tokens: () => gateway.config.adminTokens,
    metricsAuth: () => gateway.config.config.admin.metricsAuth,
    ready: () => {
      const reasons = [...gateway.readiness(), ...(extra.notReady?.() ?? []).filter((r) => r !== '')];
      return { ok: reasons.length === 0, reasons };
    },
    tags,
    reload: () => gateway.reload(),
    inspect: { status: () => gateway.inspectStatus(), learned: () => gateway.learnedHosts() },
    cache: () => cacheStatus(gateway.cache),
    resolve: (host) => gateway.resolve(host),
    metrics,
    log: extra.log ?? gateway.log,
  };
}
