// No Docker engine runs here, so the Dockerfile, .dockerignore, docker-compose.yml and the container
// config are checked by reading them: the parts that must agree with each other and with the code.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile } from '../../../src/config/load.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Instruction {
  stage: string;
  op: string;
  args: string;
}

/** Dockerfile instructions with continuation lines joined and comments dropped, tagged with their stage. */
function dockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = '';
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    pending += (pending === '' ? '' : ' ') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(pending) as RegExpExecArray;
    pending = '';
    const op = (m[1] as string).toUpperCase();
    const args = m[2] as string;
    if (op === 'FROM') stage = / AS (\S+)$/i.exec(args)?.[1] ?? args;
    out.push({ stage, op, args });
  }
  return out;
}

const instructions = dockerfile(read('Dockerfile'));
const pkg = JSON.parse(read('package.json')) as {
  scripts: Record<string, string>;
  bin: Record<string, string>;
  engines: { node: string };
};
const compose = parseYaml(read('docker-compose.yml')) as {
  services: Record<
    string,
    {
      build?: string;
      image?: string;
      environment?: Record<string, string>;
      networks?: string[];
      volumes?: string[];
      stop_grace_period?: string;
      depends_on?: Record<string, { condition: string }>;
      profiles?: string[];
    }
  >;
  networks: Record<string, { internal?: boolean } | null>;
  volumes: Record<string, unknown>;
};
const CONTAINER_CONFIG = 'deploy/docker/acr-egress.yaml';

function ops(op: string, stage?: string): Instruction[] {
  return instructions.filter((i) => i.op === op && (stage === undefined || i.stage === stage));
}

function envOf(name: string): string {
  for (const i of ops('ENV', 'runtime')) {
    const m = new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(i.args);
    if (m) return m[1] as string;
  }
  throw new Error(`the runtime stage sets no ${name}`);
}

