// Secrets the config refers to: tokens that must not be example values, and files holding a token or
// user:password, read at every load (so a reload picks up a rolled secret). Never logged.
import { readFileSync } from 'node:fs';

/**
 * Tokens printed in this repository's examples, docs and manifests (a test finds every such value in
 * the tree and checks it is listed here or caught by EXAMPLE_WORDS). A copied example is a known token.
 */
export const EXAMPLE_TOKENS: readonly string[] = ['REPLACE-ME-with-a-random-token-of-32-or-more-characters'];

/** Words that mark a placeholder, whatever surrounds them. */
const EXAMPLE_WORDS = /replace[-_ ]?me|change[-_ ]?me|placeholder|example|your[-_ ]?token/i;

function isExampleToken(token: string): boolean {
  return EXAMPLE_TOKENS.includes(token) || EXAMPLE_WORDS.test(token);
}

/** The problem with an admin token, or null when it is usable. */
export function tokenProblem(token: string): string | null {
  if (token.length < 16) return 'must be at least 16 characters';
  if (isExampleToken(token))
    return 'is an example value from the acr-egress docs or manifests; generate your own (openssl rand -hex 32)';
  return null;
}

export type SecretRead = { ok: true; value: string } | { ok: false; problem: string };

/** The trimmed content of a secret file; the problem names the file, never its content. */
export function readSecretFile(path: string): SecretRead {
  try {
    return { ok: true, value: readFileSync(path, 'utf8').trim() };
  } catch (err) {
    return {
      ok: false,
      problem: `cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    };
  }
}
