// Filters over the recent-decisions store: parsing the admin's filter parameters, choosing the
// smallest posting list to walk, and cursor pages that stay put while new records arrive.
import { CidrList, parseIp } from '../net/address.js';
import { isReason, type Reason } from '../policy/reasons.js';
import type { DecisionRecord, RecordMode } from '../audit/record.js';
import type { DecisionStore, SeqList } from './ring.js';

/** The filter parameters as they come in (query string values). */
export interface LogFilterParams {
  decision?: string;
  reason?: string;
  host?: string;
  client?: string;
  rule?: string;
  mode?: string;
  since?: string;
  until?: string;
  kind?: string;
  repository?: string;
  digest?: string;
  user?: string;
  instance?: string;
}

/** Filters on fields that are not indexed in the ring: matched by a scan. */
const PLAIN_FIELDS = ['kind', 'repository', 'digest', 'user', 'instance'] as const;
type PlainField = (typeof PLAIN_FIELDS)[number];

export interface FilterProblem {
  /** The parameter at fault, e.g. `since`. */
  param: string;
  message: string;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const RELATIVE = /^([0-9]{1,9})(ms|s|m|h|d|w)$/;
// Dates and date-times only: Date.parse alone would take "1" or "May 3" as times.
const ISO =
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?$/i;
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\x00-\x1f\x7f]/;
const MODES: ReadonlySet<string> = new Set(['connect', 'transparent', 'http', 'check']);
/** Lower-case Crockford base32, 26 characters: the ids makeRecord gives. */
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

/** `15m`, `2h`, `7d` (before `now`) or an ISO date/time; null when it is neither. */
export function parseTime(value: string, now: number): number | null {
  const rel = RELATIVE.exec(value);
  if (rel) return now - Number(rel[1]) * (UNITS[rel[2] as string] as number);
  if (!ISO.test(value)) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

export function isCursor(value: string): boolean {
  return ULID.test(value);
}

/** A dotted quad (as Node writes client addresses) as an unsigned 32-bit number, or null. */
function readV4(s: string): number | null {
  let n = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i === s.length ? 46 : s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return null;
      n = n * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else {
      return null;
    }
  }
  return parts === 4 ? n : null;
}

/** `10.1.7.0/24` or `10.1.7.5` as base and mask; null for IPv6 (matched through parseIp). */
function v4Prefix(cidr: string): { base: number; mask: number } | null {
  const slash = cidr.indexOf('/');
  const n = readV4(slash === -1 ? cidr : cidr.slice(0, slash));
  if (n === null) return null;
  const bits = slash === -1 ? 32 : Number(cidr.slice(slash + 1));
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (n & mask) >>> 0, mask };
}

/** A record's value of a field the ring does not index; records without `kind` are decisions. */
function plainValue(rec: DecisionRecord, key: PlainField): unknown {
  const value = (rec as unknown as Record<string, unknown>)[key];
  return key === 'kind' && value === undefined ? 'decision' : value;
}

/** More posting lists than this and a plain scan of the ring is cheaper than merging them. */
const MAX_MERGE = 16;

type Plan = { kind: 'lists'; lists: SeqList[]; cost: number } | { kind: 'scan'; cost: number };

export class LogFilter {
  readonly decision: 'allowed' | 'blocked' | null = null;
  readonly reason: Reason | null = null;
  /** Exact host, or the suffix (with its leading dot) of a `*.suffix` filter. */
  readonly host: string | null = null;
  readonly hostSuffix: boolean = false;
  readonly client: string | null = null;
  readonly clients: CidrList | null = null;
  /** The client filter as given (address or CIDR), for SQL back ends. */
  readonly clientCidr: string | null = null;
  /** An IPv4 client filter as base and mask, matched without parsing each record's address. */
  readonly v4: { base: number; mask: number } | null = null;
  readonly rule: string | null = null;
  readonly mode: RecordMode | null = null;
  readonly since: number | null = null;
  readonly until: number | null = null;
  readonly kind: string | null = null;
  readonly repository: string | null = null;
  readonly digest: string | null = null;
  readonly user: string | null = null;
  readonly instance: string | null = null;
  /** Per query: client string -> inside `clients` (parsing an address costs more than a lookup). */
  #clientHits = new Map<string, boolean>();

  private constructor(fields: Partial<LogFilter>) {
    Object.assign(this, fields);
  }

