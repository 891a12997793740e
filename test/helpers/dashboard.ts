// A gateway with its admin API (and so /ui) on loopback, a TLS upstream posing as the registry, and
// ways to make real tunnels through it: for the browser tests and the dashboard bench/screenshots.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { startAdmin, type RunningAdmin } from '../../src/admin/start.js';
import type { DecisionRecord } from '../../src/audit/record.js';
import { buildClientHello } from './client-hello-capture.js';
import { connectThrough, httpsGet, readToEnd, tlsOver } from './raw.js';
import { startGateway, testConfig, type TestGateway } from './gateway.js';
import { writeTagsFile } from './tags.js';
import { startUpstream, type Upstream } from './upstream.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ADMIN_TOKEN = 'dashboard-test-token-0123456789';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const UI_DIR = join(ROOT, 'dist', 'ui');

/** Builds dist/ui when a checkout has not (npm ci's prepare builds it; a tsc-only build does not). */
export function ensureUiBuilt(): void {
  if (existsSync(join(UI_DIR, 'index.html')) && existsSync(join(UI_DIR, 'app.js'))) return;
  execFileSync(process.execPath, [join(ROOT, 'ui', 'build.mjs')], {
    stdio: 'ignore',
    env: { ...process.env, UI_BUILD_QUIET: '1' },
  });
}

export interface DashboardRig {
  readonly gw: TestGateway;
  readonly admin: RunningAdmin;
  readonly upstream: Upstream;
  /** http://127.0.0.1:<admin port> */
  readonly base: string;
  /** A real allowed tunnel to myregistry.azurecr.io carrying one HTTPS request; resolves with its record. */
  allowedTunnel(path?: string): Promise<DecisionRecord>;
  /** A CONNECT the policy refuses (host_not_allowed); resolves with its record. */
  blockedConnect(host: string): Promise<DecisionRecord>;
  /** A tunnel to the registry whose ClientHello names `sni` instead (sni_mismatch); resolves with its record. */
  wrongSni(sni: string): Promise<DecisionRecord>;
  stop(): Promise<void>;
}

export interface DashboardRigOptions {
  /** 'none': no service-tag data at all (no source, no cache) under enforce: when-available. */
  tags?: 'loaded' | 'none';
}

export async function startDashboardRig(options: DashboardRigOptions = {}): Promise<DashboardRig> {
  ensureUiBuilt();
  const upstream = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io', 'mcr.microsoft.com'] });
  const gw = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [upstream.port, 443], clientHelloTimeoutMs: 2000, drainTimeoutMs: 500 },
      serviceTags:
        options.tags === 'none'
          ? { enforce: 'when-available', source: null, cacheFile: null }
          : { enforce: true, source: writeTagsFile(), cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        timeoutMs: 300,
        overrides: { 'myregistry.azurecr.io': ['127.0.0.2'], 'mcr.microsoft.com': ['127.0.0.2'] },
      },
      // The token is in the config file, so a reload from the page keeps it.
      admin: { listen: null, token: ADMIN_TOKEN },
    }),
  );
  let admin: RunningAdmin | null = null;
  try {
    admin = await startAdmin(adminDepsFromGateway(gw.gateway), '127.0.0.1:0');
  } finally {
    if (admin === null) {
      await gw.stop();
      await upstream.close();
    }
  }
  if (admin === null) throw new Error('admin API did not start');
  const running = admin;
  const tunnel = async (host: string, path: string): Promise<DecisionRecord> => {
    const answer = await connectThrough(gw.port, `${host}:${upstream.port}`);
    if (answer.status !== 200) throw new Error(`CONNECT ${host} answered ${answer.status}: ${answer.head}`);
    const tls = await tlsOver(answer.socket, host, upstream.ca);
    await httpsGet(tls, host, path);
    const before = new Set(gw.records().map((r) => r.id));
    return gw.waitForRecord((r) => !before.has(r.id) && r.host === host && r.bytesDown !== null);
  };
  return {
    gw,
    admin: running,
    upstream,
    base: `http://127.0.0.1:${running.address.port}`,
    allowedTunnel: (path = '/v2/') => tunnel('myregistry.azurecr.io', path),
    async blockedConnect(host) {
      const before = new Set(gw.records().map((r) => r.id));
      const answer = await connectThrough(gw.port, `${host}:443`);
      answer.socket.destroy();
      return gw.waitForRecord((r) => !before.has(r.id) && r.host === host);
    },
    async wrongSni(sni) {
      const before = new Set(gw.records().map((r) => r.id));
      const answer = await connectThrough(gw.port, `myregistry.azurecr.io:${upstream.port}`);
      answer.socket.write(buildClientHello({ sni }));
      await readToEnd(answer.socket, 5000);
      return gw.waitForRecord((r) => !before.has(r.id) && r.sni === sni);
    },
    async stop() {
      await running.app.close();
      await gw.stop();
      await upstream.close();
    },
  };
}
