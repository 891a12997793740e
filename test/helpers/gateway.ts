// Starts a real gateway on 127.0.0.1 with a config written to a temp dir, for integration tests.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { vi } from 'vitest';
import { Gateway } from '../../src/gateway.js';
import type { DecisionRecord } from '../../src/audit/record.js';
import type { RequestInterceptor } from '../../src/inspect/inspected-request.js';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly port: number;
  readonly proxyUrl: string;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  /** Records in the recent store, oldest first. */
  records(): DecisionRecord[];
  /** Waits until a record matching pred exists (records are written when a tunnel closes). */
  waitForRecord(pred: (r: DecisionRecord) => boolean, timeoutMs?: number): Promise<DecisionRecord>;
  stop(): Promise<void>;
}

/** Base config for tests: listen on an ephemeral loopback port, loopback allowed as a destination. */
export function testConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    proxy: {
      listen: '127.0.0.1:0',
      ports: [443],
      clientHelloTimeoutMs: 2000,
      connectTimeoutMs: 2000,
      drainTimeoutMs: 1000,
    },
    registries: [{ name: 'myregistry', regions: ['eastus'] }],
    mcr: true,
    network: { allowPrivate: ['127.0.0.0/8'] },
    dns: { servers: ['127.0.0.1:1'], timeoutMs: 500 },
    serviceTags: { enforce: true, source: null, cacheFile: null },
    admin: { listen: null },
    log: { level: 'silent' },
    // Not the default (embedded): most tests ask only the recent ring; the store tests choose theirs.
    audit: { store: 'memory' },
  };
  for (const [k, v] of Object.entries(overrides)) {
    const cur = base[k];
    base[k] =
      cur && typeof cur === 'object' && !Array.isArray(cur) && v && typeof v === 'object' && !Array.isArray(v)
        ? { ...cur, ...v }
        : v;
  }
  return base;
}

export async function startGateway(
  config: Record<string, unknown>,
  /** logDestination: the gateway builds its own operational log at log.level and writes it there. */
  options: { logger?: Logger; logDestination?: DestinationStream; interceptors?: readonly RequestInterceptor[] } = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-test-'));
  const logFile = join(dir, 'audit.log');
  const full = { ...config, log: { level: 'silent', ...(config.log as object | undefined), file: logFile } };
  const configFile = join(dir, 'acr-egress.json');
  writeFileSync(configFile, JSON.stringify(full, null, 2));
  const interceptors = options.interceptors ?? [];
  const gateway = await Gateway.create(
    options.logDestination
      ? { configFile, logDestination: options.logDestination, interceptors }
      : { configFile, logger: options.logger ?? pino({ level: 'silent' }), interceptors },
  );
  const addr = await gateway.listen();
  const records = (): DecisionRecord[] => [...gateway.store.newestFirst()].reverse();
  return {
    gateway,
    port: addr.port,
    proxyUrl: `http://127.0.0.1:${addr.port}`,
    dir,
    configFile,
    logFile,
    records,
    waitForRecord: (pred, timeoutMs = 5000) =>
      vi.waitFor(
        () => {
          const hit = records().find(pred);
          if (!hit) throw new Error(`no matching record; have: ${JSON.stringify(records(), null, 1)}`);
          return hit;
        },
        { timeout: timeoutMs, interval: 20 },
      ),
    stop: () => gateway.stop(),
  };
}
