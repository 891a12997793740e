// The decision record: one per request, the same shape in the audit log, the admin API and `check --json`.
import type { Reason } from '../policy/reasons.js';

export type RecordMode = 'connect' | 'transparent' | 'http' | 'check';

export interface DecisionRecord {
  time: string;
  id: string;
  mode: RecordMode;
  client: string | null;
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
  /** Human detail for the reason (never a secret). */
  detail?: string;
  bytesUp: number | null;
  bytesDown: number | null;
  durationMs: number | null;
  /** The replica that made the record (POD_NAME or the host name). */
  instance?: string;
}
