// The cross-process fill lock: an exclusive marker file (O_EXCL create) per digest holding the
// writer's pid, host, token and (once known) size. Its mtime is a heartbeat the writer refreshes;
// a marker not refreshed within staleMs, or whose writer on this host is gone, may be taken over.
// File-system only, so replicas sharing cache.dir on Azure Files or NFS coordinate without a protocol.
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { markerPath, partPath } from './layout.js';

export interface MarkerBody {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly size: number | null;
}

export interface MarkerState {
  readonly body: MarkerBody;
  readonly stale: boolean;
}

const HOST = hostname();

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isCode(err, 'EPERM');
  }
}

function parse(text: string): MarkerBody | null {
  try {
    const v = JSON.parse(text) as Partial<MarkerBody>;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string' || typeof v.token !== 'string') return null;
    return { pid: v.pid, host: v.host, token: v.token, size: typeof v.size === 'number' ? v.size : null };
  } catch {
    return null;
  }
}

/** The marker of a digest, or null when no fill is in progress. */
export async function readMarker(dir: string, hex: string, staleMs: number): Promise<MarkerState | null> {
  const path = markerPath(dir, hex);
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const body = parse(text);
    // A marker being rewritten (size update) can be read empty for an instant: not stale unless old.
    const old = Date.now() - st.mtimeMs > staleMs;
    if (body === null) return { body: { pid: 0, host: '', token: '', size: null }, stale: old };
    return { body, stale: old || (body.host === HOST && !alive(body.pid)) };
  } catch (err) {
    if (isCode(err, 'ENOENT')) return null;
    throw err;
  }
}

/** A marker this process holds: refreshes its heartbeat until released. */
export class FillMarker {
  readonly token = randomBytes(8).toString('hex');
  readonly #dir: string;
  readonly #hex: string;
  #timer: NodeJS.Timeout;

  private constructor(dir: string, hex: string, staleMs: number) {
    this.#dir = dir;
    this.#hex = hex;
    const path = markerPath(dir, hex);
    this.#timer = setInterval(
      () => {
        const now = new Date();
        utimes(path, now, now).catch(() => undefined);
      },
      Math.max(100, Math.floor(staleMs / 3)),
    );
    this.#timer.unref();
  }

  get part(): string {
    return partPath(this.#dir, this.#hex, this.token);
  }

  /**
   * Takes the marker for a digest, or answers null when a live writer holds it. A stale marker is
   * renamed aside first; if another process took it over meanwhile, the fresh one is put back.
   */
  static async claim(dir: string, hex: string, staleMs: number): Promise<FillMarker | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const m = new FillMarker(dir, hex, staleMs);
      try {
        const fh = await open(markerPath(dir, hex), 'wx');
        try {
          await fh.writeFile(JSON.stringify(m.#body(null)));
        } finally {
          await fh.close();
        }
        return m;
      } catch (err) {
        clearInterval(m.#timer);
        if (!isCode(err, 'EEXIST')) throw err;
      }
      const held = await readMarker(dir, hex, staleMs);
      if (held !== null && !held.stale) return null;
      if (held !== null) await takeOver(dir, hex, held.body.token);
    }
    return null;
  }

  #body(size: number | null): MarkerBody {
    return { pid: process.pid, host: HOST, token: this.token, size };
  }

  /** Publishes the size once the upstream answer states it, so readers can answer with Content-Length. */
  async setSize(size: number): Promise<void> {
    const path = markerPath(this.#dir, this.#hex);
    const tmp = `${path}.${this.token}.tmp`;
    await writeFile(tmp, JSON.stringify(this.#body(size)));
    await rename(tmp, path);
  }

  /** Whether the marker on disk is still this one (a writer presumed dead has lost it). */
  async held(): Promise<boolean> {
    try {
      return parse(await readFile(markerPath(this.#dir, this.#hex), 'utf8'))?.token === this.token;
    } catch {
      return false;
    }
  }

  async release(): Promise<void> {
    clearInterval(this.#timer);
    if (await this.held()) await unlink(markerPath(this.#dir, this.#hex)).catch(() => undefined);
  }
}

async function takeOver(dir: string, hex: string, staleToken: string): Promise<void> {
  const path = markerPath(dir, hex);
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch {
    return; // another process moved it first
  }
  const moved = parse(await readFile(aside, 'utf8').catch(() => ''));
  if (moved !== null && moved.token !== staleToken) {
    // We moved a fresh marker another process had just created: put it back unless a third took the slot.
    await link(aside, path).catch(() => undefined);
  } else {
    await unlink(partPath(dir, hex, staleToken)).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}