  /** Every parameter is checked; the first bad one is named. Nothing unknown widens the filter. */
  static parse(params: LogFilterParams, now = Date.now()): LogFilter | FilterProblem {
    // No record field holds a control character, and PostgreSQL refuses a NUL in a text parameter.
    for (const [param, value] of Object.entries(params)) {
      if (typeof value === 'string' && CONTROL.test(value))
        return { param, message: 'must not contain control characters' };
    }
    const f: { -readonly [K in keyof LogFilter]?: LogFilter[K] } = {};
    if (params.decision !== undefined) {
      if (params.decision !== 'allowed' && params.decision !== 'blocked')
        return { param: 'decision', message: 'must be allowed or blocked' };
      f.decision = params.decision;
    }
    if (params.reason !== undefined) {
      if (!isReason(params.reason))
        return { param: 'reason', message: `"${params.reason.slice(0, 64)}" is not a reason code` };
      f.reason = params.reason;
    }
    if (params.host !== undefined) {
      const raw = params.host.trim().toLowerCase().replace(/\.$/, '');
      const wild = raw.startsWith('*.');
      const body = wild ? raw.slice(2) : raw;
      if (body.length === 0 || body.includes('*') || /\s/.test(body)) {
        return { param: 'host', message: 'must be a host name or *.suffix (e.g. *.blob.core.windows.net)' };
      }
      f.host = wild ? `.${body}` : body;
      f.hostSuffix = wild;
    }
    if (params.client !== undefined) {
      const parsed = CidrList.parse([params.client.trim()]);
      if ('errors' in parsed)
        return {
          param: 'client',
          message: `${JSON.stringify(params.client.slice(0, 64))} is not an IP address or CIDR`,
        };
      f.clients = parsed.list;
      f.clientCidr = params.client.trim();
      const ip = params.client.includes('/') ? null : parseIp(params.client.trim());
      f.client = ip === null ? null : ip.address;
      f.v4 = v4Prefix(params.client.trim());
    }
    if (params.rule !== undefined) {
      if (params.rule.length === 0) return { param: 'rule', message: 'must not be empty' };
      f.rule = params.rule;
    }
    if (params.mode !== undefined) {
      if (!MODES.has(params.mode)) return { param: 'mode', message: 'must be connect, transparent, http or check' };
      f.mode = params.mode as RecordMode;
    }
    for (const key of PLAIN_FIELDS) {
      const value = params[key];
      if (value === undefined) continue;
      if (value.length === 0 || value.length > 300) return { param: key, message: 'must be 1 to 300 characters' };
      f[key] = value;
    }
    for (const key of ['since', 'until'] as const) {
      const value = params[key];
      if (value === undefined) continue;
      const t = parseTime(value, now);
      if (t === null)
        return {
          param: key,
          message: `${JSON.stringify(value.slice(0, 64))} is not an ISO time or a duration like 15m, 2h, 7d`,
        };
      f[key] = t;
    }
    if (f.since != null && f.until != null && f.since > f.until) return { param: 'since', message: 'is after until' };
    return new LogFilter(f);
  }

  /** True when only since/until are set: answers may come from per-hour counts. */
  get timeOnly(): boolean {
    return (
      this.decision === null &&
      this.reason === null &&
      this.host === null &&
      this.clients === null &&
      this.rule === null &&
      this.mode === null &&
      PLAIN_FIELDS.every((key) => this[key] === null)
    );
  }

  static all(): LogFilter {
    return new LogFilter({});
  }

  /** Whether a record passes; `startMs` is its `time` in epoch ms. */
  matches(rec: DecisionRecord, startMs: number): boolean {
    if (this.decision !== null && rec.decision !== this.decision) return false;
    if (this.reason !== null && rec.reason !== this.reason) return false;
    if (this.rule !== null && rec.rule !== this.rule) return false;
    if (this.mode !== null && rec.mode !== this.mode) return false;
    if (this.host !== null && !this.#hostMatches(rec.host)) return false;
    if (this.clients !== null && !this.#clientMatches(rec.client)) return false;
    if (this.since !== null && startMs < this.since) return false;
    if (this.until !== null && startMs > this.until) return false;
    for (const key of PLAIN_FIELDS) {
      const want = this[key];
      if (want !== null && plainValue(rec, key) !== want) return false;
    }
    return true;
  }

  #hostMatches(host: string | null): boolean {
    if (host === null) return false;
    return this.hostSuffix ? host.endsWith(this.host as string) : host === this.host;
  }

  #clientMatches(client: string | null): boolean {
    if (client === null) return false;
    if (client === this.client) return true;
    if (this.v4 !== null) {
      const n = readV4(client);
      if (n !== null) return (n & this.v4.mask) >>> 0 === this.v4.base;
    }
    let hit = this.#clientHits.get(client);
    if (hit === undefined) {
      const ip = parseIp(client);
      hit = ip !== null && (this.clients as CidrList).contains(ip);
      this.#clientHits.set(client, hit);
    }
    return hit;
  }

