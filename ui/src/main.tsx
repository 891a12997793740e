// The dashboard shell: signs in (or finds the API open on loopback), then shows one view at a time,
// chosen by the URL's hash so views can be bookmarked (the token never goes in the URL).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, session } from './api';
import { CacheView } from './views/cache';
import { Charts } from './views/charts';
import { Health } from './views/health';
import { History } from './views/history';
import { Live } from './views/live';
import { Login } from './views/login';
import { PolicyView } from './views/policy';
import { Pulls } from './views/pulls';
import { Reload } from './views/reload';
import { Tags } from './views/tags';

const VIEWS = {
  live: { label: 'Live', view: Live },
  history: { label: 'History', view: History },
  charts: { label: 'Charts', view: Charts },
  health: { label: 'Health', view: Health },
  pulls: { label: 'Image pulls', view: Pulls },
  cache: { label: 'Cache', view: CacheView },
  tags: { label: 'Service tags', view: Tags },
  policy: { label: 'Policy', view: PolicyView },
  reload: { label: 'Reload', view: Reload },
} as const;
type ViewName = keyof typeof VIEWS;

const viewFromHash = (): ViewName => {
  const name = location.hash.replace(/^#\/?/, '');
  return Object.hasOwn(VIEWS, name) ? (name as ViewName) : 'live';
};

/** Any authenticated route proves the token (or an open loopback API); the service-tag status is small. */
const probe = (): Promise<unknown> => api('/api/v1/service-tags');

type Auth = { state: 'checking' } | { state: 'in' } | { state: 'out'; refusal: ApiError | null };

function App() {
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });
  const [view, setView] = useState<ViewName>(viewFromHash());

  useEffect(() => {
    const onHash = (): void => setView(viewFromHash());
    addEventListener('hashchange', onHash);
    // A 401 before any token was given is the normal first state: the login card prompts, not alarms.
    const refusal = (err: unknown): ApiError | null =>
      err instanceof ApiError && session.token() !== null ? err : null;
    const off = session.onUnauthorized((err) => setAuth({ state: 'out', refusal: refusal(err) }));
    probe().then(
      () => setAuth({ state: 'in' }),
      (err: unknown) => setAuth({ state: 'out', refusal: refusal(err) }),
    );
    return () => {
      removeEventListener('hashchange', onHash);
      off();
    };
  }, []);

  const signIn = async (token: string): Promise<void> => {
    const before = session.token();
    session.set(token);
    try {
      await probe();
      setAuth({ state: 'in' });
    } catch (err) {
      session.set(before);
      throw err;
    }
  };
  const signOut = (): void => {
    session.set(null);
    setAuth({ state: 'out', refusal: null });
  };

  const View = VIEWS[view].view;
  return (
    <>
      <header class="top">
        <h1>acr-egress</h1>
        {auth.state === 'in' && (
          <nav>
            {(Object.keys(VIEWS) as ViewName[]).map((name) => (
              <a key={name} href={`#/${name}`} class={name === view ? 'current' : ''}>
                {VIEWS[name].label}
              </a>
            ))}
          </nav>
        )}
        {auth.state === 'in' && session.token() !== null && (
          <button type="button" class="signout" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <main>
        {auth.state === 'checking' && <p class="muted">Connecting to the admin API…</p>}
        {auth.state === 'out' && <Login refusal={auth.refusal} onToken={signIn} />}
        {auth.state === 'in' && <View key={view} />}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(<App />, root);
}
