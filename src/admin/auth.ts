// Bearer-token checks for the admin API: constant-time over every configured token, answering with
// the matching token's name (which may be logged) and never the token itself.
import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthResult =
  { ok: true; name: string } | { ok: false; problem: 'missing' | 'malformed' | 'wrong' | 'unconfigured' };

/** The comparison in use: an object, so a test can watch timingSafeEqual being the one that runs. */
export const comparison = { equal: timingSafeEqual };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Digests per token map: a config (and so its map) is immutable, so these are computed once. */
const digests = new WeakMap<ReadonlyMap<string, string>, [string, Buffer][]>();

function digestsOf(tokens: ReadonlyMap<string, string>): [string, Buffer][] {
  let list = digests.get(tokens);
  if (list === undefined) {
    list = [...tokens].map(([name, token]) => [name, digest(token)]);
    digests.set(tokens, list);
  }
  return list;
}

/**
 * Whether two strings are equal, in time independent of where they differ: both sides are hashed
 * first, so timingSafeEqual always compares 32 bytes whatever the lengths.
 */
export function safeEqual(a: string, b: string): boolean {
  return comparison.equal(digest(a), digest(b));
}

/** The token in `Authorization: Bearer <token>`; null when the header is something else. */
export function bearerToken(header: string | undefined): string | null | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
  return m ? m[1] : null;
}

/** Checks a request's Authorization header against every token (no early exit on a match). */
export function authenticate(header: string | undefined, tokens: ReadonlyMap<string, string>): AuthResult {
  if (tokens.size === 0) return { ok: false, problem: 'unconfigured' };
  const token = bearerToken(header);
  if (token === undefined) return { ok: false, problem: 'missing' };
  if (token === null) return { ok: false, problem: 'malformed' };
  const presented = digest(token);
  let match: string | null = null;
  for (const [name, expected] of digestsOf(tokens)) {
    if (comparison.equal(presented, expected) && match === null) match = name;
  }
  return match === null ? { ok: false, problem: 'wrong' } : { ok: true, name: match };
}

export const AUTH_MESSAGES: Record<Exclude<AuthResult, { ok: true }>['problem'], string> = {
  missing: 'this route needs an Authorization: Bearer <token> header',
  malformed: 'the Authorization header is not "Bearer <token>"',
  wrong: 'the bearer token is not valid',
  unconfigured:
    'no admin token is configured (admin.token, admin.tokenFile or admin.tokens) and this listener is not loopback-only',
};
