// Service tags that stay current, end to end on loopback: a fake Microsoft download site, a real
// gateway whose decisions follow the refreshed ranges, tunnels that survive a swap, every failure
// leaving the data in use (and the cache) untouched, and a restart that enforces from the cache.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTags } from '../../src/cli/tags.js';
import { buildConfig } from '../../src/config/load.js';
import { evaluate } from '../../src/policy/decide.js';
import type { PolicySnapshot } from '../../src/policy/snapshot.js';
import { ruleTagNeeds } from '../../src/policy/tag-needs.js';
import { ServiceTagManager } from '../../src/service-tags/manager.js';
import { closedPort, startFakeMicrosoft, type FakeMicrosoft, type FakeMode } from '../helpers/fake-microsoft.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { connectThrough, tlsOver } from '../helpers/raw.js';
import { loopbackTags, serviceTagsJson, type TestTag } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'myregistry.azurecr.io';

/** Change 2: 127.0.0.2 leaves AzureContainerRegistry.EastUS (to WestUS), 127.0.0.22 joins it. */
function moved(): TestTag[] {
  return loopbackTags().map((t) =>
    t.name === 'AzureContainerRegistry.EastUS'
      ? { ...t, prefixes: ['127.0.0.22/32'] }
      : t.name === 'AzureContainerRegistry.WestUS'
        ? { ...t, prefixes: ['127.0.0.2/32', '127.0.0.12/32'] }
        : t,
  );
}

const V1 = serviceTagsJson(loopbackTags(), 1);
const V2 = serviceTagsJson(moved(), 2);

function decide(policy: PolicySnapshot, ip: string): string {
  const { decision } = evaluate(policy, { host: HOST, port: acr.port, ip });
  return decision.allowed ? `allowed tag=${decision.tag}` : `blocked ${decision.reason}`;
}

