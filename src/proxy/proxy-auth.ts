// Proxy authentication (proxy.auth.usersFile): checks a Proxy-Authorization: Basic value against the
// users file (which remembers verified credentials, so a chain of tunnels pays scrypt once).
import { parseProxyAuthorization } from '../auth/proxy-authorization.js';
import type { ProxyUsers } from '../auth/users-file.js';
import type { AuthResult, ProxyAuthenticator } from './context.js';

export class ProxyAuth implements ProxyAuthenticator {
  readonly #users: Pick<ProxyUsers, 'verify'>;

  /** A reload builds a new ProxyAuth, so a removed user or changed password stops working at once. */
  constructor(users: Pick<ProxyUsers, 'verify'>) {
    this.#users = users;
  }

  async check(header: string | undefined): Promise<AuthResult> {
    if (header === undefined) return { ok: false, detail: 'no Proxy-Authorization header' };
    const creds = parseProxyAuthorization(header);
    if (creds === null) return { ok: false, detail: 'Proxy-Authorization is not Basic credentials' };
    if (!(await this.#users.verify(creds.user, creds.password)))
      return { ok: false, detail: 'unknown user or wrong password' };
    return { ok: true, user: creds.user };
  }
}
