// The operational log as a log store sees it: a gateway driven through start, an allowed and a
// blocked tunnel, the admin API, a refused and an accepted reload and a stop, with every line parsed
// and checked for keys written twice (pino appends child bindings, so a repeated binding repeats).
import { readFileSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/admin/app.js';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { VERSION } from '../../src/version.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { duplicateKeys } from '../helpers/json-keys.js';
import { connectThrough, httpsGet, tlsOver } from '../helpers/raw.js';
import { writeTagsFile } from '../helpers/tags.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN = 'operational-log-token-8c1e';
const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  },
});

let acr: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  acr = await startUpstream({ host: '127.0.0.2', names: ['myregistry.azurecr.io'] });
  gw = await startGateway(
    testConfig({
      proxy: { listen: '127.0.0.1:0', ports: [acr.port], clientHelloTimeoutMs: 2000, drainTimeoutMs: 500 },
      serviceTags: { enforce: true, source: writeTagsFile(), cacheFile: null },
      dns: { servers: ['127.0.0.1:1'], timeoutMs: 300, overrides: { 'myregistry.azurecr.io': ['127.0.0.2'] } },
      admin: { listen: null, token: TOKEN },
      log: { level: 'trace' },
    }),
    // The gateway builds its own logger, as serve does, writing into the sink.
    { logDestination: sink },
  );

  // An allowed tunnel carrying one request, and a blocked CONNECT.
  const open = await connectThrough(gw.port, `myregistry.azurecr.io:${acr.port}`);
  const tls = await tlsOver(open.socket, 'myregistry.azurecr.io', acr.ca);
  expect(await httpsGet(tls, 'myregistry.azurecr.io', '/v2/')).toContain('ok myregistry.azurecr.io');
  await gw.waitForRecord((r) => r.decision === 'allowed' && r.bytesDown !== null, 20_000);
  expect((await connectThrough(gw.port, `evil.example:${acr.port}`)).status).toBe(403);

  // The admin API on the gateway's own log: an answer, a refused token, a reload through the API.
  const app = createAdminApp(adminDepsFromGateway(gw.gateway));
  await app.ready();
  expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
  expect((await app.inject({ url: '/api/v1/logs', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);

  // A refused reload (not JSON), then an accepted one that changes the rules.
  const good = readFileSync(gw.configFile, 'utf8');
  writeFileSync(gw.configFile, '{ not json');
  expect((await gw.gateway.reload()).ok).toBe(false);
  const changed = JSON.parse(good) as Record<string, unknown>;
  writeFileSync(gw.configFile, JSON.stringify({ ...changed, allow: ['extra.example'] }));
  const reloaded = await app.inject({
    method: 'POST',
    url: '/api/v1/reload',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(reloaded.statusCode).toBe(200);

  await app.close();
  await gw.stop();
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await acr?.close();
});

describe('the operational log', () => {
  it('has lines from the gateway, the service-tag manager and the admin API', () => {
    const components = new Set(lines.map((l) => (JSON.parse(l) as { component?: string }).component));
    expect([...components]).toEqual(expect.arrayContaining(['gateway', 'service-tags', 'admin']));
    expect(lines.length).toBeGreaterThan(5);
  });

  it('writes no key twice in any line', () => {
    const offenders = lines.map((line) => ({ line, keys: duplicateKeys(line) })).filter((l) => l.keys.length > 0);
    expect(offenders).toEqual([]);
  });

  it('names the version in the "proxy listening" line', () => {
    const listening = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'proxy listening');
    expect(listening).toMatchObject({ component: 'gateway', version: VERSION });
  });
});

describe('duplicateKeys', () => {
  it.each([
    ['{"a":1,"b":2}', []],
    ['{"a":1,"a":2}', ['$.a']],
    ['{"component":"gateway","x":1,"component":"proxy"}', ['$.component']],
    ['{"a":{"a":1},"b":[{"a":1},{"a":2}]}', []],
    ['{"err":{"code":"X","code":"Y"}}', ['$.err.code']],
    ['{"a":[{"k":1,"k":2}]}', ['$.a[].k']],
    ['{"msg":"a \\"quoted\\" {brace}, \\"msg\\":1","msg":2}', ['$.msg']],
    ['{"v":"\\\\","v":1}', ['$.v']],
  ])('finds %s -> %j', (json, expected) => {
    expect(duplicateKeys(json)).toEqual(expected);
  });
});
