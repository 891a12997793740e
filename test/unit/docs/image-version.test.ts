// Every versioned reference to the gateway's image (acr-egress:X.Y.Z) in the docs and deploy files
// is the package version: docs/deployment.md once built 0.2.0 and deployed 0.1.0.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(md|ya?ml|json)$|^Dockerfile$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

const checked = [
  join(ROOT, 'README.md'),
  join(ROOT, 'Dockerfile'),
  join(ROOT, 'docker-compose.yml'),
  ...files(join(ROOT, 'docs')),
  ...files(join(ROOT, 'deploy')),
];

describe(`image references equal the package version (${version})`, () => {
  it('finds references to check', () => {
    const all = checked.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bacr-egress:(\d+\.\d+\.\d+)\b/g)]);
    expect(all.length).toBeGreaterThan(0);
  });

  it.each(checked.map((f) => relative(ROOT, f)))('%s', (file) => {
    const refs = [...readFileSync(join(ROOT, file), 'utf8').matchAll(/\bacr-egress:(\d+\.\d+\.\d+)\b/g)].map(
      (m) => m[1],
    );
    const tags = [...readFileSync(join(ROOT, file), 'utf8').matchAll(/^\s*newTag:\s*(\S+)/gm)].map((m) => m[1]);
    // Every reference (there may be none in this file) names the package version.
    expect([...refs, ...tags].filter((v) => v !== version)).toEqual([]);
  });
});
