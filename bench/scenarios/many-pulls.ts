// Scenario 4, many pulls: concurrent skopeo pulls of a small image from the real-registry fixture
// (Debian's docker-registry as myregistry.azurecr.io, layers redirected to a blob host), through
// each proxy; wall time of the whole batch.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeOciImage } from '../../test/e2e/oci-image.js';
import { skopeoCopy } from '../../test/e2e/skopeo.js';
import { missingRegistryTools, startRegistry, type TestRegistry } from '../../test/helpers/registry.js';
import { checkDeadline, remainingMs, withTargets, withTimeout, type BenchContext } from '../lib/context.js';
import { skippedResult, table, type ScenarioResult } from '../lib/result.js';
import { fmt, fmtRatio, median, ratio, roundOrder, showRatio, verdict } from '../lib/stats.js';
import { displayName, type Target, type TargetName } from '../lib/targets.js';

export interface PullOptions {
  pulls: number;
  layerBytes: number;
  rounds: number;
}

const TITLE = 'Many pulls';

async function batch(
  registry: TestRegistry,
  t: Target,
  dir: string,
  pulls: number,
): Promise<{ seconds: number; failed: number; firstError: string | null }> {
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: pulls }, (_, i) =>
      skopeoCopy({
        from: `docker://${registry.loginServer}:${registry.port}/bench/small:1`,
        to: `oci:${join(dir, `pull-${i}`)}:1`,
        srcCertDir: registry.certDir,
        proxy: `http://127.0.0.1:${t.proxyPort}`,
        workDir: mkdtempSync(join(dir, 'skopeo-')),
        timeoutMs: 120_000,
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });
  const failedRuns = results.filter((r) => !r.ok);
  return { seconds, failed: failedRuns.length, firstError: failedRuns[0]?.stderr.trim().slice(0, 300) ?? null };
}

export async function runManyPulls(ctx: BenchContext, o: PullOptions): Promise<ScenarioResult> {
  const missing = missingRegistryTools();
  if (missing.length > 0)
    return skippedResult(
      4,
      TITLE,
      `${missing.join(' and ')} not installed (apt-get install -y skopeo docker-registry)`,
    );
  // Without a proxy skopeo would have to resolve the loopback names itself; the bench does not touch /etc/hosts.
  const names = ctx.contenders.filter((n) => n !== 'direct');
  const work = join(ctx.dir, 'pulls');
  mkdirSync(work, { recursive: true });
  const registry = await startRegistry();
  const seconds = new Map<TargetName, number[]>(names.map((n) => [n, []]));
  const failures = new Map<TargetName, number>();
  const first: { error: string | null } = { error: null };
  try {
    const image = writeOciImage(join(work, 'src'), '1', [o.layerBytes]);
    const push = await skopeoCopy({
      from: `oci:${image.dir}:1`,
      to: `docker://${registry.registryIp}:${registry.port}/bench/small:1`,
      destCertDir: registry.certDir,
      workDir: mkdtempSync(join(work, 'push-')),
    });
    if (!push.ok) throw new Error(`pushing the image failed: ${push.stderr.trim().slice(0, 300)}`);
    const set = {
      hosts: { [registry.loginServer]: registry.registryIp, [registry.blobHost]: registry.blobIp },
      ports: [registry.port],
    };
    await withTargets(ctx, 'pulls', names, set, async (targets) => {
      // A full-size warm-up batch each: besides the contenders' cold paths, it absorbs the bench
      // process's own garbage from earlier scenarios (the blob host runs in this process).
      for (const t of targets.values()) await batch(registry, t, join(work, `warm-${t.name}`), o.pulls);
      for (let round = 0; round < o.rounds; round++) {
        checkDeadline(ctx, `pull round ${round + 1}`);
        for (const name of roundOrder(names, round)) {
          const r = await withTimeout(
            batch(registry, targets.get(name) as Target, join(work, `r${round}-${name}`), o.pulls),
            Math.min(300_000, remainingMs(ctx) + 30_000),
            `${o.pulls} pulls via ${name}`,
          );
          seconds.get(name)?.push(r.seconds);
          failures.set(name, (failures.get(name) ?? 0) + r.failed);
          first.error ??= r.firstError;
          ctx.log(
            `pulls round ${round + 1} ${name}: ${fmt(r.seconds)} s${r.failed ? ` (${r.failed} failed: ${r.firstError})` : ''}`,
          );
        }
      }
    });
  } finally {
    await registry.stop();
  }
  const wall = Object.fromEntries(names.map((n) => [n, median(seconds.get(n) ?? [])])) as Partial<
    Record<TargetName, number>
  >;
  const rows = names.map((n) => [
    displayName(n),
    fmt(wall[n]),
    fmtRatio(ratio(wall[n], wall.squid)),
    (seconds.get(n) ?? []).map((s) => fmt(s)).join(', '),
    String(failures.get(n) ?? 0),
  ]);
  const vsSquid = ratio(wall['acr-egress'], wall.squid);
  const body = [
    `${o.pulls} concurrent \`skopeo copy docker://myregistry.azurecr.io:PORT/bench/small:1 oci:...\` (one ${fmt(o.layerBytes / 2 ** 20, 1)} MiB layer, which the registry redirects to the blob host: two tunnels per pull at least), ${o.rounds} rounds. Wall time of the whole batch, lower is better. No direct row: without a proxy skopeo would have to resolve the loopback names itself, and the bench does not edit /etc/hosts.`,
    '',
    table(['contender', 'median s', '× squid (time)', 'every round (s)', 'failed pulls'], rows),
    ...(first.error !== null ? ['', `First failure: \`${first.error.replace(/`/g, "'")}\``] : []),
  ].join('\n');
  return {
    id: 4,
    title: TITLE,
    headlines: [
      {
        metric: `wall s for ${o.pulls} concurrent pulls (median)`,
        higherIsBetter: false,
        values: wall,
        digits: 2,
        target: '≤ 0.95 × squid (time), no failed pull',
        ...((failures.get('acr-egress') ?? 0) > 0
          ? { met: false, by: `${failures.get('acr-egress')} pulls failed` }
          : verdict(vsSquid, 0.95, false, showRatio)),
      },
    ],
    body,
    raw: { ...o, seconds: Object.fromEntries(seconds), failures: Object.fromEntries(failures) },
  };
}
