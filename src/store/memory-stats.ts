// Stats over the in-memory ring in one pass: totals by decision and reason, the most blocked hosts,
// the hosts that moved the most bytes, and the busiest clients (the shape of GET /api/v1/stats).
import { type LogFilter, matching } from './query.js';
import type { DecisionStore } from './ring.js';
interface HostTally {
  count: number;
  reasons: Record<string, number>;
}
interface AllowedTally {
  count: number;
  bytesUp: number;
  bytesDown: number;
}
interface ClientTally {
  count: number;
  blocked: number;
  bytes: number;
}

export interface Stats {
  since: string | null;
  until: string;
  records: number;
  decisions: { allowed: number; blocked: number };
  reportOnly: number;
  reasons: Record<string, number>;
  bytes: { up: number; down: number };
  topBlockedHosts: { host: string; count: number; reasons: Record<string, number> }[];
  topAllowedHosts: { host: string; count: number; bytes: number; bytesUp: number; bytesDown: number }[];
  topClients: { client: string; count: number; blocked: number; bytes: number }[];
}

/** The n best entries by score (ties by name), without sorting every entry: clients can be many. */
function top<T>(map: Map<string, T>, score: (t: T) => number, n: number): [string, T][] {
  const best: [string, T, number][] = [];
  const before = (a: [string, T, number], b: [string, T, number]): boolean =>
    a[2] > b[2] || (a[2] === b[2] && a[0] < b[0]);
  for (const [key, value] of map) {
    const entry: [string, T, number] = [key, value, score(value)];
    if (best.length === n && !before(entry, best[n - 1] as [string, T, number])) continue;
    let i = best.length === n ? n - 1 : best.length;
    while (i > 0 && before(entry, best[i - 1] as [string, T, number])) {
      best[i] = best[i - 1] as [string, T, number];
      i--;
    }
    best[i] = entry;
  }
  return best.map(([key, value]) => [key, value]);
}

export function computeStats(store: DecisionStore, filter: LogFilter, n: number, now = Date.now()): Stats {
  const stats: Stats = {
    since: filter.since === null ? null : new Date(filter.since).toISOString(),
    until: new Date(filter.until ?? now).toISOString(),
    records: 0,
    decisions: { allowed: 0, blocked: 0 },
    reportOnly: 0,
    reasons: {},
    bytes: { up: 0, down: 0 },
    topBlockedHosts: [],
    topAllowedHosts: [],
    topClients: [],
  };
  const blocked = new Map<string, HostTally>();
  const allowed = new Map<string, AllowedTally>();
  const clients = new Map<string, ClientTally>();
  for (const rec of matching(store, filter)) {
    stats.records++;
    stats.decisions[rec.decision]++;
    if (rec.report) stats.reportOnly++;
    if (rec.reason !== null) stats.reasons[rec.reason] = (stats.reasons[rec.reason] ?? 0) + 1;
    const up = rec.bytesUp ?? 0;
    const down = rec.bytesDown ?? 0;
    stats.bytes.up += up;
    stats.bytes.down += down;
    const host = rec.host ?? '(none)';
    if (rec.decision === 'blocked') {
      let t = blocked.get(host);
      if (t === undefined) blocked.set(host, (t = { count: 0, reasons: {} }));
      t.count++;
      const reason = rec.reason ?? 'unknown';
      t.reasons[reason] = (t.reasons[reason] ?? 0) + 1;
    } else {
      let t = allowed.get(host);
      if (t === undefined) allowed.set(host, (t = { count: 0, bytesUp: 0, bytesDown: 0 }));
      t.count++;
      t.bytesUp += up;
      t.bytesDown += down;
    }
    const client = rec.client ?? '(unknown)';
    let c = clients.get(client);
    if (c === undefined) clients.set(client, (c = { count: 0, blocked: 0, bytes: 0 }));
    c.count++;
    if (rec.decision === 'blocked') c.blocked++;
    c.bytes += up + down;
  }
  stats.topBlockedHosts = top(blocked, (t) => t.count, n).map(([host, t]) => ({ host, ...t }));
  stats.topAllowedHosts = top(allowed, (t) => t.bytesUp + t.bytesDown, n).map(([host, t]) => ({
    host,
    count: t.count,
    bytes: t.bytesUp + t.bytesDown,
    bytesUp: t.bytesUp,
    bytesDown: t.bytesDown,
  }));
  stats.topClients = top(clients, (t) => t.count, n).map(([client, t]) => ({ client, ...t }));
  return stats;
}
