// The fuzz harness: a target is an input codec, invariants every input must keep, and fast-check
// properties. A run replays the target's corpus first, then runs each property within a time budget.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

const CORPUS_ROOT = join(dirname(fileURLToPath(import.meta.url)), 'corpus');

/** One generated case: the bytes (or text) fed to the target, plus what the generator knows about them. */
export interface FuzzProperty<I> {
  readonly name: string;
  readonly cases: fc.Arbitrary<I>;
  /** Extra checks for generated cases (round trips); the target's invariants always run too. Throws on a breach. */
  expect?(input: I): void | Promise<void>;
}

export interface FuzzTarget<I> {
  readonly name: string;
  /** Corpus files are `<sha>.<ext>`, read back with decode. */
  readonly ext: string;
  encode(input: I): Buffer;
  decode(file: Buffer): I;
  /** What must hold for every input whatever its origin; throws an Error naming the breach. */
  invariants(input: I): void | Promise<void>;
  /** Invariants or expectations return promises (a reader driven by events): runs use fc.asyncProperty. */
  readonly async?: boolean;
  readonly properties: ReadonlyArray<FuzzProperty<I>>;
}

export interface PropertyResult {
  readonly target: string;
  readonly property: string;
  readonly runs: number;
  readonly ms: number;
  readonly failure: string | null;
  /** Corpus file written for the counterexample, when the run records failures. */
  readonly saved: string | null;
}

export interface RunOptions {
  /** Time budget of each property in ms. */
  readonly msPerProperty: number;
  /** Upper bound of runs per property, whatever time is left. */
  readonly maxRuns: number;
  readonly seed?: number;
  /** Write each counterexample into fuzz/corpus/<target>/ (npm run fuzz does; the test run does not). */
  readonly record: boolean;
}

/** The invariants, then the property's own checks; the sync form serves targets without `async`. */
function checkOne<I>(target: FuzzTarget<I>, property: FuzzProperty<I> | null, input: I): void {
  void target.invariants(input);
  void property?.expect?.(input);
}

async function checkOneAsync<I>(target: FuzzTarget<I>, property: FuzzProperty<I> | null, input: I): Promise<void> {
  await target.invariants(input);
  await property?.expect?.(input);
}

function corpusFiles(target: FuzzTarget<unknown>): string[] {
  const dir = join(CORPUS_ROOT, target.name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(`.${target.ext}`))
    .sort()
    .map((f) => join(dir, f));
}

/** Replays every corpus input; each one that breaks an invariant is a failure. */
export async function replayCorpus<I>(target: FuzzTarget<I>): Promise<PropertyResult> {
  const started = performance.now();
  const failures: string[] = [];
  const files = corpusFiles(target);
  for (const file of files) {
    try {
      await checkOneAsync(target, null, target.decode(readFileSync(file)));
    } catch (err) {
      failures.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return {
    target: target.name,
    property: 'corpus replay',
    runs: files.length,
    ms: performance.now() - started,
    failure: failures.length > 0 ? failures.join('\n') : null,
    saved: null,
  };
}

/** Saves a failing input where every later run replays it; returns the file. */
function saveToCorpus<I>(target: FuzzTarget<I>, input: I): string {
  const bytes = target.encode(input);
  const dir = join(CORPUS_ROOT, target.name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.${target.ext}`);
  writeFileSync(file, bytes);
  return file;
}

export async function runProperty<I>(
  target: FuzzTarget<I>,
  property: FuzzProperty<I>,
  options: RunOptions,
): Promise<PropertyResult> {
  const started = performance.now();
  let runs = 0;
  const parameters = {
    numRuns: options.maxRuns,
    seed: options.seed,
    // Shrinking shares the budget: a long shrink still ends, with the smallest case found so far.
    interruptAfterTimeLimit: options.msPerProperty,
    markInterruptAsFailure: false,
  };
  const details = target.async
    ? await fc.check(
        fc.asyncProperty(property.cases, async (input) => {
          runs++;
          await checkOneAsync(target, property, input);
        }),
        parameters,
      )
    : fc.check(
        fc.property(property.cases, (input) => {
          runs++;
          checkOne(target, property, input);
        }),
        parameters,
      );
  let failure: string | null = null;
  let saved: string | null = null;
  if (details.failed && details.counterexample !== null) {
    const [input] = details.counterexample;
    const reason =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    failure = `${reason}\n  input: ${describeInput(target.encode(input))}\n  seed ${details.seed}, path ${details.counterexamplePath}`;
    if (options.record) saved = saveToCorpus(target, input);
  }
  return { target: target.name, property: property.name, runs, ms: performance.now() - started, failure, saved };
}

function describeInput(bytes: Buffer): string {
  const shown = bytes.subarray(0, 300);
  return `${bytes.length} bytes, hex ${shown.toString('hex')}${bytes.length > shown.length ? '...' : ''}`;
}

/** Runs the corpus, then every property; stops nothing on failure so one run reports them all. */
export async function runTarget<I>(target: FuzzTarget<I>, options: RunOptions): Promise<PropertyResult[]> {
  const results = [await replayCorpus(target)];
  for (const p of target.properties) results.push(await runProperty(target, p, options));
  return results;
}

/** Throws an Error carrying `message` when `ok` is false; the invariants read as a list of these. */
export function must(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}
