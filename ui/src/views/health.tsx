// Health: readiness, the service-tag data's freshness, the decision store, and the last hour's
// blocks, on one screen: "is the gateway healthy?"
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { Bars, ErrorBox, Section } from '../components';
import { age, text, time, until } from '../format';
import { NoTagData } from '../tag-notice';
import type { Static } from '@sinclair/typebox';
import type { StatsSchema, StoreStateSchema } from '../../../src/admin/schemas.js';
import type { TagsStatus } from '../../../src/service-tags/types.js';

interface Ready {
  status: string;
  reasons: string[];
}

async function readiness(): Promise<Ready> {
  const res = await fetch('/readyz', { cache: 'no-store', credentials: 'omit' });
  return (await res.json()) as Ready;
}

type StoreState = Static<typeof StoreStateSchema>;
type Stats = Static<typeof StatsSchema>;

const BACKENDS: Record<string, string> = {
  memory: 'in memory (recent records only; nothing survives a restart)',
  embedded: 'embedded database on disk',
  postgres: 'PostgreSQL',
};

/** The decision store in words: what it is, whether writes work, what it holds. */
function storeWords(s: StoreState): string[] {
  const words = [
    `${BACKENDS[s.backend] ?? s.backend}, ${s.healthy ? 'writing normally' : 'WRITES FAILING: records are queued'}`,
  ];
  // The memory store holds records rather than writing them: its counts say nothing new.
  if (s.backend !== 'memory' || s.queued > 0 || s.dropped > 0)
    words.push(
      `${s.written} records written${s.queued > 0 ? `, ${s.queued} waiting (at most ${s.queueMax})` : ''}${s.dropped > 0 ? `, ${s.dropped} dropped` : ''}`,
    );
  if (s.records !== null)
    words.push(
      `holds ${s.records} records${s.oldest !== null ? ` from ${time(s.oldest)}` : ''}${s.newest !== null ? ` to ${time(s.newest)}` : ''}`,
    );
  if (s.backend !== 'memory') words.push(`keeps ${s.retentionDays} days`);
  if (s.lastWriteAt !== null) words.push(`last write ${until(s.lastWriteAt)}`);
  if (s.lastError !== null)
    words.push(`last error: ${s.lastError}${s.lastErrorAt !== null ? ` (${time(s.lastErrorAt)})` : ''}`);
  if (s.gaps.length > 0) words.push(`${s.gaps.length} gap(s) where records were lost`);
  return words;
}

export function Health() {
  const [ready, setReady] = useState<Ready | null>(null);
  const [tags, setTags] = useState<TagsStatus | null>(null);
  const [enforce, setEnforce] = useState<boolean | string | null>(null);
  const [store, setStore] = useState<StoreState | null | 'absent'>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    readiness().then(setReady, setError);
    api<TagsStatus>('/api/v1/service-tags').then(setTags, setError);
    api<{ enforce: boolean | string }>('/api/v1/policy').then((p) => setEnforce(p.enforce), setError);
    api<Stats>('/api/v1/stats?since=1h').then(setStats, setError);
    api<StoreState>('/api/v1/store').then(setStore, (err: unknown) =>
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
            {tags !== null && tags.changeNumber === null && (
              <>
                <span class="badge bad">no data</span>
                <NoTagData status={tags} enforce={enforce} />
              </>
            )}
            {tags !== null && tags.changeNumber !== null && (
              <>
                <span class={`badge ${tags.stale ? 'bad' : 'good'}`}>{tags.stale ? 'stale' : 'fresh'}</span> change{' '}
                {tags.changeNumber}, {age(tags.ageSeconds)} old
                {tags.missing.length > 0 && (
                  <span class="bad"> · missing: {tags.missing.map((m) => `${m.tag} (${m.rule})`).join(', ')}</span>
                )}
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
          <dd class="store">
            {store === 'absent' ? (
              'in memory (this gateway has no /api/v1/store)'
            ) : store === null ? (
              ''
            ) : (
              <ul class="plain">
                {storeWords(store).map((w, i) => (
                  <li key={i}>{w}</li>
                ))}
              </ul>
            )}
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
