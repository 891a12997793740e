// Reload: re-reads the config file on the gateway; a refused config shows every problem, and the
// running one stays in force.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Section } from '../components';

export function Reload() {
  const [result, setResult] = useState<{ version: string; changed: boolean } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const reload = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      setResult(await api('/api/v1/reload', {}));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Reload the configuration">
      <p>
        Re-reads the gateway's config file (as SIGHUP does). An invalid file is refused with every problem listed, and
        the running configuration is kept.
      </p>
      <button type="button" class="primary" disabled={busy} onClick={() => void reload()}>
        Reload now
      </button>
      <ErrorBox error={error} />
      {result !== null && (
        <p class="ok" role="status">
          Reloaded: config {result.version}
          {result.changed ? ' (changed)' : ' (unchanged)'}
        </p>
      )}
    </Section>
  );
}
