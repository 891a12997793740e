// The admin API over a real socket in front of a real gateway: real tunnels (allowed and blocked) show
// up with their reasons, bytes and durations, live on the SSE stream, in stats and metrics, and again
// after a restart rebuilt the store from the audit log. No token appears anywhere.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { startAdmin, type RunningAdmin } from '../../src/admin/start.js';
import type { DecisionRecord } from '../../src/audit/record.js';
import { rebuildFromLog } from '../../src/audit/tail.js';
import { Gateway } from '../../src/gateway.js';
import { CONNECT_ESTABLISHED } from '../../src/proxy/responses.js';
import { connectThrough, httpsGet, readToEnd, tlsOver } from '../helpers/raw.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN = 'integration-admin-token-5f3a9c';
const logLines: string[] = [];
const answers: string[] = [];
const captureLog = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString('utf8'));
      cb();
    },
  }),
);

let acr: Upstream;
let gw: TestGateway;
let admin: RunningAdmin;
let base: string;
const sse = { text: '', abort: new AbortController(), done: Promise.resolve() };

async function api<T>(path: string, init: RequestInit = {}, url = base): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...init.headers } });
  const text = await res.text();
  answers.push(text, JSON.stringify([...res.headers]));
  return {
    status: res.status,
    body: (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as T) : (text as T),
  };
}

/** The tunnels this test opened, measured at the client: bytes after the CONNECT exchange and wall time. */
const made: { allowed?: { up: number; down: number; elapsedMs: number } } = {};

beforeAll(async () => {
  acr = await startUpstream({
    host: '127.0.0.2',
    names: ['myregistry.azurecr.io', 'other.azurecr.io'],
    body: () => 'x'.repeat(20_000),
  });
  gw = await startGateway(
    testConfig({
      proxy: {
        listen: '127.0.0.1:0',
        ports: [acr.port],
        clientHelloTimeoutMs: 1000,
        connectTimeoutMs: 2000,
        drainTimeoutMs: 500,
      },
      serviceTags: { enforce: true, source: writeTagsFile(), cacheFile: null },
      dns: {
        servers: ['127.0.0.1:1'],
        timeoutMs: 300,
        overrides: { 'myregistry.azurecr.io': ['127.0.0.2'], 'mcr.microsoft.com': ['127.0.0.9'] },
      },
      admin: { listen: null, token: TOKEN },
    }),
  );
  admin = (await startAdmin(adminDepsFromGateway(gw.gateway, { log: captureLog }), '127.0.0.1:0', {
    heartbeatMs: 200,
  })) as RunningAdmin;
  base = `http://127.0.0.1:${admin.address.port}`;

  // The live stream, connected before any tunnel.
  const res = await fetch(`${base}/api/v1/logs/stream`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: sse.abort.signal,
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  sse.done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        sse.text += decoder.decode(value, { stream: true });
      }
    } catch {
      // aborted at the end of the test
    }
  })();
  await vi.waitFor(() => expect(sse.text).toContain(': connected'), { timeout: 10_000, interval: 10 });

  // 1. An allowed tunnel carrying a request and a 20 kB answer.
  const authority = `myregistry.azurecr.io:${acr.port}`;
  const started = Date.now();
  const open = await connectThrough(gw.port, authority);
  const tls = await tlsOver(open.socket, 'myregistry.azurecr.io', acr.ca);
  expect(await httpsGet(tls, 'myregistry.azurecr.io', '/v2/')).toContain('x'.repeat(100));
  await gw.waitForRecord((r) => r.decision === 'allowed' && r.bytesDown !== null);
  made.allowed = {
    up: open.socket.bytesWritten - Buffer.byteLength(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
    down: open.socket.bytesRead - CONNECT_ESTABLISHED.length,
    elapsedMs: Date.now() - started,
  };
  // 2-4. Three blocks: a host no rule allows, a port not allowed, an address outside the MCR tag.
  for (const target of [`evil.example.org:${acr.port}`, 'myregistry.azurecr.io:22', `mcr.microsoft.com:${acr.port}`]) {
    const a = await connectThrough(gw.port, target);
    a.socket.destroy();
  }
  // 5. A tunnel closed for a mismatching SNI.
  const fronted = await connectThrough(gw.port, authority);
  const t = tlsConnect({ socket: fronted.socket, servername: 'other.azurecr.io', ca: acr.ca });
  t.on('error', () => undefined);
  await readToEnd(fronted.socket, 5000);
  await gw.waitForRecord((r) => r.reason === 'sni_mismatch');
});

