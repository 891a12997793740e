// Finds an installed command on PATH, for test files that skip themselves (with the package to
// install in their title) where a real tool such as docker-compose or kubectl is missing.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function findTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * kubectl with a kustomize that reads today's kustomization files (v4 or later, kubectl 1.21+), or
 * undefined. Debian bookworm's kubernetes-client (1.20) embeds kustomize v2, which refuses
 * generator `options:` and `patches:`; a test cannot use it.
 */
export function findKustomizeKubectl(): string | undefined {
  const kubectl = findTool('kubectl');
  if (kubectl === undefined) return undefined;
  const r = spawnSync(kubectl, ['version', '--client'], { encoding: 'utf8' });
  const major = /Kustomize Version: v(\d+)/.exec(r.stdout ?? '')?.[1];
  return r.status === 0 && major !== undefined && Number(major) >= 4 ? kubectl : undefined;
}
