// A uPlot time-series chart sized to its box, its x axis fixed to the range it is given (never stretched
// to whatever the data span); rebuilt when its data change.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const COLORS = ['#c0392b', '#2471a3', '#d68910', '#1e8449', '#7d3c98', '#117a65', '#a04000', '#5d6d7e'];

export interface Series {
  label: string;
  values: (number | null)[];
  /** Second y axis (e.g. bytes beside counts). */
  right?: boolean;
}

export function TimeChart(props: {
  /** Seconds; one per bucket of the range, so an empty bucket is a 0, not a gap in the axis. */
  times: number[];
  series: Series[];
  leftLabel: string;
  rightLabel?: string;
  bytes?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el === null || props.series.length === 0) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 240,
      scales: {
        x: { time: true, range: (_u, min, max) => [props.times[0] ?? min, props.times.at(-1) ?? max] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
      },
      axes: [
        {},
        { label: props.leftLabel },
        ...(props.rightLabel
          ? [
              {
                label: props.rightLabel,
                scale: 'r',
                side: 1 as const,
                grid: { show: false },
                values: (_u: uPlot, ticks: number[]) => ticks.map(short),
              },
            ]
          : []),
      ],
      series: [
        {},
        ...props.series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          scale: s.right ? 'r' : 'y',
          points: { show: true, size: 4 },
        })),
      ],
    };
    const plot = new uPlot(opts, [props.times, ...props.series.map((s) => s.values)], el);
    return () => plot.destroy();
  }, [props.times, props.series]);
  if (props.series.length === 0) return <p class="empty">Nothing to chart in this range.</p>;
  return (
    <div
      class="chart"
      ref={box}
      data-points={props.times.length}
      data-from={props.times[0]}
      data-to={props.times.at(-1)}
    />
  );
}

function short(n: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[i]}`;
}
