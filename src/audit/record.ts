// The decision record: one per request, the same shape in the audit log, the admin API and `check --json`.
import type { Reason } from '../policy/reasons.js';

export type RecordMode = 'connect' | 'transparent' | 'http' | 'check';

export interface DecisionRecord {
  time: string;
  id: string;
  mode: RecordMode;
  client: string | null;
  /** The proxy user the client authenticated as; null without proxy authentication. */
  user?: string | null;
  host: string | null;
  port: number | null;
  sni: string | null;
  ip: string | null;
  decision: 'allowed' | 'blocked';
  reason: Reason | null;
  rule: string | null;
  tag: string | null;
  /** Present and true when mode is report and the request would have been blocked. */
  report?: true;
  /** Present when service tags were not enforced for this decision (enforce: when-available without data). */
  tagsUnenforced?: true;
  /** 'parent' when the tunnel went through proxy.parent: the parent resolved the name, no address was checked. */
  via?: 'parent';
  /** Dry runs (mode check) that named no client: false, the client checks did not run. */
  clientChecked?: false;
  /** Human detail for the reason (never a secret). */
  detail?: string;
  bytesUp: number | null;
  bytesDown: number | null;
  durationMs: number | null;
  /** The replica that made the record (POD_NAME or the host name). */
  instance?: string;
  /** "request": one HTTP request inside an inspected tunnel; absent on tunnel (connection) records. */
  kind?: 'request';
  /** Request records: the decision id of their tunnel's record. */
  tunnel?: string;
  method?: string;
  /** The request path, never its query string (storage redirects carry SAS signatures there). */
  path?: string;
  repository?: string | null;
  /** Tag or digest the request named. */
  reference?: string | null;
  /** Docker-Content-Digest of a manifest served, or the digest of a blob. */
  digest?: string | null;
  /** The HTTP status the client got. */
  status?: number | null;
  /** Blob GETs of a registry with cache: true: served from disk, fetched upstream, or passed by. */
  cache?: CacheOutcome;
}

export type CacheOutcome = 'hit' | 'miss' | 'bypass';

/** The request-specific fields of a `kind: "request"` record. */
export interface RequestFields {
  tunnel: string;
  method: string;
  path: string;
  repository: string | null;
  reference: string | null;
  digest: string | null;
  status: number | null;
  cache?: CacheOutcome;
}

/** The recent records the recorder adds to after the audit log, and tail.ts refills at start (src/store/ring.ts). */
export interface RecentRecords {
  add(record: DecisionRecord): void;
  readonly capacity: number;
}