function portOf(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

function loadContainerConfig(env: NodeJS.ProcessEnv = {}) {
  return loadConfigFile(join(ROOT, CONTAINER_CONFIG), env);
}

describe('Dockerfile', () => {
  it('builds in a stage with dev dependencies and runs in one with production dependencies only', () => {
    expect(ops('FROM').map((i) => i.stage)).toEqual(['build', 'runtime']);
    expect(ops('RUN', 'build').map((i) => i.args)).toContain('npm ci --ignore-scripts');
    const runtimeRuns = ops('RUN', 'runtime')
      .map((i) => i.args)
      .join('\n');
    // The package's `prepare` script runs tsc, which a production install does not have.
    expect(runtimeRuns).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(ops('COPY', 'runtime').map((i) => i.args)).toContain('--from=build /src/dist ./dist');
  });

  it('runs only npm scripts that package.json defines', () => {
    const scripts = ops('RUN').flatMap((i) => [...i.args.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1] as string));
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) expect(Object.keys(pkg.scripts), `npm run ${s}`).toContain(s);
  });

  it('pins the base image to the shipped line at the full version .ci/run tests in full', () => {
    const arg = ops('ARG').find((i) => i.args.startsWith('NODE_IMAGE='));
    const ci = read('.ci/run');
    const shipped = /^SHIPPED=(\d+)$/m.exec(ci)?.[1];
    expect(shipped).toMatch(/^(22|24|26)$/);
    expect(pkg.engines.node).toContain(`^${shipped}`);
    const tested = new RegExp(`^NODE${shipped}_VERSION=(${shipped}\\.\\d+\\.\\d+)$`, 'm').exec(ci)?.[1];
    expect(tested).toBeDefined();
    expect(arg?.args).toBe(`NODE_IMAGE=node:${tested}-bookworm-slim`);
    for (const from of ops('FROM')) expect(from.args).toMatch(/^\$\{NODE_IMAGE\} AS \w+$/);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignored).toContain('node_modules');
    for (const copy of ops('COPY').filter((i) => !i.args.startsWith('--from'))) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const src of sources) {
        expect(existsSync(join(ROOT, src)), src).toBe(true);
        const top = src.split('/')[0] as string;
        expect(ignored, `${src} is excluded by .dockerignore`).not.toContain(top);
        expect(ignored).not.toContain(src);
      }
    }
  });

  it('runs as the non-root node user under tini with the CLI serve command', () => {
    const users = ops('USER', 'runtime').map((i) => i.args);
    expect(users.at(-1)).toBe('node');
    expect(ops('ENTRYPOINT', 'runtime').at(-1)?.args).toBe('["/usr/bin/tini", "--"]');
    expect(ops('RUN', 'runtime').some((i) => /apt-get install .*\btini\b/.test(i.args))).toBe(true);
    const cmd = JSON.parse(ops('CMD', 'runtime').at(-1)?.args ?? '[]') as string[];
    expect(cmd).toEqual(['node', 'dist/cli.js', 'serve']);
    expect(Object.values(pkg.bin)).toContain(cmd[1]);
  });

  it('exposes the proxy and admin ports of the container config and health-checks /healthz on the admin port', () => {
    const loaded = loadContainerConfig();
    const proxyPort = portOf(loaded.config.proxy.listen);
    const adminPort = portOf(loaded.config.admin.listen as string);
    expect(ops('EXPOSE', 'runtime').at(-1)?.args.split(/\s+/).map(Number)).toEqual([proxyPort, adminPort]);
    const health = ops('HEALTHCHECK', 'runtime').at(-1)?.args ?? '';
    expect(health).toContain(`http://127.0.0.1:${adminPort}/healthz`);
    // The health check runs inside the container, where the admin API's default loopback listener is reachable.
    expect(loaded.config.admin.listen).toBe(`127.0.0.1:${adminPort}`);
  });

  it('labels the image the OCI way: version (package.json), revision and source from build args, licence', () => {
    const label = ops('LABEL', 'runtime')
      .map((i) => i.args)
      .join(' ');
    const labels = Object.fromEntries(
      [...label.matchAll(/(org\.opencontainers\.image\.\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    const version = (JSON.parse(read('package.json')) as { version: string; license: string }).version;
    const license = (JSON.parse(read('package.json')) as { license: string }).license;
    expect(labels).toMatchObject({
      'org.opencontainers.image.version': '${VERSION}',
      'org.opencontainers.image.revision': '${REVISION}',
      'org.opencontainers.image.source': '${SOURCE}',
      'org.opencontainers.image.licenses': license,
    });
    const args = ops('ARG', 'runtime').map((i) => i.args);
    expect(args).toContain(`VERSION=${version}`);
    expect(args.some((a) => a.startsWith('REVISION'))).toBe(true);
    expect(args.some((a) => a.startsWith('SOURCE'))).toBe(true);
  });

  it('reads the config from /etc/acr-egress and keeps the service-tag cache on the volume', () => {
    const configPath = envOf('ACR_EGRESS_CONFIG');
    expect(configPath).toBe('/etc/acr-egress/acr-egress.yaml');
    expect(ops('COPY', 'runtime').map((i) => i.args)).toContain(`${CONTAINER_CONFIG} ${configPath}`);
    const volume = JSON.parse(ops('VOLUME', 'runtime').at(-1)?.args ?? '[]') as string[];
    expect(volume).toEqual([dirname(loadContainerConfig().config.serviceTags.cacheFile as string)]);
  });
});

describe('container config (deploy/docker/acr-egress.yaml)', () => {
  type Case = { name: string; env: NodeJS.ProcessEnv; adminListen: string; token: boolean; registry: string[] };
  const cases: Case[] = [
    {
      name: 'loads with no environment: MCR only, admin on loopback without a token',
      env: {},
      adminListen: '127.0.0.1:9128',
      token: false,
      registry: [],
    },
    {
      name: 'takes the registry name from ACR_REGISTRY',
      env: { ACR_REGISTRY: 'contosoprod' },
      adminListen: '127.0.0.1:9128',
      token: false,
      registry: ['contosoprod'],
    },
    {
      name: 'publishes the admin API when ACR_EGRESS_ADMIN_LISTEN and a token are given',
      env: { ACR_EGRESS_ADMIN_LISTEN: '0.0.0.0:9128', ACR_EGRESS_ADMIN_TOKEN: 'x'.repeat(32) },
      adminListen: '0.0.0.0:9128',
      token: true,
      registry: [],
    },
  ];

  it.each(cases)('$name', ({ env, adminListen, token, registry }) => {
    const loaded = loadContainerConfig(env);
    expect(loaded.config.admin.listen).toBe(adminListen);
    expect(loaded.adminTokens.has('default')).toBe(token);
    expect(loaded.registries.map((r) => r.name)).toEqual(registry);
    expect(loaded.config.proxy.listen).toBe('0.0.0.0:3128');
    expect(loaded.config.log.file).toBeNull();
  });

  it('refuses a too-short admin token with a clear problem', () => {
    expect(() => loadContainerConfig({ ACR_EGRESS_ADMIN_TOKEN: 'short' })).toThrow(/problem/);
  });
});

describe('docker-compose.yml', () => {
  const { services, networks, volumes } = compose;
  const gateway = services.gateway!;
  const client = services.client!;
  const loaded = loadContainerConfig();

  it('has the gateway, a client, an internal network, an egress network and the cache volume', () => {
    expect(Object.keys(services).sort()).toEqual(['client', 'gateway', 'postgres']);
    expect(Object.keys(networks).sort()).toEqual(['egress', 'internal', 'store']);
    expect(networks.internal?.internal).toBe(true);
    expect(networks.egress?.internal ?? false).toBe(false);
    expect(Object.keys(volumes)).toEqual(['service-tags', 'postgres-data']);
  });

  it('offers PostgreSQL only under the postgres profile, on a network the workloads are not on', () => {
    const pgService = services.postgres!;
    expect(pgService.profiles).toEqual(['postgres']);
    expect(pgService.networks).toEqual(['store']);
    expect(networks.store?.internal).toBe(true);
    // Compose interpolates every service before it filters by profile: a `${VAR:?}` anywhere would stop
    // `docker compose up` for everyone who has not set VAR, profile on or off.
    expect(read('docker-compose.yml')).not.toMatch(/\$\{\w+:\?/);
    expect(pgService.environment?.POSTGRES_PASSWORD).toBe('${POSTGRES_PASSWORD:-}');
    expect(gateway.environment?.ACR_EGRESS_DATABASE_URL).toContain('${POSTGRES_PASSWORD');
    const withPg = loadContainerConfig({
      ACR_EGRESS_STORE: 'postgres',
      ACR_EGRESS_DATABASE_URL: 'postgres://x@postgres/y',
    });
    expect(withPg.config.audit).toMatchObject({ store: 'postgres', url: 'postgres://x@postgres/y' });
    expect(loaded.config.audit.store).toBe('embedded');
  });

  it('puts the gateway on both networks and the client on the internal one only', () => {
    expect([...(gateway.networks ?? [])].sort()).toEqual(['egress', 'internal', 'store']);
    expect(client.networks).toEqual(['internal']);
  });

  it('points the client at the gateway proxy port with HTTPS_PROXY and nothing bypassing it', () => {
    const proxyUrl = `http://gateway:${portOf(loaded.config.proxy.listen)}`;
    expect(client.environment?.HTTPS_PROXY).toBe(proxyUrl);
    expect(client.environment?.https_proxy).toBe(proxyUrl);
    expect(client.environment?.NO_PROXY ?? '').toBe('');
    expect(client.depends_on?.gateway?.condition).toBe('service_healthy');
  });

  it('builds the gateway from the Dockerfile and mounts its config and the tag cache where the image expects them', () => {
    expect(gateway.build).toBe('.');
    const mounts = gateway.volumes ?? [];
    expect(mounts).toContain(`./${CONTAINER_CONFIG}:${envOf('ACR_EGRESS_CONFIG')}:ro`);
    expect(mounts).toContain(`service-tags:${dirname(loaded.config.serviceTags.cacheFile as string)}`);
  });

  it('gives the gateway longer to stop than its drain timeout', () => {
    const grace = Number(/^(\d+)s$/.exec(gateway.stop_grace_period ?? '')?.[1]);
    expect(grace * 1000).toBeGreaterThan(loaded.config.proxy.drainTimeoutMs);
  });
});