  /** The lists of the values that match, stopping once there are too many to merge (a scan then wins). */
  #matchingLists(values: IterableIterator<[string, SeqList]>, test: (value: string) => boolean): SeqList[] {
    const lists: SeqList[] = [];
    for (const [value, list] of values) {
      if (!test(value)) continue;
      lists.push(list);
      if (lists.length > MAX_MERGE) break;
    }
    return lists;
  }

  /** The cheapest way to find candidates: the smallest union of posting lists, or a scan. */
  plan(store: DecisionStore): Plan {
    const plans: Plan[] = [{ kind: 'scan', cost: store.size }];
    const one = (list: SeqList | undefined): Plan => ({
      kind: 'lists',
      lists: list ? [list] : [],
      cost: list?.length ?? 0,
    });
    const many = (lists: SeqList[]): Plan => {
      const cost = lists.reduce((n, l) => n + l.length, 0);
      return lists.length > MAX_MERGE ? { kind: 'scan', cost: store.size } : { kind: 'lists', lists, cost };
    };
    if (this.decision !== null) plans.push(one(store.postings('decision', this.decision)));
    if (this.reason !== null) plans.push(one(store.postings('reason', this.reason)));
    if (this.rule !== null) plans.push(one(store.postings('rule', this.rule)));
    if (this.host !== null) {
      if (!this.hostSuffix) plans.push(one(store.postings('host', this.host)));
      else plans.push(many(this.#matchingLists(store.values('host'), (h) => this.#hostMatches(h))));
    }
    if (this.clients !== null) {
      if (this.client !== null) plans.push(one(store.postings('client', this.client)));
      else plans.push(many(this.#matchingLists(store.values('client'), (c) => this.#clientMatches(c))));
    }
    return plans.reduce((best, p) => (p.cost < best.cost ? p : best));
  }
}

/**
 * Seqs of the plan's candidates below `bound`, newest first. Several lists are merged by taking the
 * largest head each step (they are few: MAX_MERGE bounds them).
 */
function* candidates(store: DecisionStore, plan: Plan, bound: number): Generator<number> {
  if (plan.kind === 'scan') {
    for (let seq = Math.min(bound, store.nextSeq) - 1; seq >= store.firstSeq; seq--) yield seq;
    return;
  }
  const lists = plan.lists;
  const pos = lists.map((l) => l.lastBelow(bound));
  for (;;) {
    let best = -1;
    let bestSeq = -1;
    for (let i = 0; i < lists.length; i++) {
      const list = lists[i] as SeqList;
      const p = pos[i] as number;
      if (p < list.start) continue;
      const seq = list.at(p);
      if (seq > bestSeq) {
        bestSeq = seq;
        best = i;
      }
    }
    if (best === -1) return;
    pos[best] = (pos[best] as number) - 1;
    yield bestSeq;
  }
}

/** Matching records older than `bound` (a seq), newest first, stopping early once past `since`. */
export function* matching(store: DecisionStore, filter: LogFilter, bound = store.nextSeq): Generator<DecisionRecord> {
  for (const seq of candidates(store, filter.plan(store), bound)) {
    // Records are added as they end, so once one ended before `since` every older one started before it.
    if (filter.since !== null && store.endMs(seq) < filter.since) return;
    const rec = store.at(seq);
    if (rec === undefined) return; // left the ring while a caller held the generator
    if (filter.matches(rec, store.startMs(seq))) yield rec;
  }
}

export interface LogPage {
  items: DecisionRecord[];
  /** Pass as `cursor` for the next (older) page; null when this page is the last. */
  nextCursor: string | null;
}

/**
 * One page, newest first. The cursor is the id of the last record of the previous page: the next
 * page holds records strictly older than it, so records arriving meanwhile never shift a page.
 */
export function queryLogs(
  store: DecisionStore,
  filter: LogFilter,
  options: { limit: number; cursor?: string | null },
): LogPage {
  const bound = options.cursor ? store.seqOfId(options.cursor) : store.nextSeq;
  const items: DecisionRecord[] = [];
  if (options.limit <= 0) return { items, nextCursor: null };
  for (const rec of matching(store, filter, bound)) {
    items.push(rec);
    if (items.length >= options.limit) break;
  }
  const last = items[items.length - 1];
  return { items, nextCursor: items.length >= options.limit && last !== undefined ? last.id : null };
}

/** Matching records newer than the record `afterId`, oldest first, at most `limit` (SSE replay). */
export function newerThan(store: DecisionStore, filter: LogFilter, afterId: string, limit: number): DecisionRecord[] {
  const found: DecisionRecord[] = [];
  for (const rec of matching(store, filter)) {
    if (rec.id <= afterId || found.length >= limit) break;
    found.push(rec);
  }
  return found.reverse();
}
