// Policy: the compiled rules and a "would this be allowed?" box backed by POST /api/v1/check, which
// answers the full decision record the gateway would write.
import { useEffect, useState } from 'preact/hooks';
import { api, type Rec } from '../api';
import { ErrorBox, Section } from '../components';
import { text } from '../format';
import type { Static } from '@sinclair/typebox';
import type { PolicySchema } from '../../../src/admin/schemas.js';

/** The compiled policy, as the server types it. */
export type Policy = Static<typeof PolicySchema>;

export function PolicyView() {
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<Policy>('/api/v1/policy').then(setPolicy, setError);
  }, []);
  return (
    <>
      <CheckBox />
      <Section title="Rules">
        <ErrorBox error={error} />
        {policy !== null && (
          <>
            <p class="muted">
              config {policy.configVersion} · mode {policy.mode} · service tags enforce {String(policy.enforce)} · ports{' '}
              {policy.ports.join(', ')} · clients {policy.clients.length === 0 ? 'anyone' : policy.clients.join(', ')}
            </p>
            <div class="table-wrap">
              <table class="records">
                <thead>
                  <tr>
                    <th>rule</th>
                    <th>kind</th>
                    <th>pattern</th>
                    <th>service tags</th>
                  </tr>
                </thead>
                <tbody>
                  {policy.rules.map((r) => (
                    <tr key={r.id}>
                      <td class="mono">{r.id}</td>
                      <td>{r.kind}</td>
                      <td class="mono">{r.pattern}</td>
                      <td class="mono">
                        {r.tags.map((t) => (t.regions ? `${t.base} (${t.regions.join(', ')})` : t.base)).join(', ')}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </Section>
    </>
  );
}

function CheckBox() {
  const [form, setForm] = useState({ host: '', port: '443', sni: '', ip: '', client: '' });
  const [answer, setAnswer] = useState<Rec | null>(null);
  const [error, setError] = useState<unknown>(null);
  const set = (key: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setAnswer(null);
    const body: Record<string, unknown> = { host: form.host.trim(), port: Number(form.port) || 443 };
    for (const k of ['sni', 'ip', 'client'] as const) if (form[k].trim() !== '') body[k] = form[k].trim();
    try {
      setAnswer(await api<Rec>('/api/v1/check', body));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Section title="Would this be allowed?">
      <form class="filters" aria-label="check" onSubmit={(e) => void submit(e)}>
        <label>
          host
          <input name="host" required value={form.host} onInput={set('host')} placeholder="myregistry.azurecr.io" />
        </label>
        <label>
          port
          <input name="port" type="number" min="1" max="65535" value={form.port} onInput={set('port')} />
        </label>
        <label>
          SNI
          <input name="sni" value={form.sni} onInput={set('sni')} placeholder="as the host when empty" />
        </label>
        <label>
          address
          <input name="ip" value={form.ip} onInput={set('ip')} placeholder="checks private and service-tag ranges" />
        </label>
        <label>
          client
          <input name="client" value={form.client} onInput={set('client')} placeholder="not checked when empty" />
        </label>
        <button type="submit">Check</button>
      </form>
      <ErrorBox error={error} />
      {answer !== null && (
        <div class="verdict" data-decision={text(answer.decision)}>
          <p>
            <span class={`badge ${answer.decision === 'blocked' ? 'bad' : 'good'}`}>{text(answer.decision)}</span>{' '}
            {answer.decision === 'blocked' ? (
              <span class="reason">{text(answer.reason)}</span>
            ) : (
              <span class="rule">{text(answer.rule)}</span>
            )}
            {typeof answer.detail === 'string' && <span class="muted"> — {answer.detail}</span>}
          </p>
          <pre class="mono">{JSON.stringify(answer, null, 2)}</pre>
        </div>
      )}
    </Section>
  );
}