/** One keep-alive request over an open TLS tunnel; resolves with the response text. */
function exchange(tls: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('latin1');
      if (!buf.includes(`ok ${HOST}`)) return;
      tls.off('data', onData);
      resolve(buf);
    };
    tls.on('data', onData);
    tls.once('error', reject);
    tls.write(`GET /v2/ HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
  });
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'acr-egress-st-'));
}

let fake: FakeMicrosoft;
let acr: Upstream;

beforeAll(async () => {
  fake = await startFakeMicrosoft();
  acr = await startUpstream({ host: '127.0.0.2', names: [HOST] });
});

afterAll(async () => {
  await fake?.close();
  await acr?.close();
});

function gatewayConfig(serviceTags: Record<string, unknown>): Record<string, unknown> {
  return testConfig({
    proxy: {
      listen: '127.0.0.1:0',
      ports: [acr.port],
      clientHelloTimeoutMs: 2000,
      connectTimeoutMs: 2000,
      drainTimeoutMs: 500,
    },
    serviceTags: { enforce: true, refreshHours: 24, fetchTimeoutMs: 2000, ...serviceTags },
    dns: {
      servers: ['127.0.0.1:1'],
      timeoutMs: 300,
      overrides: { [HOST]: ['127.0.0.2'], 'mcr.microsoft.com': ['127.0.0.9'] },
    },
  });
}

describe('a running gateway follows the refreshed service tags', () => {
  let gw: TestGateway;
  let cache: string;

  beforeAll(async () => {
    fake.setMode('ok');
    fake.publish(V1);
    cache = join(tempDir(), 'data', 'service-tags.json');
    gw = await startGateway(gatewayConfig({ source: fake.detailsUrl(), cacheFile: cache }));
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('discovers the file on the details page, downloads, validates, caches and swaps it in', async () => {
    const result = await gw.gateway.serviceTags.refresh();
    expect(result.ok).toBe(true);
    const status = gw.gateway.serviceTags.status();
    expect(status).toMatchObject({ changeNumber: 1, cloud: 'Public', lastError: null, stale: false });
    expect(status.source).toMatch(/\/download\/.*\/ServiceTags_Public_\d{8}\.json$/);
    expect(fake.requests.map((r) => r.path)).toEqual(expect.arrayContaining(['/en-us/download/details.aspx?id=56519']));
    expect(fake.requests.every((r) => /^acr-egress\/\d+\.\d+\.\d+$/.test(r.userAgent ?? ''))).toBe(true);
    expect(readFileSync(cache, 'utf8')).toBe(V1);
    expect(gw.gateway.policy.tags?.changeNumber).toBe(1);
    expect(decide(gw.gateway.policy, '127.0.0.2')).toBe('allowed tag=AzureContainerRegistry.EastUS');
    expect(decide(gw.gateway.policy, '127.0.0.22')).toBe('blocked ip_not_in_service_tag');
  });

  it('swaps to a newer file found through the confirmation page; a tunnel opened before keeps working', async () => {
    const answer = await connectThrough(gw.port, `${HOST}:${acr.port}`);
    expect(answer.status).toBe(200);
    const tls = await tlsOver(answer.socket, HOST, acr.ca);
    expect(await exchange(tls)).toContain(`ok ${HOST}`);

    fake.publish(V2, '20251113');
    fake.setMode('confirmation');
    const result = await gw.gateway.serviceTags.refresh();
    expect(result).toMatchObject({
      ok: true,
      changed: true,
      changes: [{ tag: 'AzureContainerRegistry.EastUS', added: 1, removed: 1 }],
    });
    expect(fake.requests.some((r) => r.path === '/en-us/download/confirmation.aspx?id=56519')).toBe(true);
    expect(gw.gateway.policy.tags?.changeNumber).toBe(2);
    expect(readFileSync(cache, 'utf8')).toBe(V2);

    // The tunnel in flight keeps the decision it was opened with.
    expect(await exchange(tls)).toContain(`ok ${HOST}`);
    tls.destroy();

    // New tunnels see the new ranges.
    const after = await connectThrough(gw.port, `${HOST}:${acr.port}`);
    expect(after.status).toBe(403);
    expect(after.headers['x-acr-egress-reason']).toBe('ip_not_in_service_tag');
    after.socket.destroy();
    expect(decide(gw.gateway.policy, '127.0.0.2')).toBe('blocked ip_not_in_service_tag');
    expect(decide(gw.gateway.policy, '127.0.0.22')).toBe('allowed tag=AzureContainerRegistry.EastUS');
  });
});

describe('a bad source never changes the data in use', () => {
  let dir: string;
  let cache: string;
  let deadPort: number;
  const IN_USE = serviceTagsJson(loopbackTags(), 5);

  beforeAll(async () => {
    dir = tempDir();
    cache = join(dir, 'cache.json');
    deadPort = await closedPort();
  });

  // kind: how the log line names the failure (the download, or the data it brought).
  const cases: Array<{
    name: string;
    mode?: FakeMode;
    body?: string;
    source?: () => string;
    error: RegExp;
    kind?: 'data refused';
  }> = [
    {
      name: 'connection refused',
      source: () => `http://127.0.0.1:${deadPort}/en-us/download/details.aspx?id=56519`,
      error: /connection refused \(ECONNREFUSED\)/,
    },
    { name: 'no answer before the timeout', mode: 'hang', error: /no complete answer within 300 ms/ },
    { name: 'a body that stalls past the timeout', mode: 'stall-body', error: /no complete answer within 300 ms/ },
    { name: 'HTTP 500', mode: 'http-500', error: /details\.aspx\?id=56519: HTTP 500/ },
    {
      name: 'an HTML page without a file link',
      mode: 'no-link',
      error:
        /no ServiceTags_Public_<date>\.json link found on .*details\.aspx\?id=56519 or .*confirmation\.aspx\?id=56519/,
    },
    { name: 'truncated JSON', mode: 'truncated', error: /not valid JSON.*truncated download/, kind: 'data refused' },
    {
      name: 'a connection closed before the promised length',
      mode: 'cut',
      error: /GET http:\/\/127\.0\.0\.1:\d+\/download\/.*ServiceTags_Public_\d{8}\.json: /,
    },
    {
      name: 'valid JSON of the wrong shape',
      body: '{"changeNumber":6,"cloud":"Public","values":{"AzureContainerRegistry":[]}}',
      error: /values: expected an array/,
      kind: 'data refused',
    },
    {
      name: 'a lower change number',
      body: serviceTagsJson(loopbackTags(), 4),
      error: /change number 4 is lower than 5 in use/,
      kind: 'data refused',
    },
    {
      name: 'the wrong cloud',
      body: serviceTagsJson(loopbackTags(), 6, 'AzureGovernment'),
      error: /cloud "AzureGovernment", but cloud AzureCloud needs "Public"/,
      kind: 'data refused',
    },
    { name: 'a streamed file over the size cap', mode: 'huge', error: /exceeds serviceTags\.maxBytes \(65536 bytes\)/ },
    {
      name: 'a declared length over the size cap',
      mode: 'huge-declared',
      error: /Content-Length 1073741824 exceeds serviceTags\.maxBytes/,
    },
    {
      name: 'a redirect to plain http off loopback',
      mode: 'redirect-http',
      error: /to http:\/\/192\.0\.2\.10\/.* refused: plain http is allowed only to a loopback host/,
    },
    { name: 'a redirect loop', mode: 'redirect-loop', error: /more than 5 redirects/ },
    { name: 'a JSON URL answering HTTP 500', mode: 'http-500', source: () => fake.jsonUrl, error: /\/json: HTTP 500/ },
  ];

  const config = (source: string) => ({
    ...testConfig({ serviceTags: { enforce: true, source, cacheFile: cache, fetchTimeoutMs: 300, maxBytes: 65536 } }),
  });

  it.each(cases)(
    'refuses $name: index, policy input and cache stay; reported in status, log and exit 1',
    async ({ mode, body, source, error, kind = 'download failed' }) => {
      writeFileSync(cache, IN_USE);
      fake.setMode(mode ?? 'ok');
      fake.publish(body ?? serviceTagsJson(loopbackTags(), 6));
      const src = source?.() ?? fake.detailsUrl();
      const logs: Array<Record<string, unknown>> = [];
      const log = pino(
        { level: 'warn' },
        { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) },
      );
      const updates: unknown[] = [];
      const m = new ServiceTagManager({
        config: buildConfig(config(src), null),
        needs: ruleTagNeeds,
        log,
        onUpdate: (i) => updates.push(i),
      });
      const before = await m.loadInitial();
      expect(before?.changeNumber).toBe(5);

      const result = await m.refresh();
      expect(result.ok).toBe(false);
      expect(result.ok ? '' : result.error).toMatch(error);
      expect(m.index).toBe(before);
      expect(updates).toEqual([]);
      expect(m.status()).toMatchObject({ changeNumber: 5, failures: 1, lastError: expect.stringMatching(error) });
      expect(
        logs.some(
          (l) =>
            String(l.msg).startsWith(`service-tag ${kind} (`) &&
            String(l.msg).includes('; keeping the data in use (change 5); ') &&
            error.test(String(l.err)),
        ),
      ).toBe(true);
      expect(readFileSync(cache, 'utf8')).toBe(IN_USE);

      const configFile = join(dir, 'config.json');
      writeFileSync(configFile, JSON.stringify(config(src)));
      const out: string[] = [];
      const err: string[] = [];
      const code = await runTags({ out: (l) => out.push(l), err: (l) => err.push(l) }, [
        'update',
        '--config',
        configFile,
      ]);
      expect(code).toBe(1);
      expect(out).toEqual([]);
      expect(err.join('\n')).toMatch(error);
      expect(err.join('\n')).toContain(`the cache file ${cache} is unchanged (change 5)`);
      expect(readFileSync(cache, 'utf8')).toBe(IN_USE);
    },
  );

  it.each<{ name: string; mode: FakeMode; source: () => string }>([
    {
      name: 'follows a loopback redirect to a mirror',
      mode: 'redirect-ok',
      source: () => fake.detailsUrl(),
    },
    { name: 'reads a direct JSON URL', mode: 'ok', source: () => fake.jsonUrl },
  ])('accepts a good file when it $name, and `tags update` writes the cache', async ({ mode, source }) => {
    writeFileSync(cache, IN_USE);
    fake.setMode(mode);
    fake.publish(serviceTagsJson(moved(), 6));
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(config(source())));
    const out: string[] = [];
    const code = await runTags({ out: (l) => out.push(l), err: (l) => out.push(l) }, [
      'update',
      '--config',
      configFile,
    ]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^updated: change 6 \(was 5\), cloud Public, from http:\/\/127\.0\.0\.1:\d+\//);
    expect(out).toContain('  AzureContainerRegistry.EastUS: 1 prefixes (+1 -1)');
    expect(readFileSync(cache, 'utf8')).toBe(serviceTagsJson(moved(), 6));
  });

  it('takes a lower change number with `tags update --force`', async () => {
    writeFileSync(cache, IN_USE);
    fake.setMode('ok');
    fake.publish(serviceTagsJson(moved(), 4));
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(config(fake.detailsUrl())));
    const io = { out: () => undefined, err: () => undefined };
    expect(await runTags(io, ['update', '--config', configFile])).toBe(1);
    expect(await runTags(io, ['update', '--config', configFile, '--force'])).toBe(0);
    expect(readFileSync(cache, 'utf8')).toBe(serviceTagsJson(moved(), 4));
  });
});

