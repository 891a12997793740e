// `acr-egress logs` against a real admin API on loopback: table and JSON output, filters, cursors past
// 1000, --follow, and clear failures (no token, nothing listening, bad flags).
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type RunningAdmin } from '../../../src/admin/start.js';
import type { DecisionRecord } from '../../../src/audit/record.js';
import { formatBytes, formatRow, runLogs } from '../../../src/cli/logs.js';
import type { Io } from '../../../src/cli/output.js';
import { DEFAULT_TOKEN, fakeDeps, rec, type Fake } from '../admin/fake-deps.js';

let fake: Fake;
let admin: RunningAdmin;
let url: string;

beforeAll(async () => {
  fake = fakeDeps();
  for (let i = 0; i < 1500; i++)
    fake.store.add(
      rec({ host: `bulk${i}.example.com`, time: new Date(Date.now() - 3 * 3_600_000).toISOString(), durationMs: 0 }),
    );
  fake.store.add(rec({ host: 'myregistry.azurecr.io', client: '10.0.0.5', bytesUp: 1234, bytesDown: 5_678_901 }));
  fake.store.add(
    rec({
      host: 'evil.example.org',
      decision: 'blocked',
      reason: 'host_not_allowed',
      rule: null,
      tag: null,
      bytesUp: null,
      bytesDown: null,
      client: '10.0.0.6',
    }),
  );
  admin = (await startAdmin(fake.deps, '127.0.0.1:0')) as RunningAdmin;
  url = `http://127.0.0.1:${admin.address.port}`;
});
afterAll(() => admin.app.close());

async function logs(argv: string[], env: NodeJS.ProcessEnv = {}, signal?: AbortSignal, onOut?: (l: string) => void) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (l) => {
      out.push(l);
      onOut?.(l);
    },
    err: (l) => err.push(l),
  };
  const code = await runLogs(io, argv, { env, signal });
  return { code, out, err };
}

const api = (): string[] => ['--url', url];

describe('acr-egress logs', () => {
  it('prints a table, oldest first, with time, decision, reason, client, host:port, rule and bytes', async () => {
    const { code, out } = await logs(['--url', url, '--token', DEFAULT_TOKEN, '--since', '1h']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^TIME\s+DECISION\s+REASON\s+CLIENT\s+HOST:PORT\s+RULE\s+BYTES UP\/DOWN$/);
    expect(out).toHaveLength(3);
    expect(out[1]).toMatch(
      /^\S+Z\s+allowed\s+-\s+10\.0\.0\.5\s+myregistry\.azurecr\.io:443\s+registry:myregistry:login\s+1\.2KiB\/5\.4MiB$/,
    );
    expect(out[2]).toMatch(/blocked\s+host_not_allowed\s+10\.0\.0\.6\s+evil\.example\.org:443\s+-\s+-$/);
  });

  it.each([
    { flags: ['--blocked'], hosts: ['evil.example.org'] },
    { flags: ['--allowed', '--since', '1h'], hosts: ['myregistry.azurecr.io'] },
    { flags: ['--host', '*.azurecr.io'], hosts: ['myregistry.azurecr.io'] },
    { flags: ['--client', '10.0.0.6'], hosts: ['evil.example.org'] },
    { flags: ['--reason', 'host_not_allowed'], hosts: ['evil.example.org'] },
    { flags: ['--limit', '3'], hosts: ['bulk1499.example.com', 'myregistry.azurecr.io', 'evil.example.org'] },
  ])('passes $flags as filters and prints JSON lines with --json', async ({ flags, hosts }) => {
    const { code, out } = await logs([...api(), '--json', ...flags], { ACR_EGRESS_ADMIN_TOKEN: DEFAULT_TOKEN });
    expect(code).toBe(0);
    expect(out.map((l) => (JSON.parse(l) as DecisionRecord).host)).toEqual(hosts);
  });

  it('follows cursors for a limit above one page', async () => {
    const { code, out } = await logs([...api(), '--json', '--limit', '1200'], {
      ACR_EGRESS_ADMIN_TOKEN: DEFAULT_TOKEN,
    });
    expect(code).toBe(0);
    expect(out).toHaveLength(1200);
    expect(new Set(out).size).toBe(1200);
  });

  it('takes the URL and token from the environment', async () => {
    const { code } = await logs(['--blocked'], { ACR_EGRESS_ADMIN_URL: url, ACR_EGRESS_ADMIN_TOKEN: DEFAULT_TOKEN });
    expect(code).toBe(0);
  });

  it('with --follow prints records written after it started, until stopped', async () => {
    const stop = new AbortController();
    const seen = new Promise<void>((resolve) => {
      void logs([...api(), '--token', DEFAULT_TOKEN, '--json', '--blocked', '--follow'], {}, stop.signal, (line) => {
        if (line.includes('live.example.org')) resolve();
      }).then((r) => expect(r.code).toBe(0));
    });
    // Written until the stream has picked one up (it connects after printing the recent page).
    const timer = setInterval(
      () => fake.store.add(rec({ host: 'live.example.org', decision: 'blocked', reason: 'host_not_allowed' })),
      20,
    );
    await seen;
    clearInterval(timer);
    stop.abort();
  });

  it('exits 1 with a hint and no token in the output when the token is missing or wrong', async () => {
    for (const env of [{}, { ACR_EGRESS_ADMIN_TOKEN: 'wrong-token-0123456789' }]) {
      const { code, out, err } = await logs(api(), env);
      expect(code).toBe(1);
      expect(err.join('\n')).toMatch(/401 unauthorized: .* \(give --token or set ACR_EGRESS_ADMIN_TOKEN\)/);
      expect([...out, ...err].join('\n')).not.toContain('wrong-token-0123456789');
    }
  });

  it('exits 1 when nothing listens at the URL', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    const { code, err } = await logs(['--url', `http://127.0.0.1:${port}`]);
    expect(code).toBe(1);
    expect(err[0]).toMatch(/cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('answers 400 problems from the API', async () => {
    const { code, err } = await logs([...api(), '--token', DEFAULT_TOKEN, '--since', 'yesterday']);
    expect(code).toBe(1);
    expect(err[0]).toMatch(/400 bad_request: since:/);
  });

  it.each([
    [['--blocked', '--allowed']],
    [['--limit', '0']],
    [['--limit', 'many']],
    [['--colour']],
    [['positional']],
    [['--url', 'ftp://x']],
  ])('exits 2 on usage error %j', async (argv) => {
    const { code, err } = await logs(argv);
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^acr-egress: logs[: ].*: try acr-egress logs --help$/);
  });
});

describe('formatting', () => {
  it.each([
    [null, '-'],
    [0, '0B'],
    [1023, '1023B'],
    [1536, '1.5KiB'],
    [50 * 1024 * 1024, '50MiB'],
    [3 * 1024 ** 4, '3.0TiB'],
  ])('formatBytes(%s) is %s', (n, expected) => {
    expect(formatBytes(n)).toBe(expected);
  });

  it('shows a report-mode allow with its would-be reason and brackets IPv6 hosts', () => {
    const row = formatRow(
      rec({
        reason: 'sni_mismatch',
        report: true,
        host: '2001:db8::1',
        port: 443,
        client: null,
        bytesUp: null,
        bytesDown: null,
      }),
    );
    expect(row).toMatch(/allowed\s+report:sni_mismatch\s+-\s+\[2001:db8::1\]:443/);
  });
});
