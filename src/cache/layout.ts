// Where the cache keeps things under cache.dir: verified blobs by content address, and the fill
// markers and growing temp files of fills in progress (kept beside each other so a reader finds them).
import { join } from 'node:path';

const DIGEST = /^sha256:([a-f0-9]{64})$/;
export const HEX = /^[a-f0-9]{64}$/;

/** The hex of a sha256 digest, or null for anything else (other algorithms are never cached). */
export function digestHex(digest: string): string | null {
  return DIGEST.exec(digest)?.[1] ?? null;
}

export function blobDir(dir: string): string {
  return join(dir, 'blobs', 'sha256');
}

export function blobPath(dir: string, hex: string): string {
  return join(dir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

export function fillsDir(dir: string): string {
  return join(dir, 'fills');
}

/** The exclusive fill marker: whoever creates it (O_EXCL) fills the digest. */
export function markerPath(dir: string, hex: string): string {
  return join(dir, 'fills', `${hex}.fill`);
}

/** The temp file a fill writes; the token in the marker names it, so a stolen fill never renames another's. */
export function partPath(dir: string, hex: string, token: string): string {
  return join(dir, 'fills', `${hex}.${token}.part`);
}
