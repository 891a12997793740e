// The last-good cache file: written atomically (temp file in the same directory, fsync, rename) so
// a crash or a full disk leaves either the old file or the new one, never a torn one.

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, utimes, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AcrEgressError } from '../errors.js';

export async function writeFileAtomic(path: string, data: Buffer): Promise<void> {
  const dir = dirname(resolve(path));
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    await mkdir(dir, { recursive: true });
    handle = await open(tmp, 'wx', 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new AcrEgressError('SERVICE_TAGS_CACHE_WRITE_FAILED', `cannot write service-tag cache ${path}: ${reason}`, {
      cause: err,
    });
  }
  // The rename is durable only once the directory entry is; some platforms refuse to open a directory.
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* best effort */
  }
}

/** Marks the cache as confirmed current (same content downloaded again), so its age restarts. */
export async function touchFile(path: string, time: Date): Promise<void> {
  await utimes(path, time, time);
}

/**
 * Makes the cache hold body, dated dataTime: rewritten when it holds something else, only re-dated
 * when it already holds body. The mtime is the data's time, so a restart from it measures the age
 * honestly. Throws SERVICE_TAGS_CACHE_WRITE_FAILED.
 */
export async function storeCache(path: string, body: Buffer, dataTime: number, holdsBody: boolean): Promise<void> {
  if (!holdsBody) await writeFileAtomic(path, body);
  try {
    await touchFile(path, new Date(dataTime));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new AcrEgressError('SERVICE_TAGS_CACHE_WRITE_FAILED', `cannot date service-tag cache ${path}: ${reason}`, {
      cause: err,
    });
  }
}
