// Proxy authentication (proxy.auth.usersFile): checks a Proxy-Authorization: Basic value against the
// users file (which remembers verified credentials, so a chain of tunnels pays the hash once).
import { parseProxyAuthorization } from '../auth/proxy-authorization.js';
import type { Attempt, ProxyUsers } from '../auth/users-file.js';
import type { AuthResult, ProxyAuthenticator } from './context.js';

const REFUSED: Record<Exclude<Attempt, 'ok'>, string> = {
  wrong: 'unknown user or wrong password',
  busy: 'too many password checks waiting from this client',
  throttled: 'too many failed logins from this client lately',
};

export class ProxyAuth implements ProxyAuthenticator {
  readonly #users: Pick<ProxyUsers, 'attempt'>;

  /** A reload builds a new ProxyAuth, so a removed user or changed password stops working at once. */
  constructor(users: Pick<ProxyUsers, 'attempt'>) {
    this.#users = users;
  }

  /** `client` (the address checks and records use) is charged for the password check's work. */
  async check(header: string | undefined, client: string | null): Promise<AuthResult> {
    if (header === undefined) return { ok: false, detail: 'no Proxy-Authorization header' };
    const creds = parseProxyAuthorization(header);
    if (creds === null) return { ok: false, detail: 'Proxy-Authorization is not Basic credentials' };
    const attempt = await this.#users.attempt(creds.user, creds.password, client);
    if (attempt !== 'ok') return { ok: false, detail: REFUSED[attempt] };
    return { ok: true, user: creds.user };
  }
}
