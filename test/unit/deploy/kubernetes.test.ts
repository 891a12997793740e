// The Kubernetes manifests, parsed and checked where a mistake would only show up in a cluster: ports
// that disagree with the config, probes on routes that do not exist, a config the loader refuses.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { createAdminApp } from '../../../src/admin/app.js';
import { adminDepsFromGateway } from '../../../src/admin/from-gateway.js';
import { substituteEnv } from '../../../src/config/env.js';
import { buildConfig, type LoadedConfig } from '../../../src/config/load.js';
import { Gateway } from '../../../src/gateway.js';
import { findKustomizeKubectl } from '../../helpers/tools.js';

// deploy/kubernetes applies base/ plus the admin-token Secret generator; overlays build on base/ too.
const TOP = join(import.meta.dirname, '..', '..', '..', 'deploy', 'kubernetes');
const DIR = join(TOP, 'base');

// Loose shapes: only the fields the checks read.
type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: any;
};

function loadManifests(): { file: string; doc: Manifest }[] {
  const out: { file: string; doc: Manifest }[] = [];
  for (const file of readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    // acr-egress.yaml is the gateway's config, a configMapGenerator input.
    if (file === 'acr-egress.yaml') continue;
    for (const d of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      if ('errors' in d && d.errors.length > 0)
        throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      const doc = d.toJS() as Manifest | null;
      // kustomization.yaml is build input, not an object in the cluster.
      if (doc !== null && doc.kind !== 'Kustomization') out.push({ file, doc });
    }
  }
  return out;
}

type Generator = { name: string; namespace?: string; files?: string[]; literals?: string[] };
const baseKustomization = parseYaml(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as {
  resources: string[];
  configMapGenerator: Generator[];
  images: { name: string; newName?: string; newTag?: string }[];
};

/** The ConfigMaps base/kustomization.yaml generates (without kustomize's hash suffix). */
function generatedConfigMaps(): { file: string; doc: Manifest }[] {
  return baseKustomization.configMapGenerator.map((g) => {
    const data: Record<string, string> = {};
    for (const f of g.files ?? [])
      data[f.split('=')[0] as string] = readFileSync(join(DIR, f.split('=').pop()!), 'utf8');
    for (const l of g.literals ?? []) data[l.slice(0, l.indexOf('='))] = l.slice(l.indexOf('=') + 1);
    const doc = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name, namespace: g.namespace }, data };
    return { file: 'kustomization.yaml', doc };
  });
}

