// The audit log's metrics: write errors, dropped and queued records read from the log at scrape time
// (0 without a source), so a scrape shows the disk's state as it is now.
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/metrics.js';

const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('audit metrics', () => {
  it('reads write errors, dropped and queued records at each scrape', async () => {
    const status = { writeErrors: 3, dropped: 2, queued: 5 };
    const m = createMetrics({ defaultMetrics: false, audit: () => status });
    let text = await m.text();
    expect(value(text, 'acr_egress_audit_write_errors_total')).toBe(3);
    expect(value(text, 'acr_egress_audit_dropped_total')).toBe(2);
    expect(value(text, 'acr_egress_audit_queued_records')).toBe(5);
    Object.assign(status, { writeErrors: 7, queued: 0 });
    text = await m.text();
    expect(value(text, 'acr_egress_audit_write_errors_total')).toBe(7);
    expect(value(text, 'acr_egress_audit_queued_records')).toBe(0);
  });

  it('shows zeros without an audit log', async () => {
    const text = await createMetrics({ defaultMetrics: false }).text();
    expect(value(text, 'acr_egress_audit_write_errors_total')).toBe(0);
    expect(value(text, 'acr_egress_audit_dropped_total')).toBe(0);
  });
});