describe('a restart with only the cache', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    const dir = tempDir();
    const cache = join(dir, 'data', 'service-tags.json');
    mkdirSync(join(dir, 'data'));
    writeFileSync(cache, V1);
    const dead = await closedPort();
    gw = await startGateway(
      gatewayConfig({ source: `http://127.0.0.1:${dead}/en-us/download/details.aspx?id=56519`, cacheFile: cache }),
    );
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('enforces the cached ranges from the first connection while the source is unreachable', async () => {
    expect(gw.gateway.policy.tags?.changeNumber).toBe(1);
    const allowed = await connectThrough(gw.port, `${HOST}:${acr.port}`);
    expect(allowed.status).toBe(200);
    const tls = await tlsOver(allowed.socket, HOST, acr.ca);
    expect(await exchange(tls)).toContain(`ok ${HOST}`);
    tls.destroy();
    // mcr.microsoft.com resolves to 127.0.0.9, outside MicrosoftContainerRegistry (127.0.0.4): a range
    // block, not service_tags_unavailable, proves the cached data is in force.
    const blocked = await connectThrough(gw.port, `mcr.microsoft.com:${acr.port}`);
    expect(blocked.status).toBe(403);
    expect(blocked.headers['x-acr-egress-reason']).toBe('ip_not_in_service_tag');
    blocked.socket.destroy();

    // The cache is fresh, so the schedule waits; an admin-triggered refresh fails and changes nothing.
    const result = await gw.gateway.serviceTags.refresh();
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/connection refused/) });
    expect(gw.gateway.serviceTags.status()).toMatchObject({
      changeNumber: 1,
      lastError: expect.stringMatching(/connection refused/),
    });
    expect(gw.gateway.policy.tags?.changeNumber).toBe(1);
  });
});

