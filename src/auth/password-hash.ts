// The hashes a users file line may hold: our scrypt lines (`scrypt$N$r$p$salt$key`, written by
// `acr-egress users add`) and htpasswd bcrypt lines (`$2y$`, `$2b$`, `$2a$`, from `htpasswd -B`).
// Every other format is refused: {SHA}, MD5 ($apr1$) and crypt are too weak to keep a password.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { bcryptHash } from './bcrypt-worker.js';

const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

// scrypt needs 128 * N * r bytes; Node's default maxmem (32 MiB) is just enough for N=16384 r=8,
// so files written with a larger N still verify, up to the bounds readHash() accepts.
const MAX_MEM = 256 * 1024 * 1024;
const LIMITS = { minLogN: 10, maxLogN: 20, maxR: 32, maxP: 16, minSalt: 8, maxSalt: 64, minKey: 16, maxKey: 64 };
/** htpasswd -B writes cost 5 by default; each step doubles a check's CPU, 14 is about a second. */
const BCRYPT_COST = { min: 4, max: 14 };
const BCRYPT = /^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/;

export type PasswordHash =
  | {
      readonly kind: 'scrypt';
      readonly N: number;
      readonly r: number;
      readonly p: number;
      readonly salt: Buffer;
      readonly key: Buffer;
    }
  | { readonly kind: 'bcrypt'; readonly hash: string };

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

/** A scrypt hash no password matches: what an unknown name is checked against, at the same cost. */
export function dummyHash(): PasswordHash {
  const { N, r, p, saltBytes, keyBytes } = SCRYPT_DEFAULTS;
  return { kind: 'scrypt', N, r, p, salt: randomBytes(saltBytes), key: randomBytes(keyBytes) };
}

/** True when password matches; the comparison takes the same time wherever the bytes differ. */
export async function matches(hash: PasswordHash, password: string): Promise<boolean> {
  if (hash.kind === 'bcrypt') {
    const made = await bcryptHash(password, hash.hash.slice(0, 29));
    return (
      made !== null && made.length === hash.hash.length && timingSafeEqual(Buffer.from(made), Buffer.from(hash.hash))
    );
  }
  const key = await derive(password, hash.salt, hash.key.length, { N: hash.N, r: hash.r, p: hash.p });
  return timingSafeEqual(key, hash.key);
}

/** Strict base64: it must re-encode to the same text, so no stray characters slip through. */
function base64(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return bytes.length > 0 && bytes.toString('base64') === text ? bytes : null;
}

function int(text: string): number {
  return /^[1-9][0-9]{0,7}$/.test(text) ? Number(text) : -1;
}

const WEAK: [RegExp, string][] = [
  [/^\{SHA\}/, '{SHA} (unsalted SHA-1)'],
  [/^\{SSHA\}/, '{SSHA} (salted SHA-1)'],
  [/^\$apr1\$/, 'MD5 ($apr1$)'],
  [/^\$1\$/, 'MD5-crypt ($1$)'],
  [/^\$[56]\$/, 'SHA-crypt ($5$/$6$)'],
];

/** The hash, or what is wrong with it; the text of the hash itself never goes into the answer. */
export function readHash(text: string): PasswordHash | string {
  if (text.startsWith('$2')) return readBcrypt(text);
  if (text.startsWith('scrypt$')) return readScrypt(text);
  const weak = WEAK.find(([re]) => re.test(text));
  const what = weak === undefined ? 'not a supported hash (crypt or a plain password?)' : `${weak[1]}, too weak`;
  return `${what}: use a bcrypt line (htpasswd -B) or scrypt (acr-egress users add)`;
}

function readBcrypt(text: string): PasswordHash | string {
  const m = BCRYPT.exec(text);
  if (m === null) return 'the hash is not bcrypt $2y$/$2b$/$2a$ with a cost and 53 characters of salt and hash';
  const cost = Number(m[1]);
  if (cost < BCRYPT_COST.min || cost > BCRYPT_COST.max)
    return `bcrypt cost must be ${BCRYPT_COST.min} to ${BCRYPT_COST.max} (htpasswd -B -C ${BCRYPT_COST.min}..${BCRYPT_COST.max})`;
  return { kind: 'bcrypt', hash: text };
}

function readScrypt(text: string): PasswordHash | string {
  const parts = text.split('$');
  if (parts.length !== 6) return 'the hash is not scrypt$N$r$p$salt$key';
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
  return { kind: 'scrypt', N, r, p, salt, key };
}
