// The Prometheus registry: the documented names and labels, fed per record and per tunnel, values read at
// scrape time, rule labels bounded, DNS counters monotonic across resolver swaps.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { rec, tagsStatus } from '../admin/fake-deps.js';

const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('createMetrics', () => {
  it('counts decisions by decision, reason and rule, with none for null', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordSink(rec({ decision: 'allowed', reason: null, rule: 'registry:myregistry:login' }));
    m.recordSink(rec({ decision: 'allowed', reason: null, rule: 'registry:myregistry:login' }));
    m.recordSink(rec({ decision: 'blocked', reason: 'host_not_allowed', rule: null }));
    m.recordSink(rec({ decision: 'allowed', reason: 'sni_mismatch', report: true, rule: 'mcr:login' }));
    const text = await m.text();
    expect(
      value(text, 'acr_egress_decisions_total{decision="allowed",reason="none",rule="registry:myregistry:login"}'),
    ).toBe(2);
    expect(value(text, 'acr_egress_decisions_total{decision="blocked",reason="host_not_allowed",rule="none"}')).toBe(1);
    expect(value(text, 'acr_egress_decisions_total{decision="allowed",reason="sni_mismatch",rule="mcr:login"}')).toBe(
      1,
    );
  });

  it('folds rule ids past the bound into "other" so wildcard rules cannot grow the series', async () => {
    const m = createMetrics({ defaultMetrics: false, maxRuleLabels: 2 });
    for (const region of ['a', 'b', 'c', 'd']) m.recordSink(rec({ rule: `registry:r:data:${region}` }));
    const text = await m.text();
    expect(value(text, 'acr_egress_decisions_total{decision="allowed",reason="none",rule="registry:r:data:a"}')).toBe(
      1,
    );
    expect(value(text, 'acr_egress_decisions_total{decision="allowed",reason="none",rule="other"}')).toBe(2);
  });

  it('counts decisions per proxy user, folding users past the bound into "other"', async () => {
    const m = createMetrics({ defaultMetrics: false, maxUserLabels: 2 });
    for (const user of ['a', 'b', 'c', 'd', 'a']) m.recordSink({ ...rec({}), user });
    m.recordSink(rec({})); // no user: not counted here
    const text = await m.text();
    expect(value(text, 'acr_egress_user_decisions_total{user="a",decision="allowed"}')).toBe(2);
    expect(value(text, 'acr_egress_user_decisions_total{user="other",decision="allowed"}')).toBe(2);
  });

  it('counts per-client limit hits by limit, each from zero', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.tunnelListener.limited?.('rate');
    m.tunnelListener.limited?.('rate');
    const text = await m.text();
    expect(value(text, 'acr_egress_client_limit_hits_total{limit="rate"}')).toBe(2);
    expect(value(text, 'acr_egress_client_limit_hits_total{limit="connections"}')).toBe(0);
    expect(value(text, 'acr_egress_client_limit_hits_total{limit="lifetime"}')).toBe(0);
  });

  it('counts open tunnels and bytes per direction from the tunnel listener', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const l = m.tunnelListener;
    l.opened();
    l.opened();
    l.closed(100, 5000);
    const text = await m.text();
    expect(value(text, 'acr_egress_tunnels_active')).toBe(1);
    expect(value(text, 'acr_egress_tunnel_bytes_total{direction="up"}')).toBe(100);
    expect(value(text, 'acr_egress_tunnel_bytes_total{direction="down"}')).toBe(5000);
  });

  it('reads open tunnels from the gateway when given', async () => {
    const m = createMetrics({ defaultMetrics: false, tunnelsActive: () => 7 });
    expect(value(await m.text(), 'acr_egress_tunnels_active')).toBe(7);
  });

  it('shows both byte directions from the start', async () => {
    const text = await createMetrics({ defaultMetrics: false }).text();
    expect(value(text, 'acr_egress_tunnel_bytes_total{direction="up"}')).toBe(0);
    expect(value(text, 'acr_egress_tunnel_bytes_total{direction="down"}')).toBe(0);
  });

  it('times allowed tunnels from their records, and latencies from the listener', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordSink(rec({ decision: 'allowed', bytesUp: 10, bytesDown: 10, durationMs: 2500 }));
    m.recordSink(
      rec({ decision: 'blocked', reason: 'host_not_allowed', bytesUp: null, bytesDown: null, durationMs: 1 }),
    );
    m.tunnelListener.decided(0.003);
    m.tunnelListener.helloWaited(0.02);
    m.tunnelListener.helloWaited(0.2);
    const text = await m.text();
    expect(value(text, 'acr_egress_tunnel_duration_seconds_count')).toBe(1);
    expect(value(text, 'acr_egress_tunnel_duration_seconds_sum')).toBe(2.5);
    expect(value(text, 'acr_egress_tunnel_duration_seconds_bucket{le="5"}')).toBe(1);
    expect(value(text, 'acr_egress_tunnel_duration_seconds_bucket{le="1"}')).toBe(0);
    expect(value(text, 'acr_egress_decision_duration_seconds_count')).toBe(1);
    expect(value(text, 'acr_egress_decision_duration_seconds_bucket{le="0.005"}')).toBe(1);
    expect(value(text, 'acr_egress_client_hello_wait_seconds_count')).toBe(2);
    expect(value(text, 'acr_egress_client_hello_wait_seconds_bucket{le="0.025"}')).toBe(1);
  });

  it.each([
    {
      name: 'data loaded and fresh',
      status: tagsStatus({ changeNumber: 321, lastSuccessAt: '2026-01-01T00:00:10.000Z', failures: 3 }),
      expected: { change: 321, success: Date.parse('2026-01-01T00:00:10.000Z') / 1000, failures: 3, stale: 0 },
    },
    {
      name: 'stale data from a cache (no refresh yet)',
      status: tagsStatus({ stale: true, lastSuccessAt: null, loadedAt: '2026-01-01T00:00:00.000Z' }),
      expected: { change: 42, success: Date.parse('2026-01-01T00:00:00.000Z') / 1000, failures: 0, stale: 1 },
    },
    {
      name: 'no data',
      status: tagsStatus({ changeNumber: null, lastSuccessAt: null, loadedAt: null, stale: true, failures: 2 }),
      expected: { change: 0, success: 0, failures: 2, stale: 1 },
    },
  ])('reads the service-tag status at scrape time: $name', async ({ status, expected }) => {
    const text = await createMetrics({ defaultMetrics: false, tags: () => status }).text();
    expect(value(text, 'acr_egress_service_tags_change_number')).toBe(expected.change);
    expect(value(text, 'acr_egress_service_tags_last_success_timestamp_seconds')).toBe(expected.success);
    expect(value(text, 'acr_egress_service_tags_refresh_failures_total')).toBe(expected.failures);
    expect(value(text, 'acr_egress_service_tags_stale')).toBe(expected.stale);
  });

  it('does not fail a scrape when the status source throws', async () => {
    const text = await createMetrics({
      defaultMetrics: false,
      tags: () => {
        throw new Error('broken');
      },
    }).text();
    expect(value(text, 'acr_egress_service_tags_stale')).toBe(1);
  });

  it('keeps the DNS cache counters monotonic when a reload replaces the resolver', async () => {
    let now = { hits: 5, misses: 2 };
    const m = createMetrics({ defaultMetrics: false, dns: () => now });
    let text = await m.text();
    expect(value(text, 'acr_egress_dns_cache_hits_total')).toBe(5);
    expect(value(text, 'acr_egress_dns_cache_misses_total')).toBe(2);
    now = { hits: 8, misses: 2 };
    text = await m.text();
    expect(value(text, 'acr_egress_dns_cache_hits_total')).toBe(8);
    now = { hits: 1, misses: 1 }; // a new resolver starts from zero
    text = await m.text();
    expect(value(text, 'acr_egress_dns_cache_hits_total')).toBe(9);
    expect(value(text, 'acr_egress_dns_cache_misses_total')).toBe(3);
  });

  it('reports acr_egress_build_info{version} = 1 with the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const text = await createMetrics({ defaultMetrics: false }).text();
    expect(value(text, `acr_egress_build_info{version="${version}"}`)).toBe(1);
  });

  it('includes the default process metrics unless turned off', async () => {
    expect(await createMetrics().text()).toContain('process_cpu_user_seconds_total');
    expect(await createMetrics({ defaultMetrics: false }).text()).not.toContain('process_cpu_user_seconds_total');
  });
});
