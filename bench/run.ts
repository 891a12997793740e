// `npm run bench`: builds acr-egress, runs the five scenarios against Squid, a minimal Node pipe and a
// direct connection within a global deadline, and writes the tables into docs/benchmarks.md.
// Every process it starts is stopped by PID; all traffic stays on 127.0.0.0/8.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { OTHER_LINE, parseBenchArgs, USAGE, type BenchArgs } from './lib/args.js';
import { buildRev, isGitRev, type BeforeBuild } from './lib/before-rev.js';
import type { BenchContext } from './lib/context.js';
import { hardNofile, killAll } from './lib/proc.js';
import { profileMarkdown, summariseProfileDir } from './lib/profile.js';
import { otherNode } from './lib/node-line.js';
import { renderReport, updateDoc } from './lib/report.js';
import { skippedResult, type ScenarioResult } from './lib/result.js';
import { SQUID_BIN } from './lib/squid.js';
import { GATEWAY_CLI, ROOT, setAltNode, type TargetName } from './lib/targets.js';
import { startBenchUpstream, type BenchUpstream } from './lib/upstream.js';
import { runIdleTunnels } from './scenarios/idle-tunnels.js';
import { runInspectedPull } from './scenarios/inspected-pull.js';
import { runLayerCache } from './scenarios/layer-cache.js';
import { runManyPulls } from './scenarios/many-pulls.js';
import { runPolicy } from './scenarios/policy.js';
import { runSetupRate } from './scenarios/setup-rate.js';
import { runThroughput } from './scenarios/throughput.js';

const TITLES: Record<number, string> = {
  1: 'Bulk throughput',
  2: 'Tunnel setup rate',
  3: 'Concurrent idle tunnels',
  4: 'Many pulls',
  5: 'Policy micro-benchmarks',
  6: 'Inspected pull',
  7: 'Layer cache',
};

function toolVersion(cmd: string, args: string[], pattern: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return pattern.exec(out)?.[1] ?? 'unknown';
  } catch {
    return 'missing';
  }
}

function runScenario(id: number, args: BenchArgs, ctx: BenchContext): Promise<ScenarioResult> {
  switch (id) {
    case 1:
      return runThroughput(ctx, { bytes: args.size, rounds: args.rounds });
    case 2:
      return runSetupRate(ctx, { tunnels: args.tunnels, levels: args.concurrency, rounds: args.setupRounds });
    case 3:
      return runIdleTunnels(ctx, { levels: args.idle, rounds: args.idleRounds });
    case 4:
      return runManyPulls(ctx, { pulls: args.pulls, layerBytes: args.layerBytes, rounds: args.pullRounds });
    case 5:
      return runPolicy(ctx, { iterations: args.iterations, quick: args.quick });
    case 6:
      return runInspectedPull(ctx, { pulls: args.pulls, layerBytes: args.layerBytes, rounds: args.pullRounds });
    case 7:
      return runLayerCache(ctx, {
        pulls: args.cachePulls,
        layers: args.cacheLayers,
        imageBytes: args.cacheImageBytes,
        warmRounds: args.cacheRounds,
      });
    default:
      throw new Error(`no scenario ${id} (1..7)`);
  }
}

