// Inspection metrics read at scrape time: leaf certificates signed versus served from the cache
// (each inspected host should be signed once), and storage hosts learned from registry redirects.
import { Counter, Gauge, type Registry } from 'prom-client';

type Source = () => { leaf: { signatures: number; hits: number }; learnedHosts: number; learnedTotal: number };

/** A counter that mirrors a monotonic total kept elsewhere. */
function mirror(name: string, help: string, registers: Registry[], read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = Math.max(seen, now);
    },
  });
}

export function registerInspectMetrics(registers: Registry[], source: Source): void {
  mirror(
    'acr_egress_inspect_leaf_signatures_total',
    'Leaf certificates signed for inspected hosts',
    registers,
    () => source().leaf.signatures,
  );
  mirror(
    'acr_egress_inspect_leaf_cache_hits_total',
    'Inspected TLS handshakes served a cached leaf certificate',
    registers,
    () => source().leaf.hits,
  );
  mirror(
    'acr_egress_inspect_learned_total',
    'Storage hosts learned from registry blob redirects',
    registers,
    () => source().learnedTotal,
  );
  new Gauge({
    name: 'acr_egress_inspect_learned_hosts',
    help: 'Learned (client, storage host) entries not yet expired',
    registers,
    collect() {
      this.set(source().learnedHosts);
    },
  });
}
