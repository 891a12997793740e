// One fill: the upstream body written to a temp file beside the marker while hashing and counting;
// at the end the SHA-256 and length are checked, the file fsynced and renamed into place. Anything
// else (a mismatch, an abort, a write error, a lost marker) removes the temp file: only a whole,
// verified blob ever enters the cache.
import { AcrEgressError } from '../errors.js';
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import type { FillMarker } from './fill-marker.js';
import { blobPath } from './layout.js';

export type FillOutcome = 'stored' | 'mismatch' | 'failed';

export interface FillWriterOptions {
  readonly dir: string;
  readonly hex: string;
  readonly file: FileHandle;
  readonly marker: FillMarker;
  /** Called once, after the temp file is gone or renamed. */
  readonly onEnd: (outcome: FillOutcome, size: number) => void;
}

export class FillWriter extends Writable {
  readonly hex: string;
  readonly #o: FillWriterOptions;
  readonly #hash = createHash('sha256');
  #expected: number | null = null;
  #written = 0;
  #done = false;

  constructor(options: FillWriterOptions) {
    super({ highWaterMark: 1024 * 1024 });
    this.#o = options;
    this.hex = options.hex;
  }

  get written(): number {
    return this.#written;
  }

  /** The fill marker's token: readers following this fill in this process know it alive by it. */
  get token(): string {
    return this.#o.marker.token;
  }

  /** The length the upstream states (Content-Length); published to readers following the fill. */
  async expectSize(size: number): Promise<void> {
    this.#expected = size;
    await this.#o.marker.setSize(size);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#expected !== null && this.#written + chunk.length > this.#expected) {
      cb(new Error(`upstream sent more than the ${this.#expected} bytes it stated`));
      return;
    }
    this.#hash.update(chunk);
    this.#o.file.write(chunk, 0, chunk.length, this.#written).then(() => {
      this.#written += chunk.length;
      this.emit('progress', this.#written);
      cb();
    }, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#commit().then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  async #commit(): Promise<void> {
    const { dir, hex, file, marker } = this.#o;
    const ok = this.#hash.digest('hex') === hex && (this.#expected === null || this.#expected === this.#written);
    if (!ok) {
      await this.#discard('mismatch');
      throw new AcrEgressError('CACHE_FILL_FAILED', 'the upstream body does not match its digest or length');
    }
    await file.sync();
    await file.close();
    if (!(await marker.held())) {
      await this.#discard('failed');
      throw new AcrEgressError('CACHE_FILL_FAILED', 'the fill marker was taken over');
    }
    const final = blobPath(dir, hex);
    await mkdir(dirname(final), { recursive: true });
    await rename(marker.part, final);
    this.#done = true;
    await marker.release();
    this.#o.onEnd('stored', this.#written);
  }

  async #discard(outcome: FillOutcome): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#o.file.close().catch(() => undefined);
    await unlink(this.#o.marker.part).catch(() => undefined);
    await this.#o.marker.release().catch(() => undefined);
    this.#o.onEnd(outcome, this.#written);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#discard('failed').then(
      () => cb(err),
      () => cb(err),
    );
  }
}
