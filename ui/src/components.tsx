// Pieces the views share: the record table (with why, and failures apart from policy blocks), the
// full-record panel, error and empty states.
import type { ComponentChildren } from 'preact';
import { ApiError, type Rec } from './api';
import { bytes, target, text, time } from './format';
import { isFailureReason, outcomeOf } from './outcome';

/** Badge class per outcome: a failure is not a policy refusal, so it has its own colour and word. */
const BADGE = { allowed: 'good', blocked: 'bad', failed: 'warn' } as const;

/** Why a record went the way it did, for the table: the detail, else the tag that let it through. */
function why(r: Rec): string {
  if (typeof r.detail === 'string' && r.detail !== '') return r.detail;
  return typeof r.tag === 'string' && r.tag !== '' ? `in ${r.tag}` : '';
}

/**
 * Text that wraps only between words: each word is kept whole, so a host name in a detail never breaks
 * at its hyphens or dots (the text content stays exactly the text).
 */
function Words(props: { text: string }) {
  const parts = props.text.split(/(\s+)/);
  return (
    <>
      {parts.map((p, i) =>
        i % 2 === 1 ? (
          p
        ) : p === '' ? null : (
          <span key={i} class="word">
            {p}
          </span>
        ),
      )}
    </>
  );
}

/** The record time; on a phone the date part is hidden (the live view is today's records). */
function Time(props: { iso: unknown }) {
  const t = time(props.iso);
  const cut = t.indexOf(' ');
  if (cut === -1) return <>{t}</>;
  return (
    <>
      <span class="date">{t.slice(0, cut + 1)}</span>
      {t.slice(cut + 1)}
    </>
  );
}

export function RecordTable(props: {
  records: readonly Rec[];
  selected: string | null;
  onSelect: (rec: Rec) => void;
  empty: string;
}) {
  if (props.records.length === 0) return <p class="empty">{props.empty}</p>;
  // The wrapper scrolls sideways when the columns do not fit (drawer open, a phone): words never break.
  return (
    <div class="table-wrap">
      <table class="records">
        <thead>
          <tr>
            <th>time</th>
            <th>decision</th>
            <th>reason</th>
            <th class="why">why</th>
            <th>client</th>
            <th>host</th>
            <th class="optional">rule</th>
            <th class="optional">instance</th>
            <th class="num optional">bytes ↑/↓</th>
          </tr>
        </thead>
        <tbody>
          {props.records.map((r) => {
            const outcome = outcomeOf(r);
            return (
              <tr
                key={r.id}
                class={`${outcome}${props.selected === r.id ? ' selected' : ''}`}
                onClick={() => props.onSelect(r)}
                data-id={r.id}
              >
                <td class="mono nowrap">
                  <Time iso={r.time} />
                </td>
                <td>
                  <span
                    class={`badge ${BADGE[outcome]}`}
                    title={outcome === 'failed' ? 'a failure, not a policy block' : ''}
                  >
                    {outcome}
                    {r.report === true ? ' (report)' : ''}
                  </span>
                </td>
                <td class="mono nowrap">{text(r.reason)}</td>
                <td class="why">
                  <Words text={why(r)} />
                </td>
                <td class="mono nowrap">{text(r.client)}</td>
                <td class="mono host">{target(r.host, r.port)}</td>
                <td class="mono nowrap optional">{text(r.rule)}</td>
                <td class="nowrap optional">{text(r.instance)}</td>
                <td class="num optional">
                  {r.bytesUp === null && r.bytesDown === null ? '' : `${bytes(r.bytesUp)} / ${bytes(r.bytesDown)}`}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Every field of one record, as text. */
export function RecordDetail(props: { rec: Rec | null; onClose: () => void }) {
  const rec = props.rec;
  if (rec === null) return null;
  return (
    <aside class="detail" aria-label="record">
      <header>
        <h3>Record {text(rec.id)}</h3>
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </header>
      <dl>
        {Object.entries(rec).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd class="mono">{text(v)}</dd>
          </div>
        ))}
      </dl>
    </aside>
  );
}

export function ErrorBox(props: { error: unknown }) {
  if (props.error === null || props.error === undefined) return null;
  const e = props.error;
  if (e instanceof ApiError) {
    return (
      <div class="error" role="alert">
        <strong>
          {e.status} {e.code}
        </strong>
        : {e.message}
        {e.problems.length > 0 && (
          <ul class="problems">
            {e.problems.map((p, i) => (
              <li key={i}>{p}</li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return (
    <div class="error" role="alert">
      {e instanceof Error ? e.message : text(e)}
    </div>
  );
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <header>
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

/** A horizontal bar list: label, count and a bar sized by share of the largest. */
export function Bars(props: { rows: readonly { label: string; value: number; note?: string }[]; empty: string }) {
  if (props.rows.length === 0) return <p class="empty">{props.empty}</p>;
  const max = Math.max(...props.rows.map((r) => r.value), 1);
  return (
    <table class="bars">
      <tbody>
        {props.rows.map((r, i) => (
          <tr key={i}>
            <td class="mono label">{r.label}</td>
            <td class="bar">
              <span style={{ width: `${Math.max(1, (r.value / max) * 100)}%` }} />
            </td>
            <td class="num">{r.note ?? String(r.value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The decision and reason selects of the live and history filters: "" means any. */
export function DecisionReasonSelects(props: {
  decision: string;
  reason: string;
  reasons: readonly string[];
  onDecision: (e: Event) => void;
  onReason: (e: Event) => void;
}) {
  return (
    <>
      <label>
        decision
        <select name="decision" value={props.decision} onChange={props.onDecision}>
          <option value="">any</option>
          <option value="allowed">allowed</option>
          <option value="blocked">blocked or failed</option>
          <option value="policy">blocked by policy</option>
          <option value="failed">failed (not policy)</option>
        </select>
      </label>
      <label>
        reason
        <select name="reason" value={props.reason} onChange={props.onReason}>
          <option value="">any</option>
          {(['policy', 'failures'] as const).map((group) => (
            <optgroup key={group} label={group}>
              {props.reasons
                .filter((r) => isFailureReason(r) === (group === 'failures'))
                .map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
            </optgroup>
          ))}
        </select>
      </label>
    </>
  );
}
