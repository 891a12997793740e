// Live decisions: the latest records, then every new one from the stream; filters narrow what is
// shown, pause holds new records back until resume, a click shows the whole record.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, follow, type Rec, type StreamState } from '../api';
import { DecisionReasonSelects, ErrorBox, RecordDetail, RecordTable, Section } from '../components';
import { matches, NO_FILTERS, type Filters } from '../filters';
import { REASON_CODES } from '../../../src/policy/reasons.js';

const KEEP = 1000;

export function Live() {
  const [records, setRecords] = useState<Rec[]>([]);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState(0);
  const [state, setState] = useState<{ s: StreamState; detail?: string }>({ s: 'connecting' });
  const [selected, setSelected] = useState<Rec | null>(null);
  const [error, setError] = useState<unknown>(null);
  const pausedRef = useRef(false);
  const pending = useRef<Rec[]>([]);
  const seen = useRef(new Set<string>());

  const add = (incoming: Rec[]): void => {
    const fresh = incoming.filter((r) => !seen.current.has(r.id));
    if (fresh.length === 0) return;
    for (const r of fresh) seen.current.add(r.id);
    setRecords((old) => {
      const next = [...fresh.reverse(), ...old].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      for (const dropped of next.slice(KEEP)) seen.current.delete(dropped.id);
      return next.slice(0, KEEP);
    });
  };

  useEffect(() => {
    const abort = new AbortController();
    let newest: string | null = null;
    api<{ items: Rec[] }>('/api/v1/logs?limit=100')
      .then((page) => {
        newest = page.items[0]?.id ?? null;
        add([...page.items].reverse());
      }, setError)
      .finally(() => {
        if (abort.signal.aborted) return;
        void follow(
          (rec) => {
            if (pausedRef.current) {
              pending.current.push(rec);
              setHeld(pending.current.length);
            } else add([rec]);
          },
          (s, detail) => setState({ s, detail }),
          abort.signal,
          newest,
        );
      });
    return () => abort.abort();
  }, []);

  const togglePause = (): void => {
    pausedRef.current = !pausedRef.current;
    setPaused(pausedRef.current);
    if (!pausedRef.current) {
      add(pending.current);
      pending.current = [];
      setHeld(0);
    }
  };

  const shown = useMemo(() => records.filter((r) => matches(r, filters)), [records, filters]);
  const reasons = useMemo(() => {
    const all = new Set<string>(REASON_CODES);
    for (const r of records) if (typeof r.reason === 'string') all.add(r.reason);
    return [...all].sort();
  }, [records]);
  const set = (key: keyof Filters) => (e: Event) =>
    setFilters({ ...filters, [key]: (e.currentTarget as HTMLInputElement).value });

  return (
    <Section
      title="Live decisions"
      actions={
        <div class="actions">
          <span class={`stream ${state.s}`} title={state.detail ?? ''}>
            stream: {state.s}
            {state.s === 'refused' && state.detail ? ` (${state.detail})` : ''}
          </span>
          <button type="button" onClick={togglePause} aria-pressed={paused}>
            {paused ? `Resume (${held} new)` : 'Pause'}
          </button>
        </div>
      }
    >
      <ErrorBox error={error} />
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="filters">
        <DecisionReasonSelects
          decision={filters.decision}
          reason={filters.reason}
          reasons={reasons}
          onDecision={set('decision')}
          onReason={set('reason')}
        />
        <label>
          host
          <input name="host" value={filters.host} onInput={set('host')} placeholder="text or *.suffix" />
        </label>
        <label>
          client
          <input name="client" value={filters.client} onInput={set('client')} />
        </label>
        <label>
          rule
          <input name="rule" value={filters.rule} onInput={set('rule')} />
        </label>
        <label>
          instance
          <input name="instance" value={filters.instance} onInput={set('instance')} />
        </label>
        <button type="button" onClick={() => setFilters(NO_FILTERS)}>
          Clear
        </button>
      </form>
      <p class="muted">
        {shown.length} of {records.length} records shown (the newest {KEEP} are kept in the page)
      </p>
      <div class="split">
        <RecordTable
          records={shown}
          selected={selected?.id ?? null}
          onSelect={setSelected}
          empty="No records match yet."
        />
        <RecordDetail rec={selected} onClose={() => setSelected(null)} />
      </div>
    </Section>
  );
}
