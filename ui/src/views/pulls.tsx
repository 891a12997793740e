// Image pulls: who pulled which repository and digest, from /api/v1/pulls on a gateway that
// inspects registry traffic; an empty state where the route does not exist.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { ErrorBox, Section } from '../components';
import { text, time } from '../format';

const PREFERRED = [
  'time',
  'client',
  'user',
  'registry',
  'host',
  'repository',
  'reference',
  'digest',
  'status',
  'instance',
];

type Pull = Record<string, unknown>;

export function Pulls() {
  const [items, setItems] = useState<Pull[] | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<{ items?: Pull[] } | Pull[]>('/api/v1/pulls').then(
      (body) => setItems(Array.isArray(body) ? body : (body.items ?? [])),
      (err: unknown) => (err instanceof ApiError && err.status === 404 ? setMissing(true) : setError(err)),
    );
  }, []);
  const columns =
    items === null
      ? []
      : (() => {
          const keys = new Set(items.flatMap((p) => Object.keys(p)));
          const cols = PREFERRED.filter((k) => keys.has(k));
          return cols.length > 0 ? cols : [...keys].slice(0, 8);
        })();
  return (
    <Section title="Image pulls">
      <ErrorBox error={error} />
      {missing && (
        <p class="empty">
          This gateway does not report image pulls. They appear here once registry inspection is on (a gateway that
          answers /api/v1/pulls).
        </p>
      )}
      {items !== null && items.length === 0 && (
        <p class="empty">
          No image pulls recorded yet. Pulls appear here only for registries with <code>inspect: true</code>: the
          gateway reads those tunnels (with its own CA) and records each repository and digest pulled; other registries'
          tunnels are passed through unread.
        </p>
      )}
      {items !== null && items.length > 0 && (
        <div class="table-wrap">
          <table class="records">
            <thead>
              <tr>
                {columns.map((c) => (
                  <th key={c}>{c}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {items.map((p, i) => (
                <tr key={i}>
                  {columns.map((c) => (
                    <td key={c} class="mono">
                      {c === 'time' ? time(p[c]) : text(p[c])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
