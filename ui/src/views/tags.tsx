// Service tags: which data the gateway enforces with, how old it is, when it refreshes next, the last
// error, and the tags each rule uses (with their prefix counts).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Section } from '../components';
import { age, text, time, until } from '../format';
import type { Policy } from './policy';
import { NoTagData } from '../tag-notice';
import type { TagsStatus } from '../../../src/service-tags/types.js';

export function Tags() {
  const [status, setStatus] = useState<TagsStatus | null>(null);
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    Promise.all([api<TagsStatus>('/api/v1/service-tags'), api<Policy>('/api/v1/policy')]).then(([s, p]) => {
      setStatus(s);
      setPolicy(p);
    }, setError);
  }, []);
  const refresh = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      setStatus(await api<TagsStatus>('/api/v1/service-tags/refresh', {}));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  // The data's own date: publishedAt where the gateway reports it, else when the file was written.
  const published =
    status?.publishedAt ??
    (status?.ageSeconds != null ? new Date(Date.now() - status.ageSeconds * 1000).toISOString() : null);
  return (
    <>
      <Section
        title="Service tags"
        actions={
          <button type="button" disabled={busy} onClick={() => void refresh()}>
            Refresh now
          </button>
        }
      >
        <ErrorBox error={error} />
        {status !== null && <NoTagData status={status} enforce={policy?.enforce ?? null} />}
        {status !== null && (
          <dl class="facts">
            <dt>change number</dt>
            <dd>{text(status.changeNumber ?? 'none loaded')}</dd>
            <dt>cloud</dt>
            <dd>{text(status.cloud)}</dd>
            <dt>{status.publishedAt ? 'published' : 'data dated'}</dt>
            <dd>{published === null ? '' : time(published)}</dd>
            <dt>age</dt>
            <dd>
              {age(status.ageSeconds)}
              {status.ageFrom !== null && <span class="muted"> (from the {status.ageFrom})</span>}
            </dd>
            <dt>freshness</dt>
            <dd>
              {status.changeNumber === null ? (
                <span class="badge bad">no data</span>
              ) : (
                <span class={`badge ${status.stale ? 'bad' : 'good'}`}>{status.stale ? 'stale' : 'fresh'}</span>
              )}
            </dd>
            <dt>loaded</dt>
            <dd>{time(status.loadedAt)}</dd>
            <dt>last success</dt>
            <dd>{time(status.lastSuccessAt)}</dd>
            <dt>next refresh</dt>
            <dd>
              {time(status.nextRefreshAt)} {until(status.nextRefreshAt)}
            </dd>
            <dt>last error</dt>
            <dd class={status.lastError ? 'bad' : ''}>
              {status.lastError === null ? 'none' : `${text(status.lastError)} (${time(status.lastErrorAt)})`}
            </dd>
            <dt>failures</dt>
            <dd>
              {status.failures} ({status.consecutiveFailures} in a row)
            </dd>
            <dt>source</dt>
            <dd class="mono">{text(status.source)}</dd>
          </dl>
        )}
      </Section>
      <Section title="Tags per rule">
        {policy !== null && (
          <div class="table-wrap">
            <table class="records">
              <thead>
                <tr>
                  <th>rule</th>
                  <th>tags in use (prefixes)</th>
                  <th>missing in the data</th>
                </tr>
              </thead>
              <tbody>
                {policy.rules.map((r) => (
                  <tr key={r.id}>
                    <td class="mono">{r.id}</td>
                    <td class="mono">
                      {r.resolvedTags.map((t) => `${t} (${status?.tags[t] ?? '?'})`).join(', ') || 'none'}
                    </td>
                    <td class="mono bad">{r.missingTags.join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </>
  );
}
