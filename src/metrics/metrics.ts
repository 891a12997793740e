// The gateway's Prometheus metrics: one prom-client registry fed per decision record and per tunnel
// (never per byte), plus values read at scrape time (service-tag status, DNS cache counters).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DecisionRecord } from '../audit/record.js';
import type { RecordSink } from '../audit/recorder.js';
import type { TunnelEvents } from '../proxy/context.js';
import type { TagsStatus } from '../service-tags/types.js';
import { VERSION } from '../version.js';
import { cacheStatus, type CacheStatus } from '../cache/cache-status.js';
import { registerCacheMetrics } from './cache-metrics.js';
import { registerInspectMetrics } from './inspect-metrics.js';

export interface MetricsSources {
  /** Service-tag status, read at scrape time; null or absent: the tag metrics stay 0. */
  tags?: () => TagsStatus | null;
  /** The current resolver's cache counters (a reload replaces the resolver; totals stay monotonic). */
  dns?: () => { hits: number; misses: number };
  /** Open tunnels as the gateway counts them; without it they are counted from the tunnel listener. */
  tunnelsActive?: () => number;
  /** The audit log's write errors, dropped and queued records, read at scrape time. */
  audit?: () => { writeErrors: number; dropped: number; queued: number };
  /** Inspection counters (leaf signatures and cache hits, learned hosts), read at scrape time. */
  inspect?: () => { leaf: { signatures: number; hits: number }; learnedHosts: number; learnedTotal: number };
  /** The layer cache's figures, read at scrape time; absent: the cache metrics stay 0. */
  cache?: () => CacheStatus;
  /** Node's default process metrics; on unless false. */
  defaultMetrics?: boolean;
  /** Distinct `rule` label values kept; later ones are counted as "other" (wildcard rules mint ids). */
  maxRuleLabels?: number;
  /** Distinct proxy `user` label values kept; later ones are counted as "other". */
  maxUserLabels?: number;
}

/** A TunnelEvents listener that also takes the two latency observations. */
interface MetricsTunnelListener extends TunnelEvents {
  decided(seconds: number): void;
  helloWaited(seconds: number): void;
}

export interface Metrics {
  readonly registry: Registry;
  /** Give to Recorder.addSink: counts every decision and times closed tunnels. */
  readonly recordSink: RecordSink;
  /** Given to gateway.observeTunnels(): open tunnels, bytes, latencies. */
  readonly tunnelListener: MetricsTunnelListener;
  /** The exposition text and its content type, for GET /metrics. */
  text(): Promise<string>;
  readonly contentType: string;
}

/** A label value for a null field; an empty value would read as "label absent" in PromQL. */
const NONE = 'none';

export function createMetrics(sources: MetricsSources = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (sources.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'acr_egress_build_info',
    help: 'Always 1; the version label says which acr-egress is running',
    labelNames: ['version'] as const,
    registers,
  }).set({ version: VERSION }, 1);
  const decisions = new Counter({
    name: 'acr_egress_decisions_total',
    help: 'Decision records by decision, reason code (none when allowed) and rule id',
    labelNames: ['decision', 'reason', 'rule'] as const,
    registers,
  });
  let openTunnels = 0;
  new Gauge({
    name: 'acr_egress_tunnels_active',
    help: 'Tunnels open now',
    registers,
    collect() {
      this.set(sources.tunnelsActive ? sources.tunnelsActive() : openTunnels);
    },
  });
  const tunnelBytes = new Counter({
    name: 'acr_egress_tunnel_bytes_total',
    help: 'Bytes carried by closed tunnels: up = client to destination, down = destination to client',
    labelNames: ['direction'] as const,
    registers,
  });
  tunnelBytes.inc({ direction: 'up' }, 0);
  tunnelBytes.inc({ direction: 'down' }, 0);
  const tunnelDuration = new Histogram({
    name: 'acr_egress_tunnel_duration_seconds',
    help: 'How long allowed tunnels stayed open',
    buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14_400],
    registers,
  });
  const decisionDuration = new Histogram({
    name: 'acr_egress_decision_duration_seconds',
    help: 'From the CONNECT request to a vetted destination (policy, DNS and address checks)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const helloWait = new Histogram({
    name: 'acr_egress_client_hello_wait_seconds',
    help: 'From the 200 answer to a complete TLS ClientHello (or giving up on it)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const limitHits = new Counter({
    name: 'acr_egress_client_limit_hits_total',
    help: 'Per-client limits that fired: connections and rate refuse a tunnel, lifetime ends one',
    labelNames: ['limit'] as const,
    registers,
  });
  for (const limit of ['connections', 'rate', 'lifetime']) limitHits.inc({ limit }, 0);
  const userDecisions = new Counter({
    name: 'acr_egress_user_decisions_total',
    help: 'Decision records of authenticated proxy users, by user and decision',
    labelNames: ['user', 'decision'] as const,
    registers,
  });
  registerTagMetrics(registers, sources.tags);
  registerDnsMetrics(registers, sources.dns);
  registerAuditMetrics(registers, sources.audit);
  // Registered always (0 without inspection), so dashboards and alerts never see a missing series.
  registerInspectMetrics(
    registers,
    sources.inspect ?? (() => ({ leaf: { signatures: 0, hits: 0 }, learnedHosts: 0, learnedTotal: 0 })),
  );

  registerCacheMetrics(registers, sources.cache ?? (() => cacheStatus(null)));

  const maxRules = sources.maxRuleLabels ?? 500;
  const ruleLabels = new Set<string>();
  const ruleLabel = (rule: string | null): string => {
    if (rule === null) return NONE;
    if (ruleLabels.has(rule)) return rule;
    if (ruleLabels.size >= maxRules) return 'other';
    ruleLabels.add(rule);
    return rule;
  };

  const userLabel = boundedLabels(sources.maxUserLabels ?? 100);

  const recordSink: RecordSink = (rec: DecisionRecord) => {
    decisions.inc({ decision: rec.decision, reason: rec.reason ?? NONE, rule: ruleLabel(rec.rule) });
    if (rec.user !== undefined && rec.user !== null)
      userDecisions.inc({ user: userLabel(rec.user), decision: rec.decision });
    if (rec.decision === 'allowed' && rec.bytesUp !== null && rec.durationMs !== null)
      // Request records (inside inspected tunnels) are decisions too, but not tunnels.
      if (rec.kind === undefined && rec.decision === 'allowed' && rec.bytesUp !== null && rec.durationMs !== null)
        tunnelDuration.observe(rec.durationMs / 1000);
  };
  const tunnelListener: MetricsTunnelListener = {
    opened() {
      openTunnels++;
    },
    closed(up, down) {
      openTunnels = Math.max(0, openTunnels - 1);
      if (up > 0) tunnelBytes.inc({ direction: 'up' }, up);
      if (down > 0) tunnelBytes.inc({ direction: 'down' }, down);
    },
    decided(seconds) {
      decisionDuration.observe(seconds);
    },
    helloWaited(seconds) {
      helloWait.observe(seconds);
    },
    limited(limit) {
      limitHits.inc({ limit });
    },
  };
  return { registry, recordSink, tunnelListener, text: () => registry.metrics(), contentType: registry.contentType };
}

