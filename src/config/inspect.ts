// Load-time checks of the inspection keys: a registry that inspects needs a readable, matching CA;
// pullOnly, repositories, cache and blobStorage: learned only mean something under inspect: true.
import { checkRootsFile, loadCa } from '../tls/ca.js';
import { compileRepositoryPattern } from '../net/repository-pattern.js';
import { resolveMcr } from './mcr.js';
import type { ResolvedRegistry } from './registries.js';
import type { Config } from './schema.js';

export function checkInspect(config: Config, registries: readonly ResolvedRegistry[], problems: string[]): void {
  const { caCertFile, caKeyFile, upstreamCaFile } = config.inspect;
  const mcr = resolveMcr(config.mcr);
  const inspected = registries.filter((r) => r.inspect).map((r) => `registry ${r.name}`);
  if (mcr.inspect) inspected.push('mcr');
  const entries = [
    ...registries.map((r) => ({ ...r, at: `registries(${r.name})` })),
    ...(typeof config.mcr === 'object' ? [{ ...mcr, blobLearned: false, at: 'mcr' }] : []),
  ];
  for (const reg of entries) {
    const { at } = reg;
    if (!reg.inspect) {
      if (reg.cache)
        problems.push(
          `${at}.cache: needs inspect: true (a cached layer is served only after the registry answers the client's own request, which the gateway sees only when it inspects)`,
        );
      if (reg.pullOnly)
        problems.push(`${at}.pullOnly: needs inspect: true (the gateway cannot see requests otherwise)`);
      if (reg.repositories !== null) problems.push(`${at}.repositories: needs inspect: true`);
      if (reg.blobLearned)
        problems.push(
          `${at}.blobStorage: learned needs inspect: true (hosts are learned from the registry's redirects)`,
        );
    }
    (reg.repositories ?? []).forEach((p, i) => {
      const c = compileRepositoryPattern(p);
      if (!c.ok) problems.push(`${at}.repositories[${i}]: ${c.problem}`);
    });
  }
  if ((caCertFile === null) !== (caKeyFile === null))
    problems.push('inspect: give both inspect.caCertFile and inspect.caKeyFile, or neither');
  if (inspected.length > 0 && (caCertFile === null || caKeyFile === null))
    problems.push(
      `inspect.caCertFile: ${inspected[0]!} has inspect: true; set inspect.caCertFile and inspect.caKeyFile (acr-egress ca init)`,
    );
  if (caCertFile !== null && caKeyFile !== null) {
    const ca = loadCa(caCertFile, caKeyFile);
    if (!ca.ok) problems.push(`inspect.caCertFile: ${ca.problem}`);
  }
  if (upstreamCaFile !== null) {
    const problem = checkRootsFile(upstreamCaFile);
    if (problem !== null) problems.push(`inspect.upstreamCaFile: ${problem}`);
  }
}
