// The embedded store's disk filling up under a running gateway (a small tmpfs, filled): tunnels are
// still decided and answered, the log says the store write failed, acr_egress_store_up drops to 0,
// and once there is room again the queued records are written. Needs root (mount); skipped otherwise.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import type { AdminApp } from '../../../src/admin/app-types.js';
import { adminDepsFromGateway } from '../../../src/admin/from-gateway.js';
import { Gateway } from '../../../src/gateway.js';
import { openEmbeddedStore } from '../../../src/store/embedded.js';
import { testConfig } from '../../helpers/gateway.js';
import { connectThrough } from '../../helpers/raw.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-embedded-disk-'));
const disk = join(dir, 'disk');
mkdirSync(disk);
/** A 2 MiB filesystem of its own, so that filling it fails only the store. */
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', disk]).status === 0;
const filler = join(disk, 'filler');

let gateway: Gateway;
let app: AdminApp;
let port = 0;
const logs: Record<string, unknown>[] = [];

async function block(host: string): Promise<void> {
  const a = await connectThrough(port, `${host}:443`);
  a.socket.destroy();
  expect(a.status).toBe(403);
}

const storeUp = async (): Promise<string | undefined> =>
  /acr_egress_store_up\{backend="embedded"\} (\d)/.exec((await app.inject({ url: '/metrics' })).body)?.[1];

describe.skipIf(!mounted)('the embedded store on a full disk', () => {
  beforeAll(async () => {
    const configFile = join(dir, 'acr-egress.json');
    writeFileSync(
      configFile,
      JSON.stringify(
        testConfig({
          proxy: { listen: '127.0.0.1:0' },
          log: { level: 'silent', file: join(dir, 'audit.log') },
          audit: { store: 'embedded', dir: join(disk, 'store'), flushMs: 50 },
        }),
      ),
    );
    const log = pino(
      { level: 'info' },
      { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) },
    );
    gateway = await Gateway.create({ configFile, logger: log });
    port = (await gateway.listen()).port;
    app = createAdminApp(adminDepsFromGateway(gateway), { anonymousWithoutToken: true });
    await app.ready();
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await gateway?.stop();
    if (mounted) spawnSync('umount', ['-l', disk]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps answering tunnels, logs and counts the failure, and catches up when there is room', async () => {
    await block('first.example.net');
    await expect.poll(async () => (await app.inject({ url: '/api/v1/store' })).json().written).toBe(1);
    // Fill the disk: the next commit has nowhere to go.
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k', 'count=64']);
    for (let i = 0; i < 50; i++) await block(`full${i}.example.net`);
    await expect.poll(storeUp, { timeout: 20_000 }).toBe('0');
    expect(
      logs.some((l) => l.msg === 'store write failed; records stay queued' && /full|disk/i.test(String(l.err))),
    ).toBe(true);
    const state = (await app.inject({ url: '/api/v1/store' })).json<{ healthy: boolean; queued: number }>();
    expect(state).toMatchObject({ healthy: false });
    expect(state.queued).toBeGreaterThan(0);
    // Still deciding and answering while the store is down.
    await block('still.example.net');
    rmSync(filler);
    await expect.poll(storeUp, { timeout: 60_000 }).toBe('1');
    await expect
      .poll(async () => (await app.inject({ url: '/api/v1/store' })).json().written, { timeout: 60_000 })
      .toBe(52);
    expect(logs.some((l) => l.msg === 'store writes recovered')).toBe(true);
  }, 120_000);
});

describe('an audit.dir that cannot be used', () => {
  it('fails the open with what to do instead', async () => {
    const base = mkdtempSync(join(tmpdir(), 'acr-egress-embedded-bad-'));
    const file = join(base, 'a-file');
    writeFileSync(file, 'not a directory');
    await expect(openEmbeddedStore(join(file, 'store'))).rejects.toThrow(
      /^audit\.dir .*a-file\/store cannot hold the embedded store \(.*\): make it writable .*or set audit\.store: memory$/,
    );
    rmSync(base, { recursive: true, force: true });
  });
});