/** Keeps the first `max` distinct values; later ones read "other", so a label cannot grow without bound. */
function boundedLabels(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= max) return 'other';
    seen.add(value);
    return value;
  };
}

function registerTagMetrics(registers: Registry[], status: (() => TagsStatus | null) | undefined): void {
  const read = (): TagsStatus | null => {
    try {
      return status?.() ?? null;
    } catch {
      return null; // a scrape never fails on a broken source
    }
  };
  new Gauge({
    name: 'acr_egress_service_tags_change_number',
    help: 'Change number of the service-tag data in use (0: none loaded)',
    registers,
    collect() {
      this.set(read()?.changeNumber ?? 0);
    },
  });
  new Gauge({
    name: 'acr_egress_service_tags_last_success_timestamp_seconds',
    help: 'Unix time of the last successful service-tag refresh or load (0: never)',
    registers,
    collect() {
      const s = read();
      const at = s?.lastSuccessAt ?? s?.loadedAt ?? null;
      this.set(at === null ? 0 : Date.parse(at) / 1000);
    },
  });
  new Counter({
    name: 'acr_egress_service_tags_refresh_failures_total',
    help: 'Failed service-tag refreshes since start',
    registers,
    collect() {
      this.reset();
      this.inc(read()?.failures ?? 0);
    },
  });
  new Gauge({
    name: 'acr_egress_service_tags_missing',
    help: '1 per rule and tag the rule needs that the service-tag data lacks (that rule is blocked, or unchecked with when-available)',
    labelNames: ['rule', 'tag'],
    registers,
    collect() {
      this.reset();
      for (const { rule, tag } of read()?.missing ?? []) this.set({ rule, tag }, 1);
    },
  });
  new Gauge({
    name: 'acr_egress_service_tags_stale',
    help: '1 when the service-tag data in use is older than serviceTags.maxAgeDays or none is loaded',
    registers,
    collect() {
      const s = read();
      this.set(s === null || s.stale ? 1 : 0);
    },
  });
}

function registerDnsMetrics(registers: Registry[], dns: (() => { hits: number; misses: number }) | undefined): void {
  // The resolver is replaced on reload and its counters restart: add what each scrape sees as new.
  const seen = { hits: 0, misses: 0 };
  const total = { hits: 0, misses: 0 };
  const advance = (): void => {
    if (dns === undefined) return;
    const now = dns();
    for (const k of ['hits', 'misses'] as const) {
      total[k] += now[k] >= seen[k] ? now[k] - seen[k] : now[k];
      seen[k] = now[k];
    }
  };
  new Counter({
    name: 'acr_egress_dns_cache_hits_total',
    help: 'Name lookups answered from the DNS cache (overrides not counted)',
    registers,
    collect() {
      advance();
      this.reset();
      this.inc(total.hits);
    },
  });
  new Counter({
    name: 'acr_egress_dns_cache_misses_total',
    help: 'Name lookups that went to DNS',
    registers,
    collect() {
      advance();
      this.reset();
      this.inc(total.misses);
    },
  });
}

function registerAuditMetrics(
  registers: Registry[],
  audit: (() => { writeErrors: number; dropped: number; queued: number }) | undefined,
): void {
  const read = (key: 'writeErrors' | 'dropped' | 'queued'): number => audit?.()[key] ?? 0;
  new Counter({
    name: 'acr_egress_audit_write_errors_total',
    help: 'Failed writes to the audit log (each is retried; the records wait in memory)',
    registers,
    collect() {
      this.reset();
      this.inc(read('writeErrors'));
    },
  });
  new Counter({
    name: 'acr_egress_audit_dropped_total',
    help: 'Decision records never written to the audit log: the in-memory queue was full, or it was closed',
    registers,
    collect() {
      this.reset();
      this.inc(read('dropped'));
    },
  });
  new Gauge({
    name: 'acr_egress_audit_queued_records',
    help: 'Decision records waiting to be written to the audit log',
    registers,
    collect() {
      this.set(read('queued'));
    },
  });
}
