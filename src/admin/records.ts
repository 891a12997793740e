// The store the admin routes query: the configured one, or the memory back end over the ring when
// the deps carry none (unit tests, and the default).
import type { FastifyReply } from 'fastify';
import { MemoryStore } from '../store/memory-store.js';
import type { StoreState } from '../store/service.js';
import type { Gap, RecordStore } from '../store/types.js';
import { idleWriterState } from '../store/writer.js';
import { sendError } from './answers.js';
import type { AdminDeps } from './deps.js';

export interface AdminRecords {
  store: RecordStore;
  gaps(fromMs: number | null, toMs: number | null): Promise<Gap[]>;
  state(): Promise<StoreState>;
  instance: string | null;
}

const fallback = new WeakMap<AdminDeps, AdminRecords>();

export function recordsOf(deps: AdminDeps): AdminRecords {
  if (deps.records !== undefined) return deps.records;
  let r = fallback.get(deps);
  if (r === undefined) {
    const store = new MemoryStore(deps.store);
    r = {
      store,
      gaps: async () => [],
      instance: null,
      state: async () => ({
        backend: 'memory',
        instance: '',
        retentionDays: 0,
        flushMs: 0,
        queueMax: 0,
        ...idleWriterState(),
        ...(await store.bounds()),
      }),
    };
    fallback.set(deps, r);
  }
  return r;
}

/**
 * Runs a store query; a store that fails (a database down or failing over) is answered 503
 * `unavailable`, naming the back end: the proxy and the audit log are unaffected.
 */
export async function fromStore<T>(deps: AdminDeps, reply: FastifyReply, query: () => Promise<T>): Promise<T | null> {
  try {
    return await query();
  } catch (err) {
    const backend = recordsOf(deps).store.backend;
    deps.log.warn({ err: String(err), backend }, 'store query failed');
    void sendError(
      reply,
      'unavailable',
      `the ${backend} decision store did not answer (${err instanceof Error ? err.message : String(err)}); ` +
        'the audit log has every record',
    );
    return null;
  }
}
