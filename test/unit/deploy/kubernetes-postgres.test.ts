// The PostgreSQL overlay: its config loads with the store it promises, the file it reads the URL
// from is the Secret the Deployment patch mounts, and no credentials are in the repository.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { substituteEnv } from '../../../src/config/env.js';
import { buildConfig } from '../../../src/config/load.js';

const DIR = join(import.meta.dirname, '..', '..', '..', 'deploy', 'kubernetes', 'overlays', 'postgres');
const read = (f: string): any => parseYaml(readFileSync(join(DIR, f), 'utf8'));

describe('deploy/kubernetes/overlays/postgres', () => {
  const kustomization = read('kustomization.yaml');
  const base = parseYaml(readFileSync(join(DIR, '..', '..', 'base', 'acr-egress.yaml'), 'utf8'));
  const deployment = read('deployment-patch.yaml');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('builds on the base and patches only the Deployment: the config is the base one, not a copy', () => {
    expect(kustomization.resources).toEqual(['../../base']);
    expect(kustomization.patches.map((p: { path: string }) => p.path)).toEqual(['deployment-patch.yaml']);
    expect(kustomization.configMapGenerator).toBeUndefined();
  });

  it('configures a postgres store whose URL file is the mounted Secret', () => {
    const env = Object.fromEntries(
      (container.env as { name: string; value?: string }[])
        .filter((e) => e.value !== undefined)
        .map((e) => [e.name, e.value]),
    );
    const { value, unset } = substituteEnv(base, { ...env, ACR_EGRESS_ADMIN_TOKEN: 'x'.repeat(32) });
    const loaded = buildConfig(value, 'overlay configmap', unset);
    expect(loaded.config.audit.store).toBe('postgres');
    const file = loaded.config.audit.urlFile as string;
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === 'postgres-url');
    const volume = pod.volumes.find((v: { name: string }) => v.name === 'postgres-url');
    expect(file).toBe(join(mount.mountPath, volume.secret.items[0].path));
    expect(volume.secret.secretName).toBe('acr-egress-postgres');
    expect(container.env).toContainEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
  });

  it('holds no credentials and no Secret object', () => {
    for (const f of readdirSync(DIR)) {
      const text = readFileSync(join(DIR, f), 'utf8');
      expect(text).not.toMatch(/postgres(ql)?:\/\/[^\s"]*:[^\s"]*@/);
      expect(text).not.toMatch(/^kind: Secret/m);
    }
  });
});