const manifests = [...loadManifests(), ...generatedConfigMaps()];
const all = manifests.map((m) => m.doc);
const one = (kind: string, name = 'acr-egress'): Manifest => {
  const found = all.filter((d) => d.kind === kind && d.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as Manifest;
};

const deployment = one('Deployment');
const service = one('Service');
const configMap = one('ConfigMap', 'acr-egress-config');
const kustomization = parseYaml(readFileSync(join(TOP, 'kustomization.yaml'), 'utf8')) as {
  resources: string[];
  secretGenerator?: Generator[];
};
const secret = (kustomization.secretGenerator ?? []).find((g) => g.name === 'acr-egress-admin')!;
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const TOKEN = 'k8s-test-token-0123456789abcdef';

function envValue(name: string): any {
  return (container.env as { name: string; value?: string; valueFrom?: any }[]).find((e) => e.name === name);
}

/** The ConfigMap's config, through the real loader, with the env the pod would have. */
function loadConfigMap(env: NodeJS.ProcessEnv): LoadedConfig {
  const key = Object.keys(configMap.data)[0] as string;
  const { value, unset } = substituteEnv(parseYaml(configMap.data[key]), env);
  return buildConfig(value, `configmap/${key}`, unset);
}

const loaded = loadConfigMap({ ACR_EGRESS_ADMIN_TOKEN: TOKEN });
const portOf = (listen: string): number => Number(listen.slice(listen.lastIndexOf(':') + 1));
const containerPort = (name: string): number =>
  (container.ports as { name: string; containerPort: number }[]).find((p) => p.name === name)!.containerPort;
/** A probe's port, named or numbered, as a number. */
const probePort = (port: string | number): number => (typeof port === 'number' ? port : containerPort(port));

describe('kubernetes manifests', () => {
  it('has every object an operator needs, all in the acr-egress namespace', () => {
    const kinds = new Set(all.map((d) => d.kind));
    for (const kind of [
      'Namespace',
      'Deployment',
      'Service',
      'ConfigMap',
      'PodDisruptionBudget',
      'HorizontalPodAutoscaler',
      'NetworkPolicy',
    ]) {
      expect(kinds, kind).toContain(kind);
    }
    for (const d of all.filter((x) => x.kind !== 'Namespace' && x.kind !== 'NetworkPolicy')) {
      expect(d.metadata.namespace, `${d.kind} ${d.metadata.name}`).toBe('acr-egress');
    }
  });

  it('lists every manifest but the NetworkPolicy examples in base/kustomization.yaml', () => {
    const files = [...new Set(manifests.map((m) => m.file))].filter(
      (f) => f !== 'networkpolicy.yaml' && f !== 'kustomization.yaml',
    );
    expect([...baseKustomization.resources].sort()).toEqual(files.sort());
    expect(kustomization.resources).toEqual(['base']);
  });

  it('runs at least two replicas, and the autoscaler and disruption budget keep it so', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
    const pdb = one('PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(hpa.spec.minReplicas);
  });

  it('selects the Deployment pods from the Service and the PodDisruptionBudget', () => {
    const labels = deployment.spec.template.metadata.labels as Record<string, string>;
    expect(labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(labels).toMatchObject(service.spec.selector);
    expect(labels).toMatchObject(one('PodDisruptionBudget').spec.selector.matchLabels);
  });

  it('agrees with the ConfigMap config on the proxy and admin ports', () => {
    const proxyPort = portOf(loaded.config.proxy.listen);
    const adminPort = portOf(loaded.config.admin.listen as string);
    expect(containerPort('proxy')).toBe(proxyPort);
    expect(containerPort('admin')).toBe(adminPort);
    const servicePorts = service.spec.ports as { name: string; port: number; targetPort: string | number }[];
    const svcProxy = servicePorts.find((p) => p.name === 'proxy')!;
    expect(probePort(svcProxy.targetPort)).toBe(proxyPort);
    expect(svcProxy.port).toBe(proxyPort);
    expect(probePort(servicePorts.find((p) => p.name === 'admin')!.targetPort)).toBe(adminPort);
  });

  it('probes readiness at /readyz and liveness at /healthz on the admin port, which listens beyond loopback', () => {
    const adminPort = portOf(loaded.config.admin.listen as string);
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(probePort(container.readinessProbe.httpGet.port)).toBe(adminPort);
    expect(probePort(container.livenessProbe.httpGet.port)).toBe(adminPort);
    // The kubelet probes the pod IP: a loopback admin listener would fail every probe.
    expect(loaded.config.admin.listen).toBe(`0.0.0.0:${adminPort}`);
  });

  it('probes routes the admin API really serves, built from the ConfigMap config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-k8s-'));
    const key = Object.keys(configMap.data)[0] as string;
    const file = join(dir, key);
    writeFileSync(file, configMap.data[key]);
    // Never listens: no proxy socket, no service-tag download; only the admin app's routes are asked.
    const gateway = await Gateway.create({
      configFile: file,
      env: { ACR_EGRESS_ADMIN_TOKEN: TOKEN },
      logger: pino({ level: 'silent' }),
    });
    const app = createAdminApp(adminDepsFromGateway(gateway));
    try {
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        const res = await app.inject({ method: 'GET', url: probe.httpGet.path });
        expect(res.statusCode, `${probe.httpGet.path}: ${res.body}`).not.toBe(404);
        expect(res.statusCode).not.toBe(401);
      }
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as non-root with a read-only root filesystem, no privilege escalation and no capabilities', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('sets resource requests and limits', () => {
    for (const r of ['cpu', 'memory']) {
      expect(container.resources.requests[r], `requests.${r}`).toBeDefined();
      expect(container.resources.limits[r], `limits.${r}`).toBeDefined();
    }
  });

  it('mounts the ConfigMap where ACR_EGRESS_CONFIG points and an emptyDir where the tag cache and store live', () => {
    const configPath = envValue('ACR_EGRESS_CONFIG').value as string;
    const volumes = pod.volumes as { name: string; configMap?: { name: string }; emptyDir?: object }[];
    const mounts = container.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
    const configMount = mounts.find((m) => m.mountPath === dirname(configPath))!;
    expect(configMount.readOnly).toBe(true);
    expect(volumes.find((v) => v.name === configMount.name)?.configMap?.name).toBe(configMap.metadata.name);
    expect(Object.keys(configMap.data)).toEqual([configPath.slice(dirname(configPath).length + 1)]);
    const cacheMount = mounts.find((m) => m.mountPath === dirname(loaded.config.serviceTags.cacheFile as string))!;
    expect(volumes.find((v) => v.name === cacheMount.name)?.emptyDir).toBeDefined();
    const storeDir = loaded.config.audit.dir;
    const storeMount = mounts.find((m) => storeDir === m.mountPath || storeDir.startsWith(`${m.mountPath}/`))!;
    expect(storeMount.readOnly ?? false).toBe(false);
    expect(volumes.find((v) => v.name === storeMount.name)?.emptyDir).toBeDefined();
  });

  it('generates the config and ACR_REGISTRY as ConfigMaps, so a change rolls the pods', () => {
    const envFrom = (container.envFrom ?? []) as { configMapRef?: { name: string } }[];
    expect(envFrom.map((e) => e.configMapRef?.name)).toEqual(['acr-egress-env']);
    expect(one('ConfigMap', 'acr-egress-env').data).toEqual({ ACR_REGISTRY: '' });
    // Only generated ConfigMaps: a plain one keeps its name, and a changed config would not roll the pods.
    expect(manifests.filter((m) => m.doc.kind === 'ConfigMap').every((m) => m.file === 'kustomization.yaml')).toBe(
      true,
    );
  });

  it('runs the image of the package version, through kustomize images:', () => {
    const version = (JSON.parse(readFileSync(join(TOP, '..', '..', 'package.json'), 'utf8')) as { version: string })
      .version;
    expect(container.image).toBe('acr-egress');
    expect(baseKustomization.images).toEqual([{ name: 'acr-egress', newTag: version }]);
  });

  it('takes the admin token from the generated Secret, under the key the generator writes', () => {
    const ref = envValue('ACR_EGRESS_ADMIN_TOKEN').valueFrom.secretKeyRef as { name: string; key: string };
    expect(ref.name).toBe(secret.name);
    expect(secret.namespace).toBe('acr-egress');
    expect(secret.files?.map((f) => f.split('=')[0])).toContain(ref.key);
    expect(loaded.adminTokens.get('default')).toBe(TOKEN);
  });

  it('refuses to start without the token (admin API on 0.0.0.0), and refuses a token under 16 characters', () => {
    expect(() => loadConfigMap({})).toThrow(/problem/);
    expect(() => loadConfigMap({ ACR_EGRESS_ADMIN_TOKEN: 'short' })).toThrow(/problem/);
  });

  it('ships no token: no Secret manifest, the generator reads only a git-ignored file absent from the tree', () => {
    expect(all.filter((d) => d.kind === 'Secret')).toEqual([]);
    expect(secret.literals).toBeUndefined();
    const ignored = readFileSync(join(TOP, '.gitignore'), 'utf8').split('\n');
    for (const f of secret.files ?? []) {
      const file = f.split('=').pop()!;
      expect(ignored).toContain(file);
      expect(existsSync(join(TOP, file)), `${file} must not be committed`).toBe(false);
    }
  });

  it('writes decision records to stdout and gives the drain time to finish before SIGKILL', () => {
    expect(loaded.config.log.file).toBeNull();
    const preStop = (container.lifecycle?.preStop?.exec?.command ?? []) as string[];
    const pause = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(loaded.config.proxy.drainTimeoutMs + pause * 1000);
  });

  it('lets workloads egress only to the gateway proxy port and cluster DNS', () => {
    const workload = all.find((d) => d.kind === 'NetworkPolicy' && d.metadata.namespace !== 'acr-egress')!;
    expect(workload.spec.policyTypes).toEqual(['Egress']);
    expect(workload.spec.podSelector).toEqual({});
    const rules = workload.spec.egress as { to: any[]; ports: { protocol: string; port: number }[] }[];
    expect(rules).toHaveLength(2);
    const [toGateway, toDns] = rules as [(typeof rules)[0], (typeof rules)[0]];
    expect(toGateway.to).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': deployment.metadata.namespace } },
        podSelector: { matchLabels: deployment.spec.selector.matchLabels },
      },
    ]);
    expect(toGateway.ports).toEqual([{ protocol: 'TCP', port: portOf(loaded.config.proxy.listen) }]);
    expect(toDns.ports.every((p) => p.port === 53)).toBe(true);
  });

  it('lets the gateway egress to port 443 outside private ranges, and DNS', () => {
    const policies = all.filter((d) => d.kind === 'NetworkPolicy' && d.metadata.namespace === 'acr-egress');
    const egress = policies.find((p) => (p.spec.policyTypes as string[]).includes('Egress'))!;
    const ports = (egress.spec.egress as { ports: { port: number }[] }[]).flatMap((r) => r.ports.map((p) => p.port));
    expect(new Set(ports)).toEqual(new Set([53, ...loaded.config.proxy.ports]));
    const ipRule = (egress.spec.egress as { to: { ipBlock?: { cidr: string; except: string[] } }[] }[]).find((r) =>
      r.to.some((t) => t.ipBlock),
    )!;
    expect(ipRule.to[0]?.ipBlock?.except).toEqual(
      expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']),
    );
    const ingress = policies.find((p) => (p.spec.policyTypes as string[]).includes('Ingress'))!;
    const ingressPorts = (ingress.spec.ingress as { ports: { port: number }[] }[]).flatMap((r) =>
      r.ports.map((p) => p.port),
    );
    expect(ingressPorts).toContain(portOf(loaded.config.proxy.listen));
  });
});

