// Health: readiness, the service-tag data's freshness, the decision store, and the last hour's
// blocks, on one screen: "is the gateway healthy?"
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { Bars, ErrorBox, Section } from '../components';
import { age, text, time } from '../format';

interface Ready {
  status: string;
  reasons: string[];
}

async function readiness(): Promise<Ready> {
  const res = await fetch('/readyz', { cache: 'no-store', credentials: 'omit' });
  return (await res.json()) as Ready;
}

export function Health() {
  const [ready, setReady] = useState<Ready | null>(null);
  const [tags, setTags] = useState<{
    stale: boolean;
    ageSeconds: number | null;
    lastError: string | null;
    changeNumber: number | null;
  } | null>(null);
  const [store, setStore] = useState<Record<string, unknown> | null | 'absent'>(null);
  const [stats, setStats] = useState<{
    records: number;
    decisions: { allowed: number; blocked: number };
    reasons: Record<string, number>;
  } | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    readiness().then(setReady, setError);
    api<typeof tags>('/api/v1/service-tags').then(setTags, setError);
    api<typeof stats>('/api/v1/stats?since=1h').then(setStats, setError);
    api<Record<string, unknown>>('/api/v1/store').then(setStore, (err: unknown) =>
      err instanceof ApiError && err.status === 404 ? setStore('absent') : setError(err),
    );
  }, []);
  return (
    <>
      <Section title="Health">
        <ErrorBox error={error} />
        <dl class="facts">
          <dt>readiness</dt>
          <dd>
            {ready !== null && (
              <span class={`badge ${ready.status === 'ready' ? 'good' : 'bad'}`}>{text(ready.status)}</span>
            )}{' '}
            {ready?.reasons.join('; ')}
          </dd>
          <dt>service tags</dt>
          <dd>
            {tags !== null && (
              <>
                <span class={`badge ${tags.stale ? 'bad' : 'good'}`}>{tags.stale ? 'stale' : 'fresh'}</span> change{' '}
                {text(tags.changeNumber ?? 'none')}, {age(tags.ageSeconds)} old
                {tags.lastError !== null && <span class="bad"> · last refresh failed: {tags.lastError}</span>}
              </>
            )}
          </dd>
          <dt>last hour</dt>
          <dd>
            {stats !== null &&
              `${stats.records} decisions: ${stats.decisions.allowed} allowed, ${stats.decisions.blocked} blocked`}
          </dd>
          <dt>decision store</dt>
          <dd class="mono">
            {store === 'absent'
              ? 'in memory (this gateway has no /api/v1/store)'
              : store === null
                ? ''
                : Object.entries(store)
                    .map(([k, v]) => `${k}: ${k.endsWith('At') ? time(v) : text(v)}`)
                    .join(' · ')}
          </dd>
        </dl>
      </Section>
      <Section title="Blocked in the last hour, by reason">
        <Bars
          rows={Object.entries(stats?.reasons ?? {})
            .sort((a, b) => b[1] - a[1])
            .map(([label, value]) => ({ label, value }))}
          empty="Nothing blocked in the last hour."
        />
      </Section>
    </>
  );
}
