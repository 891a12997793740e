// Command-line flags of `npm run bench` (bench/run.ts), with the defaults of a full run.
import { parseArgs } from 'node:util';

export interface BenchArgs {
  /** Scenario ids to run (1..6). */
  only: number[];
  /** Scenario 1: body size in bytes. */
  size: number;
  /** Scenario 1 rounds. */
  rounds: number;
  /** Scenario 2: tunnels per contender per round, concurrency, rounds. */
  tunnels: number;
  /** Scenario 2 concurrency levels, each its own set of rounds (8,64,256). */
  concurrency: number[];
  setupRounds: number;
  /** Scenario 3: idle-tunnel levels (capped by the fd limit; MAX_LEVEL = the most it allows) and rounds. */
  idle: number[];
  idleRounds: number;
  /** Scenario 4: concurrent pulls, layer size, rounds. */
  pulls: number;
  layerBytes: number;
  pullRounds: number;
  /** Scenario 7: concurrent cold pulls, layers, the image's size, warm rounds. */
  cachePulls: number;
  cacheLayers: number;
  cacheImageBytes: number;
  cacheRounds: number;
  /** Scenario 5: iterations per micro-benchmark row. */
  iterations: number;
  /** Global deadline in minutes. */
  deadlineMin: number;
  /** Run acr-egress under --cpu-prof in scenarios 1 and 2 and summarise the profiles. */
  profile: boolean;
  /** Markdown file to write (between the bench markers); null: print only. */
  out: string | null;
  /** Tiny sizes everywhere: a smoke run. */
  quick: boolean;
  /** dist/cli.js of another acr-egress build, run as the extra contender `acr-egress (before)`. */
  before: string | null;
  /** Run acr-egress from src/ through tsx and skip the build (for the smoke test). */
  fromSource: boolean;
  /** Another Node binary: acr-egress also runs under it, as the contender `acr-egress (node vNN)`. */
  node: string | null;
}

/** `--idle max`: as many tunnels as the fd limit allows. */
export const MAX_LEVEL = Number.MAX_SAFE_INTEGER;

/** "1g", "256m", "64k", "1000" -> bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text} (try 1g, 256m, 64k)`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

function list(text: string): number[] {
  return text.split(',').map((s) => {
    if (s.trim() === 'max') return MAX_LEVEL;
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: ${s}`);
    return n;
  });
}

export const USAGE = `usage: npm run bench -- [options]
  --only 1,2,3,4,5,6,7  scenarios to run (default: all; 6 = inspected pull, sized like 4; 7 = layer cache)
  --size 1g             scenario 1 body size          --rounds 5
  --tunnels 1500        scenario 2 tunnels per round  --concurrency 8,64,256  --setup-rounds 3
  --idle 1000,max       scenario 3 levels (max: the most RLIMIT_NOFILE allows)  --idle-rounds 1
  --pulls 16            scenario 4 concurrent pulls   --layer 2m  --pull-rounds 3
  --iterations 200000   scenario 5 iterations per row
  --cache-pulls 16      scenario 7 concurrent cold pulls  --cache-layers 5  --cache-image 200m
  --cache-rounds 3      scenario 7 warm pulls (each beside a pull with no WAN)
  --deadline 45         global deadline, minutes
  --node [PATH]         also run acr-egress under this Node binary; alone, the other of Node 24 and 26
                        at the version .ci/run pins (installed from the node package on first use)
  --profile             acr-egress under --cpu-prof in scenarios 1 and 2
  --out FILE            markdown to update (default docs/benchmarks.md); --no-write to print only
  --quick               tiny sizes everywhere (a smoke run)
  --before REV|DIST/cli.js  also run another acr-egress as "acr-egress (before)", to measure a change:
                        a git revision (built in a temporary worktree) or a built dist/cli.js
  --from-source         run acr-egress from src/ through tsx, no build (smoke runs only)`;

/** `--node` with no value (last, or before another flag) means the other current line. */
export const OTHER_LINE = 'other-line';

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args = argv.map((a, i) =>
    a === '--node' && (argv[i + 1] ?? '--').startsWith('--') ? `--node=${OTHER_LINE}` : a,
  );
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      only: { type: 'string' },
      size: { type: 'string' },
      rounds: { type: 'string' },
      tunnels: { type: 'string' },
      concurrency: { type: 'string' },
      'setup-rounds': { type: 'string' },
      idle: { type: 'string' },
      'idle-rounds': { type: 'string' },
      pulls: { type: 'string' },
      layer: { type: 'string' },
      'pull-rounds': { type: 'string' },
      iterations: { type: 'string' },
      'cache-pulls': { type: 'string' },
      'cache-layers': { type: 'string' },
      'cache-image': { type: 'string' },
      'cache-rounds': { type: 'string' },
      deadline: { type: 'string' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      before: { type: 'string' },
      'from-source': { type: 'boolean', default: false },
      node: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) throw new Error(USAGE);
  const quick = values.quick === true;
  const num = (v: string | undefined, full: number, small: number): number =>
    v === undefined ? (quick ? small : full) : (list(v)[0] as number);
  return {
    only: values.only === undefined ? [1, 2, 3, 4, 5, 6, 7] : list(values.only),
    size: values.size === undefined ? (quick ? 4 * 2 ** 20 : 2 ** 30) : parseSize(values.size),
    rounds: num(values.rounds, 5, 1),
    tunnels: num(values.tunnels, 1500, 20),
    concurrency: values.concurrency === undefined ? (quick ? [4] : [8, 64, 256]) : list(values.concurrency),
    setupRounds: num(values['setup-rounds'], 3, 1),
    idle: values.idle === undefined ? (quick ? [20] : [1000, MAX_LEVEL]) : list(values.idle),
    idleRounds: num(values['idle-rounds'], 1, 1),
    pulls: num(values.pulls, 16, 2),
    layerBytes: values.layer === undefined ? (quick ? 64 * 1024 : 2 * 2 ** 20) : parseSize(values.layer),
    pullRounds: num(values['pull-rounds'], 3, 1),
    iterations: num(values.iterations, 200_000, 2_000),
    cachePulls: num(values['cache-pulls'], 16, 2),
    cacheLayers: num(values['cache-layers'], 5, 2),
    cacheImageBytes:
      values['cache-image'] === undefined ? (quick ? 512 * 1024 : 200 * 2 ** 20) : parseSize(values['cache-image']),
    cacheRounds: num(values['cache-rounds'], 3, 1),
    deadlineMin: num(values.deadline, 45, 5),
    profile: values.profile === true,
    out: values['no-write'] === true ? null : (values.out ?? 'docs/benchmarks.md'),
    quick,
    before: values.before ?? null,
    fromSource: values['from-source'] === true,
    node: values.node ?? null,
  };
}