const kubectl = findKustomizeKubectl();

describe.skipIf(kubectl === undefined)(
  `kubectl kustomize deploy/kubernetes${kubectl === undefined ? ' (skipped: no kubectl 1.21+ with kustomize v4+)' : ''}`,
  () => {
    const build = (dir: string) => spawnSync(kubectl as string, ['kustomize', dir], { encoding: 'utf8' });

    it('fails clearly, naming admin-token, when the operator has not created it', () => {
      const dir = mkdtempSync(join(tmpdir(), 'acr-egress-kz-'));
      cpSync(TOP, dir, { recursive: true });
      rmSync(join(dir, 'admin-token'), { force: true });
      const r = build(dir);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('admin-token');
      rmSync(dir, { recursive: true, force: true });
    });

    it('generates the Secret from the file and points the Deployment at it', () => {
      const dir = mkdtempSync(join(tmpdir(), 'acr-egress-kz-'));
      cpSync(TOP, dir, { recursive: true });
      writeFileSync(join(dir, 'admin-token'), TOKEN);
      const r = build(dir);
      expect(r.status, r.stderr).toBe(0);
      const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest);
      const generated = docs.find((d) => d.kind === 'Secret')!;
      expect(Buffer.from(generated.data.token as string, 'base64').toString()).toBe(TOKEN);
      const dep = docs.find((d) => d.kind === 'Deployment')!;
      const env = dep.spec.template.spec.containers[0].env as { name: string; valueFrom?: any }[];
      expect(env.find((e) => e.name === 'ACR_EGRESS_ADMIN_TOKEN')?.valueFrom.secretKeyRef.name).toBe(
        generated.metadata.name,
      );
      rmSync(dir, { recursive: true, force: true });
    });

    /** Renders `sub` (relative to deploy/kubernetes) with its admin-token in place. */
    function render(sub: string, edit?: (dir: string) => void): Manifest[] {
      const dir = mkdtempSync(join(tmpdir(), 'acr-egress-kz-'));
      try {
        cpSync(TOP, dir, { recursive: true });
        writeFileSync(join(dir, sub, 'admin-token'), TOKEN);
        edit?.(dir);
        const r = build(join(dir, sub));
        expect(r.status, r.stderr).toBe(0);
        return parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }

    it.each(['.', 'overlays/postgres'])('renders %s with the package version as every image', (sub) => {
      const version = (JSON.parse(readFileSync(join(TOP, '..', '..', 'package.json'), 'utf8')) as { version: string })
        .version;
      const images = render(sub)
        .filter((d) => d.kind === 'Deployment')
        .flatMap((d) => [...d.spec.template.spec.containers, ...(d.spec.template.spec.initContainers ?? [])])
        .map((c: { image: string }) => c.image);
      expect(images).toEqual([`acr-egress:${version}`]);
    });

    it('gives a changed config a new ConfigMap name that the Deployment follows (a rollout)', () => {
      const configName = (docs: Manifest[]): [string, string] => {
        const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('acr-egress-config-'))!;
        const dep = docs.find((d) => d.kind === 'Deployment')!;
        const vol = (dep.spec.template.spec.volumes as { name: string; configMap?: { name: string } }[]).find(
          (v) => v.configMap !== undefined,
        )!;
        return [cm.metadata.name, vol.configMap!.name];
      };
      const [before, usedBefore] = configName(render('.'));
      const [after, usedAfter] = configName(
        render('.', (dir) => {
          const file = join(dir, 'base', 'acr-egress.yaml');
          writeFileSync(file, readFileSync(file, 'utf8').replace('mode: enforce', 'mode: report'));
        }),
      );
      expect(usedBefore).toBe(before);
      expect(usedAfter).toBe(after);
      expect(after).not.toBe(before);
    });

    it('loads the rendered postgres overlay config with the store it promises', () => {
      const docs = render('overlays/postgres');
      const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('acr-egress-config-'))!;
      const dep = docs.find((d) => d.kind === 'Deployment')!;
      const env = Object.fromEntries(
        (dep.spec.template.spec.containers[0].env as { name: string; value?: string }[])
          .filter((e) => e.value !== undefined)
          .map((e) => [e.name, e.value]),
      );
      const { value, unset } = substituteEnv(parseYaml(cm.data['acr-egress.yaml']), {
        ...env,
        ACR_EGRESS_ADMIN_TOKEN: TOKEN,
      });
      const overlay = buildConfig(value, 'overlay', unset);
      expect(overlay.config.audit.store).toBe('postgres');
      expect(overlay.config.audit.urlFile).toBe('/var/run/secrets/acr-egress/postgres-url');
    });
  },
);
