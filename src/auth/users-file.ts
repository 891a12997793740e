// The proxy users file (proxy.auth.usersFile): `name:hash` per line (scrypt or htpasswd bcrypt, see
// password-hash.ts), `#` comments. Checks hash off the event loop, fairly per client address, compare
// in constant time, remember successes briefly and refuse an address that keeps failing.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LRUCache } from 'lru-cache';
import { AcrEgressError } from '../errors.js';
import { clientKey } from './client-key.js';
import { FailedLogins } from './failed-logins.js';
import { FairQueue } from './fair-queue.js';
import { dummyHash, matches, readHash, type PasswordHash } from './password-hash.js';

/** Names show up in records, logs and metric labels, so they keep to a safe alphabet. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

/** A successful check is remembered this long: every CONNECT carries the header, scrypt is ~50 ms. */
const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 4096;
/** A refusal is remembered briefly, so a client retrying a wrong password costs one hash a minute. */
const REFUSED_TTL_MS = 60_000;
/**
 * scrypt runs on libuv's thread pool (4 threads, shared with DNS and file I/O) and takes 16 MiB each
 * at the default cost: two run at once. One address may keep 8 checks waiting, everyone 1,024.
 */
const QUEUE = { running: 2, perClient: 8, total: 1024 } as const;
/** 10 failures within a minute (of the last one) and an address's new checks are refused unhashed. */
const FAILURES = { failures: 10, windowMs: 60_000, clients: 10_000 } as const;

/**
 * How a check ended: `ok`; `wrong` (unknown user or wrong password); `busy` (this client already has
 * too many checks waiting); `throttled` (this client failed too often lately, nothing was hashed).
 */
export type Attempt = 'ok' | 'wrong' | 'busy' | 'throttled';

/** One user's line: the name and what kind of hash it holds (never the hash). */
interface UserEntry {
  readonly name: string;
  readonly kind: PasswordHash['kind'];
  readonly line: number;
}

/** One verification's outcome per distinct credentials; a reload builds a new instance, cache and all. */
export class ProxyUsers {
  readonly #users: ReadonlyMap<string, PasswordHash>;
  // What an unknown name is checked against, so it costs the same scrypt as a known one.
  readonly #dummy = dummyHash();
  readonly #cacheKey = randomBytes(32);
  readonly #verified = new LRUCache<string, true>({ max: CACHE_MAX, ttl: CACHE_TTL_MS });
  readonly #refused = new LRUCache<string, true>({ max: CACHE_MAX, ttl: REFUSED_TTL_MS });
  readonly #queue = new FairQueue(QUEUE);
  readonly #failures = new FailedLogins(FAILURES);
  // Concurrent CONNECTs with the same credentials share one hash run.
  readonly #inFlight = new Map<string, Promise<boolean>>();
  readonly size: number;
  /** The users in file order, for `acr-egress users list`. */
  readonly entries: readonly UserEntry[];

  private constructor(users: Map<string, PasswordHash>, entries: UserEntry[]) {
    this.#users = users;
    this.size = users.size;
    this.entries = entries;
  }

  /** Reads and parses the file; AcrEgressError (CONFIG_UNREADABLE / CONFIG_INVALID) when it cannot. */
  static load(file: string): ProxyUsers {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new AcrEgressError('CONFIG_UNREADABLE', `${file}: the users file cannot be read (${why})`, { cause: err });
    }
    return ProxyUsers.parse(text, file);
  }

  /** Every bad line is reported as `source:line: problem`, never with the line's content. */
  static parse(text: string, source: string): ProxyUsers {
    const users = new Map<string, PasswordHash>();
    const entries: UserEntry[] = [];
    const problems: string[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.replace(/\r$/, '').trim();
      if (line === '' || line.startsWith('#')) continue;
      const at = `${source}:${i + 1}`;
      const colon = line.indexOf(':');
      if (colon < 0) {
        problems.push(`${at}: expected name:hash`);
        continue;
      }
      const name = line.slice(0, colon);
      if (!USER_NAME.test(name)) {
        problems.push(`${at}: the user name must be 1-64 of letters, digits and . _ @ + - (starting alnum)`);
        continue;
      }
      if (users.has(name)) {
        problems.push(`${at}: user ${name} appears more than once`);
        continue;
      }
      const hash = readHash(line.slice(colon + 1));
      if (typeof hash === 'string') {
        problems.push(`${at}: user ${name}: ${hash}`);
        continue;
      }
      users.set(name, hash);
      entries.push({ name, kind: hash.kind, line: i + 1 });
    }
    if (problems.length === 1) throw new AcrEgressError('CONFIG_INVALID', problems[0]);
    if (problems.length > 1)
      throw new AcrEgressError('CONFIG_INVALID', `${source}: ${problems.length} invalid lines`, { details: problems });
    return new ProxyUsers(users, entries);
  }

  /** True when the password is the user's; `client` is charged for the work (see attempt). */
  async verify(user: string, password: string, client: string | null = null): Promise<boolean> {
    return (await this.attempt(user, password, client)) === 'ok';
  }

  /**
   * Checks the password, with the hashing charged to the client's address: its checks wait in its
   * own queue, and an address that failed too often is refused without hashing, while credentials
   * already verified keep working from anywhere. Never rejects: a hashing failure is a refusal.
   */
  attempt(user: string, password: string, client: string | null): Promise<Attempt> {
    // Length-prefixed so that no two (user, password) pairs feed the HMAC the same bytes.
    const key = createHmac('sha256', this.#cacheKey)
      .update(`${Buffer.byteLength(user)}:${user}`)
      .update(password)
      .digest('base64');
    if (this.#verified.has(key)) return Promise.resolve('ok');
    if (this.#refused.has(key)) return Promise.resolve('wrong');
    const who = clientKey(client);
    if (this.#failures.blocked(who)) return Promise.resolve('throttled');
    let run = this.#inFlight.get(key);
    if (run === undefined) {
      const queued = this.#queue.run(who, () => this.#check(user, password));
      if (queued === null) return Promise.resolve('busy');
      run = queued.then((ok) => {
        this.#inFlight.delete(key);
        (ok ? this.#verified : this.#refused).set(key, true);
        if (!ok) this.#failures.failed(who);
        return ok;
      });
      this.#inFlight.set(key, run);
    }
    return run.then((ok) => (ok ? 'ok' : 'wrong'));
  }

  async #check(user: string, password: string): Promise<boolean> {
    const known = this.#users.get(user);
    try {
      return (await matches(known ?? this.#dummy, password)) && known !== undefined;
    } catch {
      return false;
    }
  }
}
