// What a tunnel connection and a plain-HTTP request share once admitted: one decision record, written
// once through the one record builder, and the per-client slot, given back exactly once.
import type { Recorder } from '../audit/recorder.js';
import type { Decision } from '../policy/decide.js';
import type { Admittee } from './admit.js';
import { recordOf, type ConnectionContext } from './context.js';

export abstract class Admitted implements Admittee {
  readonly ctx: ConnectionContext;
  readonly #recorder: Recorder;
  #release: (() => void) | null = null;
  #recorded = false;

  constructor(recorder: Recorder, ctx: ConnectionContext) {
    this.#recorder = recorder;
    this.ctx = ctx;
  }

  /** Something to give back when the connection or request ends (its per-client slot); one at a time. */
  hold(release: () => void): void {
    this.#release = release;
  }

  /** Writes the decision record, once, with the bytes it carried. */
  record(decision: Decision, bytesUp: number | null = null, bytesDown: number | null = null): void {
    if (this.#recorded) return;
    this.#recorded = true;
    this.ctx.decision = decision;
    this.#recorder.record(recordOf(this.ctx, { decision, bytesUp, bytesDown }));
  }

  /** Gives the per-client slot back, exactly once. */
  protected releaseSlot(): void {
    const release = this.#release;
    this.#release = null;
    release?.();
  }
}