async function main(argv: string[]): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(argv);
  } catch (err) {
    console.error((err as Error).message === USAGE ? USAGE : `${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const startedAt = new Date();
  const deadline = startedAt.getTime() + args.deadlineMin * 60_000;
  // The last resort: a scenario that ignores the deadline gets its processes killed a minute later.
  const hard = setTimeout(
    () => {
      console.error(`bench: ${args.deadlineMin} min deadline passed by a minute; killing every child and exiting`);
      killAll();
      process.exit(3);
    },
    deadline - Date.now() + 60_000,
  );
  hard.unref();

  const versions: Record<string, string> = {
    Node: process.version,
    Squid: toolVersion(SQUID_BIN, ['-v'], /Version (\S+)/),
    curl: toolVersion('curl', ['--version'], /^curl (\S+)/),
    skopeo: toolVersion('skopeo', ['--version'], /version (\S+)/),
  };
  if (args.node === OTHER_LINE) args.node = otherNode(ROOT);
  if (args.node !== null) {
    const v = toolVersion(args.node, ['--version'], /^v?(\S+)/);
    if (v === 'missing') {
      console.error(`bench: --node ${args.node} does not run`);
      return 2;
    }
    setAltNode(args.node, v);
    versions[`second Node (--node)`] = `v${v}`;
  }
  const needsProxies = args.only.some((id) => id <= 4 || id >= 6);
  if (needsProxies) {
    for (const [tool, v] of Object.entries({ Squid: versions.Squid, curl: versions.curl })) {
      if (v === 'missing') {
        console.error(`bench: ${tool} is not installed (apt-get install -y squid curl)`);
        return 2;
      }
    }
  }
  if (needsProxies && !args.fromSource) {
    console.error('bench: building acr-egress (tsc -p tsconfig.build.json)');
    try {
      execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], {
        cwd: ROOT,
        stdio: 'inherit',
      });
    } catch {
      // tsc still emits JavaScript when only types are wrong; a missing CLI is what stops the bench.
      if (!existsSync(GATEWAY_CLI)) {
        console.error('bench: the build failed and there is no dist/cli.js');
        return 2;
      }
      console.error('bench: the build reported type errors (above); benchmarking the JavaScript it emitted');
    }
  }

  let beforeBuild: BeforeBuild | null = null;
  let beforeCli = args.before === null ? null : isAbsolute(args.before) ? args.before : resolve(args.before);
  if (args.before !== null && isGitRev(ROOT, args.before)) {
    try {
      beforeBuild = buildRev(ROOT, args.before, (m) => console.error(`bench: ${m}`));
      beforeCli = beforeBuild.cli;
    } catch (err) {
      console.error(`bench: --before ${args.before}: ${(err as Error).message}`);
      return 2;
    }
  }
  if (beforeBuild !== null) versions['before (--before)'] = args.before ?? '';

  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-bench-'));
  chmodSync(dir, 0o755); // Squid drops to its own user and must reach its files under here
  const nofile = hardNofile();
  const contenders: TargetName[] = [
    'acr-egress',
    ...(args.before ? (['before'] as const) : []),
    ...(args.node ? (['alt-node'] as const) : []),
    'squid',
    'node-pipe',
    'direct',
  ];
  let upstream: BenchUpstream | null = null;
  const results: ScenarioResult[] = [];
  const profileDir = args.profile ? join(dir, 'profiles') : null;
  try {
    if (args.only.some((id) => id <= 3)) upstream = await startBenchUpstream(dir, nofile);
    const ctx: BenchContext = {
      dir,
      upstream: upstream as BenchUpstream,
      nofile,
      deadline,
      profileDir,
      contenders,
      beforeCli,
      fromSource: args.fromSource,
      log: (m) => console.error(`bench: ${m}`),
    };
    for (const id of [...new Set(args.only)].sort((a, b) => a - b)) {
      const title = TITLES[id] ?? `scenario ${id}`;
      if (Date.now() > deadline) {
        results.push(skippedResult(id, title, `the ${args.deadlineMin} min deadline was reached first`));
        continue;
      }
      console.error(`bench: scenario ${id}: ${title}`);
      const t0 = Date.now();
      try {
        results.push(await runScenario(id, args, ctx));
        console.error(`bench: scenario ${id} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        console.error(`bench: scenario ${id} failed: ${(err as Error).stack ?? String(err)}`);
        results.push(skippedResult(id, title, `failed: ${(err as Error).message.split('\n')[0]}`));
      }
    }
  } finally {
    await upstream?.stop();
    killAll();
    beforeBuild?.remove();
  }

  const extra: string[] = [];
  if (profileDir !== null) {
    for (const [sub, title] of [
      ['throughput', 'CPU profile of acr-egress during scenario 1'],
      ['setup', 'CPU profile of acr-egress during scenario 2'],
      ['layer-cache', 'CPU profile of acr-egress with the cache during scenario 7 (cold burst and warm pulls)'],
    ] as const) {
      const s = summariseProfileDir(join(profileDir, sub));
      if (s) extra.push(profileMarkdown(title, s));
    }
    if (extra.length > 0) extra.unshift('### CPU profiles (`--profile`)');
  }
  const notes = args.quick ? ['**Smoke run (`--quick`): sizes far too small for the figures to mean anything.**'] : [];
  const report = renderReport(results, {
    startedAt,
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    argv,
    versions,
    contenders,
    extra,
    notes,
  });
  const rawFile = join(tmpdir(), `acr-egress-bench-${startedAt.getTime()}.json`);
  writeFileSync(rawFile, JSON.stringify({ args, versions, results }, null, 1));
  rmSync(dir, { recursive: true, force: true });
  if (args.out !== null) {
    updateDoc(resolve(ROOT, args.out), report);
    console.error(`bench: wrote ${args.out}; raw samples in ${rawFile}`);
  }
  console.log(report);
  clearTimeout(hard);
  return results.some((r) => r.skipped?.startsWith('failed')) ? 1 : 0;
}

process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
process.on('SIGTERM', () => {
  killAll();
  process.exit(143);
});
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench: ${(err as Error).stack ?? String(err)}`);
    killAll();
    process.exitCode = 1;
  },
);
