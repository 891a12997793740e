// A valid user's first login while one address floods the gateway with wrong passwords (issue 18,
// defect 9): the time from a CONNECT with the right credentials to its 200, with and without a flood
// of distinct wrong passwords from one address, for this build and, with --before, another one.
//   npx tsx bench/auth-flood.bench.ts [--before DIST/cli.js] [--flood 300] [--rounds 3] [--write]
// Each round starts a fresh gateway (no remembered logins); every process is stopped by PID.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hashPassword } from '../src/auth/password-hash.js';
import { freePort, killAll, spawnProc, waitForPort } from './lib/proc.js';
import { GATEWAY_CLI, gatewayConfig, ROOT, SHIPPED_NODE_FLAGS } from './lib/targets.js';

const HOST = 'myregistry.azurecr.io';
const PASSWORD = 'agent-password-1';
const START = '<!-- auth-flood:start -->';
const END = '<!-- auth-flood:end -->';

interface Login {
  status: number;
  ms: number;
}

/** One CONNECT with Basic credentials from localAddress: the status and the time to the status line. */
function login(
  port: number,
  upstreamPort: number,
  localAddress: string,
  user: string,
  password: string,
): Promise<Login> {
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  const target = `${HOST}:${upstreamPort}`;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    let head = '';
    socket.setEncoding('latin1');
    socket.setTimeout(120_000, () => socket.destroy(new Error('no answer in 120 s')));
    socket.on('error', reject);
    socket.on('connect', () =>
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: Basic ${basic}\r\n\r\n`),
    );
    socket.on('data', (chunk: string) => {
      head += chunk;
      if (!head.includes('\r\n')) return;
      const ms = performance.now() - t0;
      socket.destroy();
      resolve({ status: Number(head.split(' ')[1]), ms });
    });
  });
}

interface Round {
  alone: Login;
  flooded: Login;
  floodMs: number;
  flood407: number;
}

async function round(cli: string, dir: string, upstreamPort: number, flood: number): Promise<Round> {
  const usersFile = join(dir, 'users');
  // Two users, so that each measured login is a first one (nothing remembered for it).
  const lines = [`quiet:${await hashPassword(PASSWORD)}`, `agent:${await hashPassword(PASSWORD)}`];
  writeFileSync(usersFile, `${lines.join('\n')}\n`, { mode: 0o600 });
  const port = await freePort();
  const base = gatewayConfig(
    { dir, hosts: { [HOST]: '127.0.0.2' }, ports: [upstreamPort], nofile: 4096 },
    port,
    await freePort(),
  );
  const config = { ...base, proxy: { ...(base.proxy as object), auth: { usersFile } } };
  const configFile = join(dir, 'acr-egress.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const log = join(dir, 'acr-egress.out');
  const proc = spawnProc(
    'acr-egress',
    process.execPath,
    [...SHIPPED_NODE_FLAGS, cli, 'serve', '--config', configFile],
    {
      logFile: log,
      nofile: 4096,
      cwd: dir,
    },
  );
  try {
    await waitForPort('127.0.0.1', port, 20_000, proc, log);
    // The first login with nobody else about: one scrypt.
    const alone = await login(port, upstreamPort, '127.0.0.3', 'quiet', PASSWORD);
    // Then another user's first login from 127.0.0.1 while 127.0.0.9 sends distinct wrong passwords.
    const t0 = performance.now();
    const floods = Array.from({ length: flood }, (_, i) =>
      login(port, upstreamPort, '127.0.0.9', 'agent', `guess-${i}`),
    );
    // Let the flood reach the gateway first, as it would in an attack.
    await new Promise((r) => setTimeout(r, 20));
    const flooded = await login(port, upstreamPort, '127.0.0.1', 'agent', PASSWORD);
    const answers = await Promise.all(floods);
    return {
      alone,
      flooded,
      floodMs: performance.now() - t0,
      flood407: answers.filter((a) => a.status === 407).length,
    };
  } finally {
    await proc.stop(5_000);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

function row(name: string, rounds: Round[], flood: number): string {
  const statuses = [...new Set(rounds.map((r) => r.flooded.status))].join(', ');
  const cells = [
    name,
    fmt(median(rounds.map((r) => r.alone.ms))),
    fmt(median(rounds.map((r) => r.flooded.ms))),
    fmt(Math.max(...rounds.map((r) => r.flooded.ms))),
    statuses,
    fmt(median(rounds.map((r) => r.floodMs))),
    `${Math.min(...rounds.map((r) => r.flood407))} of ${flood}`,
  ];
  return `| ${cells.join(' | ')} |`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      before: { type: 'string' },
      flood: { type: 'string', default: '300' },
      rounds: { type: 'string', default: '3' },
      write: { type: 'boolean', default: false },
    },
  });
  const flood = Number(values.flood);
  const rounds = Number(values.rounds);
  console.error('auth-flood: building acr-egress (tsc -p tsconfig.build.json)');
  execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  // The upstream (the registry's address in the test service tags) only has to accept: the gateway
  // answers 200 once its dial succeeds.
  const upstream = createServer((s) => s.destroy());
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.2', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const contenders: [string, string][] = [['acr-egress', GATEWAY_CLI]];
  if (values.before !== undefined) contenders.unshift(['acr-egress (before)', values.before]);
  const rows: string[] = [];
  try {
    for (const [name, cli] of contenders) {
      const done: Round[] = [];
      for (let i = 0; i < rounds; i++) {
        const r = await round(cli, mkdtempSync(join(tmpdir(), 'acr-egress-auth-flood-')), upstreamPort, flood);
        console.error(
          `${name} round ${i + 1}: alone ${fmt(r.alone.ms)}, under flood ${fmt(r.flooded.ms)} (${r.flooded.status}), flood ${fmt(r.floodMs)}, ${r.flood407} x 407`,
        );
        done.push(r);
      }
      rows.push(row(name, done, flood));
    }
  } finally {
    upstream.close();
    killAll();
  }
  const text = [
    START,
    '<!-- Generated by `npx tsx bench/auth-flood.bench.ts --write` (bench/auth-flood.bench.ts): edits between these markers are overwritten. -->',
    '',
    `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${flood} CONNECTs with distinct wrong passwords from one address, ${rounds} rounds (a fresh gateway each): a valid user's first login from 127.0.0.1 (the time to its \`200\`).`,
    '',
    '| build | first login alone (median) | first login under the flood (median) | (worst) | its answer | the flood answered in (median) | flood answered 407 |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    END,
  ].join('\n');
  console.log(text);
  if (values.write) {
    const file = join(ROOT, 'docs', 'benchmarks.md');
    const doc = readFileSync(file, 'utf8');
    const a = doc.indexOf(START);
    const b = doc.indexOf(END);
    if (a < 0 || b < a) throw new Error(`docs/benchmarks.md has no ${START} ... ${END} section`);
    writeFileSync(file, doc.slice(0, a) + text + doc.slice(b + END.length));
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    killAll();
    process.exit(1);
  },
);
