// The proxy users file (proxy.auth.usersFile): one `name:scrypt$N$r$p$salt$key` per line, `#` comments.
// Verification runs scrypt off the event loop, compares in constant time, and caches successes briefly.
import { createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LRUCache } from 'lru-cache';
import { AcrEgressError } from '../errors.js';

/** Names show up in records, logs and metric labels, so they keep to a safe alphabet. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

// scrypt needs 128 * N * r bytes; Node's default maxmem (32 MiB) is just enough for N=16384 r=8,
// so files written with a larger N still verify, up to the bounds read() accepts.
const MAX_MEM = 256 * 1024 * 1024;
const LIMITS = { minLogN: 10, maxLogN: 20, maxR: 32, maxP: 16, minSalt: 8, maxSalt: 64, minKey: 16, maxKey: 64 };

/** A successful check is remembered this long: every CONNECT carries the header, scrypt is ~50 ms. */
const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 4096;
/** A refusal is remembered briefly, so a client retrying a wrong password costs one scrypt a minute. */
const REFUSED_TTL_MS = 60_000;
/**
 * scrypt runs on libuv's thread pool (4 threads, shared with DNS and file I/O) and takes 16 MiB each
 * at the default cost: at most this many run at once, and a burst beyond MAX_QUEUED is refused.
 */
const MAX_RUNNING = 2;
const MAX_QUEUED = 1024;

interface Hash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

function derive(password: string, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keyBytes, { ...options, maxmem: MAX_MEM }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** The line `acr-egress users add` writes for a password: a fresh salt, the default cost. */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, saltBytes, keyBytes } = SCRYPT_DEFAULTS;
  const salt = randomBytes(saltBytes);
  const key = await derive(password, salt, keyBytes, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Strict base64: it must re-encode to the same text, so no stray characters slip through. */
function base64(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return bytes.length > 0 && bytes.toString('base64') === text ? bytes : null;
}

function int(text: string): number {
  return /^[1-9][0-9]{0,7}$/.test(text) ? Number(text) : -1;
}

/** The hash, or what is wrong with it; the text of the hash itself never goes into the answer. */
function readHash(text: string): Hash | string {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'the hash is not scrypt$N$r$p$salt$key';
  const [N, r, p] = [int(parts[1]!), int(parts[2]!), int(parts[3]!)];
  if (N < 1 << LIMITS.minLogN || N > 1 << LIMITS.maxLogN || (N & (N - 1)) !== 0)
    return `scrypt N must be a power of two from 2^${LIMITS.minLogN} to 2^${LIMITS.maxLogN}`;
  if (r < 1 || r > LIMITS.maxR) return `scrypt r must be 1 to ${LIMITS.maxR}`;
  if (p < 1 || p > LIMITS.maxP) return `scrypt p must be 1 to ${LIMITS.maxP}`;
  const salt = base64(parts[4]!);
  if (salt === null || salt.length < LIMITS.minSalt || salt.length > LIMITS.maxSalt)
    return `the salt must be base64 of ${LIMITS.minSalt} to ${LIMITS.maxSalt} bytes`;
  const key = base64(parts[5]!);
  if (key === null || key.length < LIMITS.minKey || key.length > LIMITS.maxKey)
    return `the key must be base64 of ${LIMITS.minKey} to ${LIMITS.maxKey} bytes`;
  return { N, r, p, salt, key };
}

/** One verification's outcome per distinct credentials; a reload builds a new instance, cache and all. */
export class ProxyUsers {
  readonly #users: ReadonlyMap<string, Hash>;
  // What an unknown name is checked against, so it costs the same scrypt as a known one.
  readonly #dummy: Hash;
  readonly #cacheKey = randomBytes(32);
  readonly #verified = new LRUCache<string, true>({ max: CACHE_MAX, ttl: CACHE_TTL_MS });
  readonly #refused = new LRUCache<string, true>({ max: CACHE_MAX, ttl: REFUSED_TTL_MS });
  #running = 0;
  readonly #queue: (() => void)[] = [];
  // Concurrent CONNECTs with the same credentials share one scrypt run.
  readonly #inFlight = new Map<string, Promise<boolean>>();
  readonly size: number;

  private constructor(users: Map<string, Hash>) {
    this.#users = users;
    this.size = users.size;
    const { N, r, p, saltBytes, keyBytes } = SCRYPT_DEFAULTS;
    this.#dummy = { N, r, p, salt: randomBytes(saltBytes), key: randomBytes(keyBytes) };
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
    const users = new Map<string, Hash>();
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
      if (typeof hash === 'string') problems.push(`${at}: user ${name}: ${hash}`);
      else users.set(name, hash);
    }
    if (problems.length === 1) throw new AcrEgressError('CONFIG_INVALID', problems[0]);
    if (problems.length > 1)
      throw new AcrEgressError('CONFIG_INVALID', `${source}: ${problems.length} invalid lines`, { details: problems });
    return new ProxyUsers(users);
  }

  /** True when the password is the user's. Never rejects: a scrypt failure is a refusal. */
  verify(user: string, password: string): Promise<boolean> {
    // Length-prefixed so that no two (user, password) pairs feed the HMAC the same bytes.
    const key = createHmac('sha256', this.#cacheKey)
      .update(`${Buffer.byteLength(user)}:${user}`)
      .update(password)
      .digest('base64');
    if (this.#verified.has(key)) return Promise.resolve(true);
    if (this.#refused.has(key)) return Promise.resolve(false);
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return pending;
    if (this.#queue.length >= MAX_QUEUED) return Promise.resolve(false);
    const run = this.#slot()
      .then(() => this.#check(user, password))
      .then((ok) => {
        this.#inFlight.delete(key);
        this.#release();
        (ok ? this.#verified : this.#refused).set(key, true);
        return ok;
      });
    this.#inFlight.set(key, run);
    return run;
  }

  #slot(): Promise<void> {
    if (this.#running < MAX_RUNNING) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  /** Hands the slot straight to the next waiter, or frees it. */
  #release(): void {
    const next = this.#queue.shift();
    if (next !== undefined) next();
    else this.#running--;
  }

  async #check(user: string, password: string): Promise<boolean> {
    const known = this.#users.get(user);
    const hash = known ?? this.#dummy;
    try {
      const key = await derive(password, hash.salt, hash.key.length, { N: hash.N, r: hash.r, p: hash.p });
      return timingSafeEqual(key, hash.key) && known !== undefined;
    } catch {
      return false;
    }
  }
}
