// Passes an upstream blob body to the client while hashing it, holding the last chunk back until the
// SHA-256 matches the digest: a body that does not match never reaches the client complete.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class VerifyingPass extends Transform {
  readonly #hex: string;
  readonly #hash = createHash('sha256');
  #held: Buffer | null = null;

  constructor(hex: string) {
    super();
    this.#hex = hex;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    const previous = this.#held;
    this.#held = chunk;
    cb(null, previous ?? undefined);
  }

  override _flush(cb: TransformCallback): void {
    if (this.#hash.digest('hex') !== this.#hex) {
      cb(new Error('the upstream body does not match its digest'));
      return;
    }
    cb(null, this.#held ?? undefined);
  }
}
