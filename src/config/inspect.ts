// Load-time checks of the inspection keys: a registry that inspects needs a readable, matching CA;
// pullOnly, repositories and blobStorage: learned only mean something under inspect: true.
import { checkRootsFile, loadCa } from '../tls/ca.js';
import { compileRepositoryPattern } from '../net/repository-pattern.js';
import type { ResolvedRegistry } from './registries.js';
import type { Config } from './schema.js';

export function checkInspect(config: Config, registries: readonly ResolvedRegistry[], problems: string[]): void {
  const { caCertFile, caKeyFile, upstreamCaFile } = config.inspect;
  const inspected = registries.filter((r) => r.inspect);
  for (const reg of registries) {
    const at = `registries(${reg.name})`;
    if (!reg.inspect) {
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
      `inspect.caCertFile: registry ${inspected[0]!.name} has inspect: true; set inspect.caCertFile and inspect.caKeyFile (acr-egress ca init)`,
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