afterAll(async () => {
  sse.abort.abort();
  await sse.done;
  await admin?.app.close();
  await gw?.stop();
  await acr?.close();
});

const EXPECTED = [
  {
    decision: 'blocked',
    reason: 'sni_mismatch',
    host: 'myregistry.azurecr.io',
    sni: 'other.azurecr.io',
    rule: 'registry:myregistry:login',
  },
  {
    decision: 'blocked',
    reason: 'ip_not_in_service_tag',
    host: 'mcr.microsoft.com',
    ip: '127.0.0.9',
    rule: 'mcr:login',
  },
  { decision: 'blocked', reason: 'port_not_allowed', host: 'myregistry.azurecr.io', port: 22 },
  { decision: 'blocked', reason: 'host_not_allowed', host: 'evil.example.org', rule: null },
  {
    decision: 'allowed',
    reason: null,
    host: 'myregistry.azurecr.io',
    rule: 'registry:myregistry:login',
    tag: 'AzureContainerRegistry.EastUS',
    ip: '127.0.0.2',
    sni: 'myregistry.azurecr.io',
  },
];

describe('GET /api/v1/logs over a real socket', () => {
  it('shows exactly the decisions the tunnels made, newest first, with their reasons', async () => {
    const { status, body } = await api<{ items: DecisionRecord[]; nextCursor: string | null }>(
      '/api/v1/logs?limit=1000',
    );
    expect(status).toBe(200);
    expect(body.nextCursor).toBeNull();
    expect(body.items).toHaveLength(EXPECTED.length);
    body.items.forEach((item, i) =>
      expect(item).toMatchObject({ mode: 'connect', client: '127.0.0.1', ...EXPECTED[i] }),
    );
    expect(body.items).toEqual(gw.records().reverse());
  });

  it('carries the bytes the client saw and a duration within the time the client took', async () => {
    const { body } = await api<{ items: DecisionRecord[] }>('/api/v1/logs?decision=allowed');
    const rec = body.items[0] as DecisionRecord;
    expect(rec.bytesUp).toBe(made.allowed?.up);
    expect(rec.bytesDown).toBe(made.allowed?.down);
    expect(rec.bytesDown).toBeGreaterThan(20_000);
    expect(rec.durationMs).toBeGreaterThanOrEqual(0);
    expect(rec.durationMs).toBeLessThanOrEqual((made.allowed?.elapsedMs ?? 0) + 1);
    const blocked = await api<{ items: DecisionRecord[] }>('/api/v1/logs?reason=host_not_allowed');
    expect(blocked.body.items[0]).toMatchObject({ bytesUp: null, bytesDown: null });
  });

  it('filters over HTTP like in the store', async () => {
    const hosts = async (q: string) =>
      (await api<{ items: DecisionRecord[] }>(`/api/v1/logs?${q}`)).body.items.map((r) => r.reason ?? 'allowed');
    expect(await hosts('decision=blocked&since=1h')).toEqual([
      'sni_mismatch',
      'ip_not_in_service_tag',
      'port_not_allowed',
      'host_not_allowed',
    ]);
    expect(await hosts(`host=${encodeURIComponent('*.microsoft.com')}`)).toEqual(['ip_not_in_service_tag']);
    expect(await hosts('client=127.0.0.0/8&rule=registry:myregistry:login')).toEqual(['sni_mismatch', 'allowed']);
  });
});

