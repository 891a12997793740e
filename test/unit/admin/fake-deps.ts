// Admin API dependencies made of real parts (store, config, policy, metrics) and small fakes (tags,
// reload, DNS), with a log that keeps every line so tests can look for secrets in it.
import { Writable } from 'node:stream';
import { monotonicFactory } from 'ulid';
import pino from 'pino';
import type { AdminDeps } from '../../../src/admin/deps.js';
import type { ReloadResult } from '../../../src/gateway.js';
import type { DecisionRecord } from '../../../src/audit/record.js';
import { DecisionStore } from '../../../src/store/ring.js';
import { buildConfig, type LoadedConfig } from '../../../src/config/load.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { compilePolicy } from '../../../src/policy/snapshot.js';
import type { ResolveResult } from '../../../src/proxy/resolver.js';
import { buildServiceTagIndex } from '../../../src/service-tags/index.js';
import type { TagsStatus } from '../../../src/service-tags/types.js';
import { loopbackTags, serviceTagsJson } from '../../helpers/tags.js';

export const DEFAULT_TOKEN = 'default-token-0123456789';
export const OPS_TOKEN = 'ops-token-abcdefghijkl';

export function testLoaded(admin: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): LoadedConfig {
  return buildConfig(
    {
      registries: [{ name: 'myregistry', regions: ['eastus'] }],
      mcr: true,
      allow: ['*.example.com'],
      network: { allowPrivate: ['127.0.0.0/8'] },
      serviceTags: { enforce: true, source: null, cacheFile: null },
      admin: { listen: '127.0.0.1:0', token: DEFAULT_TOKEN, tokens: [{ name: 'ops', token: OPS_TOKEN }], ...admin },
      ...extra,
    },
    null,
  );
}

export const tagIndex = buildServiceTagIndex(JSON.parse(serviceTagsJson(loopbackTags(), 42)));

export function tagsStatus(over: Partial<TagsStatus> = {}): TagsStatus {
  return {
    changeNumber: 42,
    cloud: 'Public',
    source: '/tmp/tags.json',
    loadedAt: '2026-01-01T00:00:00.000Z',
    publishedAt: '2026-01-01T00:00:00.000Z',
    ageFrom: 'file name',
    lastSuccessAt: '2026-01-01T00:00:00.000Z',
    nextRefreshAt: '2026-01-02T00:00:00.000Z',
    lastError: null,
    missing: [],
    lastErrorAt: null,
    stale: false,
    ageSeconds: 60,
    tags: { 'AzureContainerRegistry.EastUS': 1 },
    failures: 0,
    consecutiveFailures: 0,
    ...over,
  };
}

export interface Fake {
  deps: AdminDeps;
  store: DecisionStore;
  /** Every log line written, as text. */
  logLines: string[];
  refreshes: number;
  reloadWith(outcome: ReloadResult): void;
  setReady(r: { ok: boolean; reasons: string[] }): void;
  dns: Map<string, ResolveResult>;
}

export function fakeDeps(options: { loaded?: LoadedConfig; capacity?: number; metricsAuth?: boolean } = {}): Fake {
  const loaded = options.loaded ?? testLoaded();
  const store = new DecisionStore(options.capacity ?? 10_000);
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      cb();
    },
  });
  let outcome: ReloadResult = { ok: true, version: loaded.version, changed: false };
  let ready = { ok: true, reasons: [] as string[] };
  const dns = new Map<string, ResolveResult>();
  const fake: Fake = {
    store,
    logLines,
    refreshes: 0,
    dns,
    reloadWith: (o) => (outcome = o),
    setReady: (r) => (ready = r),
    deps: {
      store,
      policy: () => compilePolicy(loaded, tagIndex),
      config: () => loaded,
      tokens: () => loaded.adminTokens,
      metricsAuth: () => options.metricsAuth ?? false,
      ready: () => ready,
      tags: {
        status: () => tagsStatus(),
        refresh: async () => {
          fake.refreshes++;
          return tagsStatus({ changeNumber: 43 });
        },
        lookup: (ip) => tagIndex.tagsContaining(ip),
      },
      reload: async () => outcome,
      resolve: async (host) => dns.get(host) ?? { ok: false, code: 'ENOTFOUND', detail: `${host}: ENOTFOUND` },
      metrics: createMetrics({ defaultMetrics: false }),
      log: pino({ level: 'debug' }, sink),
    },
  };
  return fake;
}

const nextId = monotonicFactory();

/** A decision record; time defaults to now, id ascends with each call. */
export function rec(over: Partial<DecisionRecord> = {}): DecisionRecord {
  const now = Date.now();
  return {
    time: new Date(now).toISOString(),
    id: nextId(now),
    mode: 'connect',
    client: '10.0.0.5',
    host: 'myregistry.azurecr.io',
    port: 443,
    sni: 'myregistry.azurecr.io',
    ip: '20.62.128.1',
    decision: 'allowed',
    reason: null,
    rule: 'registry:myregistry:login',
    tag: 'AzureContainerRegistry.EastUS',
    bytesUp: 100,
    bytesDown: 1000,
    durationMs: 50,
    ...over,
  };
}

export const auth = (token = DEFAULT_TOKEN): Record<string, string> => ({ authorization: `Bearer ${token}` });
