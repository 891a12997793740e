// Charts: blocked decisions by reason over time, top blocked hosts and clients, tunnels and bytes over
// time, and each registry's traffic. Totals come from /api/v1/stats; time series from its buckets when
// the gateway has them, else from the records of the range; every bucket of the range is drawn, empty
// ones as 0.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, query, type Rec } from '../api';
import { TimeChart, type Series } from '../chart';
import { RANGE_BUCKET, RANGES, RangeActions, type Range } from '../range';
import { Bars, ErrorBox, Section } from '../components';
import { bytes } from '../format';
import { bucketIndex, bucketStarts, fillBuckets } from '../buckets';
import type { Static } from '@sinclair/typebox';
import type { StatsSchema } from '../../../src/admin/schemas.js';
import { bucketMs } from '../../../src/admin/bucket-ms.js';

const MAX_PAGES = 5;

/** The stats answer, as the server types it. */
type Stats = Static<typeof StatsSchema>;
type Bucket = NonNullable<Stats['buckets']>[number];

/** Asks for bucketed stats; a gateway without them refuses the parameter, then plain stats. */
async function loadStats(range: Range): Promise<Stats> {
  try {
    return await api<Stats>(`/api/v1/stats${query({ since: range, bucket: RANGE_BUCKET[range] })}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 400) return api<Stats>(`/api/v1/stats${query({ since: range })}`);
    throw err;
  }
}

async function loadRecords(range: Range): Promise<{ items: Rec[]; complete: boolean }> {
  const items: Rec[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page: { items: Rec[]; nextCursor: string | null } = await api(
      `/api/v1/logs${query({ since: range, limit: 1000, cursor })}`,
    );
    items.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === null) return { items, complete: true };
  }
  return { items, complete: false };
}

/** Which registry a record's rule belongs to: registry:<name>:..., mcr:..., allow:<pattern>. */
function registryOf(rule: unknown): string | null {
  if (typeof rule !== 'string') return null;
  const [kind, name] = rule.split(':');
  if (kind === 'registry' && name) return name;
  if (kind === 'mcr') return 'mcr';
  if (kind === 'allow') return `allow ${rule.slice(6)}`;
  return null;
}

function series(range: Range, stats: Stats | null, recs: Rec[]) {
  // One grid for both charts: the range cut into the buckets the stats were asked for, empty ones as 0.
  const step = bucketMs(RANGE_BUCKET[range]);
  const now = Date.now();
  const starts = bucketStarts(now - RANGES[range], now, step);
  const times = starts.map((t) => Math.round(t / 1000));
  const n = starts.length;
  const reasons = new Map<string, number[]>();
  const tunnels = new Array<number>(n).fill(0);
  const moved = new Array<number>(n).fill(0);
  const registries = new Map<string, { tunnels: number; blocked: number; bytes: number }>();
  for (const r of recs) {
    const i = bucketIndex(starts, step, typeof r.time === 'string' ? Date.parse(r.time) : NaN);
    if (i < 0) continue;
    if (r.decision === 'blocked' && typeof r.reason === 'string') {
      let row = reasons.get(r.reason);
      if (row === undefined) reasons.set(r.reason, (row = new Array<number>(n).fill(0)));
      row[i] = (row[i] ?? 0) + 1;
    }
    const b = (typeof r.bytesUp === 'number' ? r.bytesUp : 0) + (typeof r.bytesDown === 'number' ? r.bytesDown : 0);
    if (r.decision === 'allowed' && r.kind !== 'request') {
      tunnels[i] = (tunnels[i] ?? 0) + 1;
      moved[i] = (moved[i] ?? 0) + b;
    }
    const reg = registryOf(r.rule);
    if (reg !== null) {
      let t = registries.get(reg);
      if (t === undefined) registries.set(reg, (t = { tunnels: 0, blocked: 0, bytes: 0 }));
      if (r.decision === 'blocked') t.blocked++;
      else t.tunnels++;
      t.bytes += b;
    }
  }
  let reasonSeries: Series[] = [...reasons].sort().map(([label, values]) => ({ label, values }));
  // The server's buckets count every record of the range, not only the pages fetched: prefer them.
  const buckets = stats?.buckets;
  if (buckets !== undefined && buckets.length > 0) {
    const names = [...new Set(buckets.flatMap((b) => Object.keys(b.reasons)))].sort();
    const filled = fillBuckets(buckets, starts, names, (b: Bucket, name) => b.reasons[name] ?? 0);
    reasonSeries = names.map((label) => ({ label, values: filled.get(label) ?? [] }));
  }
  return {
    times,
    reasonSeries,
    traffic: [
      { label: 'tunnels', values: tunnels },
      { label: 'bytes', values: moved, right: true },
    ] as Series[],
    registries: [...registries].sort((a, b) => b[1].bytes - a[1].bytes || b[1].tunnels - a[1].tunnels),
  };
}

export function Charts() {
  const [range, setRange] = useState<Range>('1h');
  const [stats, setStats] = useState<Stats | null>(null);
  const [recs, setRecs] = useState<{ items: Rec[]; complete: boolean }>({ items: [], complete: true });
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    setError(null);
    Promise.all([loadStats(range), loadRecords(range)]).then(([s, r]) => {
      setStats(s);
      setRecs(r);
    }, setError);
  }, [range, tick]);

  const data = useMemo(() => series(range, stats, recs.items), [range, stats, recs]);
  return (
    <>
      <Section
        title="Overview"
        actions={<RangeActions range={range} onRange={setRange} onRefresh={() => setTick(tick + 1)} />}
      >
        <ErrorBox error={error} />
        {stats !== null && (
          <div class="totals">
            <div>
              <b>{stats.records}</b> decisions
            </div>
            <div>
              <b>{stats.decisions.allowed}</b> allowed
            </div>
            <div class="bad">
              <b>{stats.decisions.blocked}</b> blocked
            </div>
            <div>
              <b>{bytes(stats.bytes.up + stats.bytes.down)}</b> carried
            </div>
          </div>
        )}
        {!recs.complete && <p class="muted">Time series from the newest {recs.items.length} records of the range.</p>}
      </Section>
      <Section title="Blocked by reason over time">
        <TimeChart times={data.times} series={data.reasonSeries} leftLabel="blocked" />
        <Bars
          rows={Object.entries(stats?.reasons ?? {})
            .sort((a, b) => b[1] - a[1])
            .map(([label, value]) => ({ label, value }))}
          empty="No blocks in this range."
        />
      </Section>
      <div class="grid2">
        <Section title="Top blocked hosts">
          <Bars
            rows={(stats?.topBlockedHosts ?? []).map((h) => ({ label: h.host, value: h.count }))}
            empty="No blocked hosts."
          />
        </Section>
        <Section title="Top clients">
          <Bars
            rows={(stats?.topClients ?? []).map((c) => ({
              label: c.client,
              value: c.count,
              note: `${c.count} (${c.blocked} blocked)`,
            }))}
            empty="No clients."
          />
        </Section>
      </div>
      <Section title="Tunnels and bytes over time">
        <TimeChart times={data.times} series={data.traffic} leftLabel="tunnels" rightLabel="bytes" />
      </Section>
      <Section title="Traffic per registry">
        <Bars
          rows={data.registries.map(([label, t]) => ({
            label,
            value: t.bytes,
            note: `${bytes(t.bytes)} in ${t.tunnels} tunnels${t.blocked > 0 ? `, ${t.blocked} blocked` : ''}`,
          }))}
          empty="No registry traffic in this range."
        />
      </Section>
    </>
  );
}
