// Login: the admin token, kept in this tab only (memory and sessionStorage), never in a URL.
import { useState } from 'preact/hooks';
import { type ApiError } from '../api';
import { ErrorBox } from '../components';

export function Login(props: { refusal: ApiError | null; onToken: (token: string) => Promise<void> }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await props.onToken(token.trim());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card login">
      <h2>Sign in</h2>
      <p>
        The dashboard reads the gateway's admin API with an admin token (<code>admin.token</code>). The token stays in
        this browser tab.
      </p>
      {error === null && props.refusal !== null && (
        <div class="error" role="alert" data-status={props.refusal.status}>
          <strong>
            {props.refusal.status} {props.refusal.code}
          </strong>
          : {props.refusal.message}
        </div>
      )}
      {error === null && props.refusal === null && (
        <p class="prompt" role="status">
          Paste an admin token to sign in.
        </p>
      )}
      <ErrorBox error={error} />
      <form onSubmit={(e) => void submit(e)}>
        <label>
          admin token
          <input
            name="token"
            type="password"
            autocomplete="off"
            required
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </section>
  );
}