describe('GET /api/v1/logs/stream', () => {
  it('delivered every record produced after it connected, in order', async () => {
    const ids = gw.records().map((r) => r.id);
    await expect.poll(() => ids.filter((id) => !sse.text.includes(`id: ${id}`)), { timeout: 10_000 }).toEqual([]);
    const events = sse.text
      .split('\n\n')
      .filter((e) => e.startsWith('id: '))
      .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)) as DecisionRecord);
    expect(events).toEqual(gw.records());
  });
});

describe('stats, metrics, service tags and check', () => {
  it('GET /api/v1/stats totals the same decisions', async () => {
    const { body } = await api<{ decisions: object; reasons: object; topBlockedHosts: { host: string }[] }>(
      '/api/v1/stats?since=1h',
    );
    expect(body.decisions).toEqual({ allowed: 1, blocked: 4 });
    expect(body.reasons).toEqual({
      sni_mismatch: 1,
      ip_not_in_service_tag: 1,
      port_not_allowed: 1,
      host_not_allowed: 1,
    });
  });

  it('GET /metrics counts the decisions and the tunnel bytes', async () => {
    const res = await fetch(`${base}/metrics`);
    const text = await res.text();
    expect(text).toContain(
      'acr_egress_decisions_total{decision="allowed",reason="none",rule="registry:myregistry:login"} 1',
    );
    expect(text).toContain('acr_egress_decisions_total{decision="blocked",reason="host_not_allowed",rule="none"} 1');
    expect(text).toContain(`acr_egress_tunnel_bytes_total{direction="down"} ${made.allowed?.down}`);
    expect(text).toContain('acr_egress_tunnels_active 0');
    expect(text).toContain('acr_egress_service_tags_change_number 1');
    expect(text).toMatch(/acr_egress_decision_duration_seconds_count [1-9]/);
    expect(text).toMatch(/acr_egress_client_hello_wait_seconds_count [1-9]/);
    expect(text).toContain('acr_egress_tunnel_duration_seconds_count 1');
  });

  it('GET /api/v1/service-tags shows the loaded file', async () => {
    const { body } = await api<{ changeNumber: number; tags: Record<string, number> }>('/api/v1/service-tags');
    expect(body.changeNumber).toBe(1);
    expect(body.tags).toMatchObject({ 'AzureContainerRegistry.EastUS': 1 });
  });

  it('POST /api/v1/check resolves through the gateway when asked', async () => {
    const { body } = await api<DecisionRecord>('/api/v1/check', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host: 'myregistry.azurecr.io', port: acr.port, resolve: true }),
    });
    expect(body).toMatchObject({
      mode: 'check',
      decision: 'allowed',
      ip: '127.0.0.2',
      tag: 'AzureContainerRegistry.EastUS',
    });
  });

  it('GET /readyz is ready', async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });
});

describe('restart', () => {
  it('a new gateway on the same log file rebuilds the store and the API shows the same records', async () => {
    const before = gw.records();
    await gw.stop(); // flushes the audit log
    const second = await Gateway.create({ configFile: gw.configFile, logger: pino({ level: 'silent' }) });
    const rebuilt = await rebuildFromLog(second.store, gw.logFile, second.config.config.log.recent);
    expect(rebuilt).toEqual({ added: before.length, skipped: 0 });
    const again = (await startAdmin(adminDepsFromGateway(second, { log: captureLog }), '127.0.0.1:0')) as RunningAdmin;
    try {
      const { body } = await api<{ items: DecisionRecord[] }>(
        '/api/v1/logs',
        {},
        `http://127.0.0.1:${again.address.port}`,
      );
      expect(body.items).toEqual([...before].reverse());
    } finally {
      await again.app.close();
      await second.stop();
    }
  });
});

describe('secrets', () => {
  it('the token is in no admin log line, no answer and not in the audit log', () => {
    expect(logLines.join('')).toContain('"tokenName":"default"');
    expect(logLines.join('')).not.toContain(TOKEN);
    expect(answers.join('\n')).not.toContain(TOKEN);
    expect(readFileSync(gw.logFile, 'utf8')).not.toContain(TOKEN);
  });
});
