// History: a time-range query over the store with every filter the API takes, paged with nextCursor.
import { useState } from 'preact/hooks';
import { api, query, type Rec } from '../api';
import { DecisionReasonSelects, ErrorBox, RecordDetail, RecordTable, Section } from '../components';
import { decisionMatches, type Filters } from '../filters';
import { REASON_CODES } from '../../../src/policy/reasons.js';

const FIELDS = [
  'since',
  'until',
  'host',
  'client',
  'rule',
  'kind',
  'repository',
  'digest',
  'user',
  'instance',
] as const;
type Field = (typeof FIELDS)[number];
type Form = Record<Field, string> & { decision: string; reason: string; limit: string };

const INITIAL: Form = {
  since: '1h',
  until: '',
  host: '',
  client: '',
  rule: '',
  kind: '',
  repository: '',
  digest: '',
  user: '',
  instance: '',
  decision: '',
  reason: '',
  limit: '100',
};

export function History() {
  const [form, setForm] = useState<Form>(INITIAL);
  const [items, setItems] = useState<Rec[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [asked, setAsked] = useState<Form | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [selected, setSelected] = useState<Rec | null>(null);

  const load = async (f: Form, from: string | null): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      // The API knows allowed and blocked; policy blocks and failures are told apart in the page.
      const split = f.decision === 'policy' || f.decision === 'failed';
      const page = await api<{ items: Rec[]; nextCursor: string | null }>(
        `/api/v1/logs${query({ ...f, decision: split ? 'blocked' : f.decision, cursor: from })}`,
      );
      const kept = page.items.filter((r) => decisionMatches(r, f.decision as Filters['decision']));
      setItems((old) => (from === null ? kept : [...old, ...kept]));
      setCursor(page.nextCursor);
      setAsked(f);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const set = (key: keyof Form) => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });

  return (
    <Section title="History">
      <form
        class="filters"
        aria-label="history query"
        onSubmit={(e) => {
          e.preventDefault();
          void load(form, null);
        }}
      >
        {FIELDS.map((k) => (
          <label key={k}>
            {k}
            <input
              name={k}
              value={form[k]}
              onInput={set(k)}
              placeholder={k === 'since' || k === 'until' ? '2h, 7d or an ISO time' : ''}
            />
          </label>
        ))}
        <DecisionReasonSelects
          decision={form.decision}
          reason={form.reason}
          reasons={REASON_CODES}
          onDecision={set('decision')}
          onReason={set('reason')}
        />
        <label>
          page size
          <input name="limit" type="number" min="1" max="1000" value={form.limit} onInput={set('limit')} />
        </label>
        <button type="submit" disabled={busy}>
          Search
        </button>
      </form>
      <ErrorBox error={error} />
      {asked !== null && (
        <p class="muted">
          {items.length} records{cursor !== null ? ', more available' : ', all shown'}
        </p>
      )}
      <div class="split">
        <RecordTable
          records={items}
          selected={selected?.id ?? null}
          onSelect={setSelected}
          empty={asked === null ? 'Choose a range and search.' : 'No records match.'}
        />
        <RecordDetail rec={selected} onClose={() => setSelected(null)} />
      </div>
      {cursor !== null && asked !== null && (
        <button type="button" disabled={busy} onClick={() => void load(asked, cursor)}>
          Older records
        </button>
      )}
    </Section>
  );
}
