// The store's Prometheus metrics, read from its writer at scrape time: queued, written and dropped
// records and whether writes succeed.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { WriterState } from './writer.js';

/** Counters that follow a running total read at scrape time (prom-client counters only go up by inc). */
function followingCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = Math.max(seen, now);
    },
  });
}

export function registerStoreMetrics(registry: Registry, backend: string, state: () => WriterState | null): void {
  const s = (): WriterState | null => state();
  followingCounter(
    registry,
    'acr_egress_store_dropped_total',
    'Records the store never got because its queue was full (the audit log has them)',
    () => s()?.dropped ?? 0,
  );
  followingCounter(registry, 'acr_egress_store_written_total', 'Records written to the store', () => s()?.written ?? 0);
  new Gauge({
    name: 'acr_egress_store_queued',
    help: 'Records waiting to be written to the store',
    registers: [registry],
    collect() {
      this.set(s()?.queued ?? 0);
    },
  });
  new Gauge({
    name: 'acr_egress_store_up',
    help: 'Whether the last store write succeeded (1) or failed (0), by back end',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect() {
      this.set({ backend }, s()?.healthy === false ? 0 : 1);
    },
  });
}
