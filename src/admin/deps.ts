// What the admin API needs from the running gateway: passed to createAdminApp, so the app holds no
// state of its own and tests build it from fakes.
import type { Logger } from 'pino';
import type { DecisionStore } from '../store/ring.js';
import type { StoreService } from '../store/service.js';
import type { LoadedConfig } from '../config/load.js';
import type { CacheStatus } from '../cache/cache-status.js';
import type { InspectStatus } from '../inspect/inspector.js';
import type { LearnedEntry } from '../inspect/learned-hosts.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ReloadResult } from '../gateway.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import type { ResolveResult } from '../proxy/resolver.js';
import type { TagsStatus } from '../service-tags/types.js';

export interface TagsFacade {
  status(): TagsStatus;
  /** Refreshes now; resolves with the status after the attempt (a failure shows in lastError). */
  refresh(): Promise<TagsStatus>;
  /** Names of the tags whose ranges contain ip (an address already checked to be one). */
  lookup(ip: string): string[];
}

/** The slice of the inspector the admin API shows (src/inspect/inspector.ts). */
interface InspectFacade {
  status(): InspectStatus;
  learned(): LearnedEntry[];
}

export interface AdminDeps {
  /** This process's recent records: the live stream's source (and the memory back end). */
  readonly store: DecisionStore;
  /** The configured store the queries go to; absent: the memory back end over `store`. */
  readonly records?: Pick<StoreService, 'store' | 'gaps' | 'state' | 'instance'>;
  policy(): PolicySnapshot;
  config(): LoadedConfig;
  /** Token name -> token; empty: no token configured (the API then answers loopback only). */
  tokens(): ReadonlyMap<string, string>;
  metricsAuth(): boolean;
  ready(): { ok: boolean; reasons: string[] };
  readonly tags: TagsFacade;
  reload(): Promise<ReloadResult>;
  /** Inspection status and learned blob hosts; absent: the /api/v1/inspect routes are not registered. */
  readonly inspect?: InspectFacade;
  /** The layer cache's figures (GET /api/v1/cache); absent: answered as a disabled cache. */
  cache?(): CacheStatus;
  /** DNS for POST /api/v1/check with "resolve": true; absent: such checks are refused. */
  resolve?(host: string): Promise<ResolveResult>;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** Knobs that are not config: tests shorten the heartbeat and the slow-client bound. */
export interface AdminOptions {
  /**
   * Answer /api/v1/* without a token when none is configured. startAdmin sets it only for a loopback
   * listener; off, a missing token configuration means every /api/v1/* request is refused.
   */
  anonymousWithoutToken?: boolean;
  /** SSE heartbeat comment interval (default 15 s). */
  heartbeatMs?: number;
  /** An SSE client whose unsent bytes exceed this is dropped (default 1 MiB). */
  maxStreamBufferBytes?: number;
  /** Records replayed to an SSE client that reconnects with Last-Event-ID (default 1000). */
  maxReplay?: number;
  /** The version shown in the OpenAPI document. */
  version?: string;
}