describe('the schedule', () => {
  let gw: TestGateway;

  afterAll(async () => {
    await gw?.stop();
  });

  it('picks up a newer file on its own, without a restart', async () => {
    const dir = tempDir();
    const cache = join(dir, 'service-tags.json');
    writeFileSync(cache, V1);
    fake.setMode('ok');
    fake.publish(V2, '20251113');
    // 0.0002 h = 0.72 s: the cache is fresh, so the first refresh waits for the timer.
    gw = await startGateway(gatewayConfig({ source: fake.detailsUrl(), cacheFile: cache, refreshHours: 0.0002 }));
    expect(gw.gateway.policy.tags?.changeNumber).toBe(1);
    expect(gw.gateway.serviceTags.status().nextRefreshAt).not.toBeNull();
    await expect.poll(() => gw.gateway.policy.tags?.changeNumber, { timeout: 10_000 }).toBe(2);
    expect(decide(gw.gateway.policy, '127.0.0.22')).toBe('allowed tag=AzureContainerRegistry.EastUS');
  });
});

describe('a config reload', () => {
  let gw: TestGateway;

  afterAll(async () => {
    await gw?.stop();
  });

  it('re-reads the tags when the source changed, and keeps them when it did not', async () => {
    const dir = tempDir();
    const first = join(dir, 'first.json');
    const second = join(dir, 'second.json');
    writeFileSync(first, V1);
    writeFileSync(second, serviceTagsJson(moved(), 1)); // a new source may number its own way
    gw = await startGateway(gatewayConfig({ source: first, cacheFile: null }));
    const index = gw.gateway.serviceTags.index;
    expect(decide(gw.gateway.policy, '127.0.0.2')).toBe('allowed tag=AzureContainerRegistry.EastUS');

    const rewrite = (source: string, extra: Record<string, unknown> = {}) => {
      const config = JSON.parse(readFileSync(gw.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
      config.serviceTags = { ...config.serviceTags, source, ...extra };
      writeFileSync(gw.configFile, JSON.stringify(config));
    };
    rewrite(first, { maxAgeDays: 10 });
    expect(await gw.gateway.reload()).toMatchObject({ ok: true, changed: true });
    expect(gw.gateway.serviceTags.index).toBe(index);

    rewrite(second);
    expect(await gw.gateway.reload()).toMatchObject({ ok: true });
    expect(gw.gateway.serviceTags.status().source).toBe(second);
    expect(decide(gw.gateway.policy, '127.0.0.2')).toBe('blocked ip_not_in_service_tag');
    expect(decide(gw.gateway.policy, '127.0.0.22')).toBe('allowed tag=AzureContainerRegistry.EastUS');
  });
});
