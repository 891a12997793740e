// One default everywhere: `npm start` (config/acr-egress.yaml), the image and compose
// (deploy/docker/acr-egress.yaml) and Kubernetes (deploy/kubernetes/base/acr-egress.yaml) accept the
// same clients and allow the same destinations, and a missing ACR_REGISTRY means MCR only in each.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile, type LoadedConfig } from '../../../src/config/load.js';
import { allowLine } from '../../../src/start-lines.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const TOKEN = { ACR_EGRESS_ADMIN_TOKEN: 'defaults-test-token-0123456789' };

const places = {
  'npm start': 'config/acr-egress.yaml',
  'image and compose': 'deploy/docker/acr-egress.yaml',
  kubernetes: 'deploy/kubernetes/base/acr-egress.yaml',
} as const;

function load(file: string, env: NodeJS.ProcessEnv): LoadedConfig {
  return loadConfigFile(join(ROOT, file), { ...TOKEN, ...env });
}

/** What decides who may use the gateway and where it may go. */
function policyOf(loaded: LoadedConfig) {
  const c = loaded.config;
  return {
    clients: c.proxy.clients,
    ports: c.proxy.ports,
    registries: loaded.registries.map((r) => ({
      name: r.name,
      dataEndpoints: r.dataEndpoints,
      blobStorage: r.blobStorage,
    })),
    mcr: c.mcr,
    allow: c.allow,
    mode: c.mode,
    enforce: c.serviceTags.enforce,
    cloud: c.cloud,
  };
}

/** The value the environment gives ACR_REGISTRY where the operator has not set it. */
function registryDefaults(): Record<string, string | undefined> {
  const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: { gateway: { environment: Record<string, string> } };
  };
  const composeDefault = /^\$\{ACR_REGISTRY:-(.*)\}$/.exec(
    compose.services.gateway.environment.ACR_REGISTRY ?? '',
  )?.[1];
  const kustomization = parseYaml(readFileSync(join(ROOT, 'deploy/kubernetes/base/kustomization.yaml'), 'utf8')) as {
    configMapGenerator: { name: string; literals?: string[] }[];
  };
  const literal = kustomization.configMapGenerator
    .find((g) => g.name === 'acr-egress-env')
    ?.literals?.find((l) => l.startsWith('ACR_REGISTRY='));
  return { compose: composeDefault, kubernetes: literal?.slice('ACR_REGISTRY='.length) };
}

describe('one default everywhere', () => {
  it.each([{}, { ACR_REGISTRY: 'contosoprod' }])('allows the same with env %j', (env) => {
    const [first, ...rest] = Object.entries(places).map(([where, file]) => ({
      where,
      policy: policyOf(load(file, env)),
    }));
    for (const other of rest) expect(other.policy, `${other.where} vs ${first!.where}`).toEqual(first!.policy);
  });

  it('accepts clients from loopback and the private ranges only', () => {
    expect(load(places['npm start'], {}).config.proxy.clients).toEqual([
      '127.0.0.0/8',
      '::1/128',
      '10.0.0.0/8',
      '172.16.0.0/12',
      '192.168.0.0/16',
      '100.64.0.0/10',
      'fc00::/7',
      'fe80::/10',
    ]);
  });

  it.each(Object.entries(places))('%s without ACR_REGISTRY: MCR only, and the start-up line says why', (_, file) => {
    const loaded = load(file, {});
    expect(loaded.registries).toEqual([]);
    expect(allowLine(loaded)).toBe('allowing only MCR (mcr.microsoft.com) (ACR_REGISTRY not set: no registry from it)');
  });

  it('leaves ACR_REGISTRY empty in compose and Kubernetes: no silent myregistry', () => {
    expect(registryDefaults()).toEqual({ compose: '', kubernetes: '' });
  });

  it('keeps the embedded decision store in audit.dir on the state volume in the image and Kubernetes', () => {
    for (const file of [places['image and compose'], places.kubernetes]) {
      const audit = load(file, {}).config.audit;
      expect(audit.store, file).toBe('embedded');
      expect(audit.dir, file).toBe('/var/lib/acr-egress/store');
    }
  });
});
