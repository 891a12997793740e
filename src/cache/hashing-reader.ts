// Serves a blob file while hashing it, whole or a byte range. The last chunk is held back until the
// SHA-256 of the whole file is checked, so a corrupted file never reaches a client as a complete body:
// the stream errors instead. Also reads a file that is still growing (a fill in progress) when given
// a way to wait for more.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

export interface ByteRange {
  readonly start: number;
  /** Inclusive, as in a Range header. */
  readonly end: number;
}

export interface HashingReaderOptions {
  readonly file: FileHandle;
  readonly hex: string;
  readonly size: number;
  readonly range: ByteRange | null;
  /**
   * Called at a premature end of file with the position read to and the bytes wanted from there:
   * resolves true when more bytes may now be there (a fill in progress of this process answers once
   * that many have landed, or it ended, not at every write).
   */
  readonly waitForMore: (position: number, wanted: number) => Promise<boolean>;
  /** Called once with the outcome: 'ok', 'mismatch' (wrong hash or length) or 'failed' (I/O, abandoned). */
  readonly onEnd: (outcome: 'ok' | 'mismatch' | 'failed') => void;
}

class MismatchError extends Error {
  readonly code = 'CACHE_DIGEST_MISMATCH';
}

const CHUNK = 256 * 1024;
/** Chunks in flight at once with backpressure: the one held back, the one being written, one read ahead. */
const SPARES = 4;

export class HashingReader extends Readable {
  readonly #o: HashingReaderOptions;
  readonly #hash = createHash('sha256');
  #pos = 0;
  #held: Buffer | null = null;
  #ended = false;
  /** Read buffers given back by the consumer (release()), and which memory is this reader's own. */
  readonly #spare: Buffer[] = [];
  readonly #own = new WeakSet<ArrayBufferLike>();

  constructor(options: HashingReaderOptions) {
    super({ highWaterMark: CHUNK });
    this.#o = options;
  }

  override _read(): void {
    this.#next().catch((err: Error) => this.#fail(err, 'failed'));
  }

  async #next(): Promise<void> {
    const { file, size, range } = this.#o;
    for (;;) {
      if (this.#pos >= size) return this.#finish();
      // A whole chunk per push, waiting for a growing file to have it: reading a fill in progress as
      // it came (a sliver per write of the filler) cost a read, a hash update and a TLS record each.
      const buf = this.#buffer();
      const want = Math.min(CHUNK, size - this.#pos);
      let bytesRead = 0;
      while (bytesRead < want) {
        const r = await file.read(buf, bytesRead, want - bytesRead, this.#pos + bytesRead);
        if (r.bytesRead > 0) bytesRead += r.bytesRead;
        else if (!(await this.#o.waitForMore(this.#pos + bytesRead, want - bytesRead))) break;
      }
      if (bytesRead === 0)
        return this.#fail(new MismatchError(`file ended at ${this.#pos} of ${size} bytes`), 'mismatch');
      const data = buf.subarray(0, bytesRead);
      this.#hash.update(data);
      const from = this.#pos;
      this.#pos += bytesRead;
      const lo = range === null ? 0 : Math.max(0, range.start - from);
      const hi = range === null ? bytesRead : Math.min(bytesRead, range.end + 1 - from);
      if (hi <= lo) continue; // outside the range: hashed, not sent
      const out = data.subarray(lo, hi);
      const previous = this.#held;
      this.#held = out;
      if (previous !== null) {
        this.push(previous);
        return;
      }
    }
  }

  /**
   * Gives back a chunk this reader pushed, once its consumer is wholly done with it (its write
   * called back): the next read reuses the memory. A fresh 256 KiB buffer per chunk made the
   * process's external memory grow by every byte served, and V8 answers that with full
   * mark-compact collections, whose cost grows with the gateway's heap: in a long-running gateway
   * those collections cost more than the hashing. A consumer that never releases (a plain pipe)
   * only gets fresh buffers.
   */
  release(chunk: Buffer): void {
    if (!this.#own.has(chunk.buffer) || this.#spare.length >= SPARES) return;
    const whole = Buffer.from(chunk.buffer, 0, CHUNK);
    if (!this.#spare.some((b) => b.buffer === whole.buffer)) this.#spare.push(whole);
  }

  #buffer(): Buffer {
    const spare = this.#spare.pop();
    if (spare !== undefined) return spare;
    // Its own memory (not a slice of Node's pool) so that release() can tell it is this reader's.
    const buf = Buffer.allocUnsafeSlow(CHUNK);
    this.#own.add(buf.buffer);
    return buf;
  }

  #finish(): void {
    if (this.#ended) return;
    if (this.#hash.copy().digest('hex') !== this.#o.hex) {
      this.#fail(new MismatchError('the file does not match its digest'), 'mismatch');
      return;
    }
    this.#ended = true;
    this.#o.onEnd('ok');
    if (this.#held !== null) this.push(this.#held);
    this.#held = null;
    this.push(null);
  }

  #fail(err: Error, outcome: 'mismatch' | 'failed'): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#o.onEnd(outcome);
    this.destroy(err);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.#ended) {
      this.#ended = true;
      this.#o.onEnd('failed');
    }
    this.#o.file.close().then(
      () => cb(err),
      () => cb(err),
    );
  }
}
