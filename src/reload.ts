// Reload as prepare, then commit (as Envoy warms a new listener before it drains the old): each
// component checks the new config and builds what it will switch to without touching what runs, and
// may refuse; only when every one has agreed does any of them switch, so a refusal changes nothing.
import { isAcrEgressError } from './errors.js';

/** What a component will switch to; commit() only assigns what prepare built, so it cannot fail. */
export interface Prepared {
  commit(): void;
}

export interface ReloadStep {
  /** Prefixes its problems: `inspect: ...`. */
  readonly name: string;
  /** Throws to refuse the new config; must not change anything in use. */
  prepare(): Prepared | Promise<Prepared>;
}

export type Preparation = { ok: true; commit(): void } | { ok: false; problems: string[] };

/** Prepares the steps in order; the first refusal stops it, and nothing prepared is committed. */
export async function prepareAll(steps: readonly ReloadStep[]): Promise<Preparation> {
  const prepared: Prepared[] = [];
  for (const step of steps) {
    try {
      prepared.push(await step.prepare());
    } catch (err) {
      const messages = isAcrEgressError(err) ? [err.message, ...err.details] : [String((err as Error)?.message ?? err)];
      return { ok: false, problems: messages.map((m) => `${step.name}: ${m}`) };
    }
  }
  return {
    ok: true,
    commit: () => {
      for (const p of prepared) p.commit();
    },
  };
}
