// The time range of the chart views (overview and cache): the ranges offered, the bucket each is drawn
// in, and the range picker with its refresh button, so both views ask the API the same way.

export const RANGES = { '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3 } as const;
export type Range = keyof typeof RANGES;
/** The bucket each range is charted in: a few dozen points at most. */
export const RANGE_BUCKET: Record<Range, string> = { '1h': '5m', '6h': '15m', '24h': '1h', '7d': '6h' };

export function RangeActions(props: { range: Range; onRange: (range: Range) => void; onRefresh: () => void }) {
  return (
    <div class="actions">
      <select aria-label="range" value={props.range} onChange={(e) => props.onRange(e.currentTarget.value as Range)}>
        {Object.keys(RANGES).map((r) => (
          <option key={r} value={r}>
            last {r}
          </option>
        ))}
      </select>
      <button type="button" onClick={props.onRefresh}>
        Refresh
      </button>
    </div>
  );
}
