// The bench's pure parts: flags, statistics, round order, the fd cap for idle tunnels, the Squid
// config, CPU-profile summaries, and splicing the generated block into docs/benchmarks.md.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_LEVEL, parseBenchArgs, parseSize } from '../../../bench/lib/args.js';
import { summariseProfile } from '../../../bench/lib/profile.js';
import { END, START, updateDoc } from '../../../bench/lib/report.js';
import { squidConf } from '../../../bench/lib/squid.js';
import { median, percentile, ratio, roundOrder, showRatio, verdict } from '../../../bench/lib/stats.js';
import { maxTunnels } from '../../../bench/scenarios/idle-tunnels.js';

describe('bench flags', () => {
  it.each([
    ['1g', 2 ** 30],
    ['256m', 256 * 2 ** 20],
    ['64k', 64 * 1024],
    ['1.5MiB', 1.5 * 2 ** 20],
    ['1000', 1000],
  ])('reads size %s as %i bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'big', '1t', '-5m'])('refuses size "%s" with a clear error', (text) => {
    expect(() => parseSize(text)).toThrow(/not a size/);
  });

  it('defaults to the full run: 1 GiB, every scenario, 8/64/256 concurrent, 1,000 and the most idle tunnels', () => {
    expect(parseBenchArgs([])).toMatchObject({
      only: [1, 2, 3, 4, 5, 6, 7],
      size: 2 ** 30,
      concurrency: [8, 64, 256],
      idle: [1000, MAX_LEVEL],
      out: 'docs/benchmarks.md',
      before: null,
      node: null,
    });
  });

  it('reads a list of concurrency levels, "max" idle tunnels and a second Node binary', () => {
    expect(parseBenchArgs(['--concurrency', '8,64', '--idle', 'max', '--node', '/opt/node24/bin/node'])).toMatchObject({
      concurrency: [8, 64],
      idle: [MAX_LEVEL],
      node: '/opt/node24/bin/node',
    });
  });

  it('sizes the layer-cache scenario like the issue: 16 pulls of a 5-layer, 200 MiB image', () => {
    expect(parseBenchArgs([])).toMatchObject({
      cachePulls: 16,
      cacheLayers: 5,
      cacheImageBytes: 200 * 2 ** 20,
      deadlineMin: 45,
    });
    expect(parseBenchArgs(['--cache-pulls', '4', '--cache-image', '20m', '--cache-layers', '2'])).toMatchObject({
      cachePulls: 4,
      cacheLayers: 2,
      cacheImageBytes: 20 * 2 ** 20,
    });
    expect(parseBenchArgs(['--quick']).cacheImageBytes).toBeLessThan(2 ** 20);
  });

  it('shrinks everything with --quick and prints only with --no-write', () => {
    const a = parseBenchArgs(['--quick', '--no-write', '--only', '1,3']);
    expect(a).toMatchObject({ only: [1, 3], out: null, quick: true });
    expect(a.size).toBeLessThan(2 ** 30);
    expect(a.tunnels).toBeLessThan(100);
  });

  it.each([
    { argv: ['--only', '0'], why: 'a scenario id that is not positive' },
    { argv: ['--rounds', 'x'], why: 'a round count that is not a number' },
    { argv: ['--bogus'], why: 'an unknown flag' },
  ])('refuses $why', ({ argv }) => {
    expect(() => parseBenchArgs(argv)).toThrow();
  });
});

describe('bench verdicts', () => {
  it('says met or missed and by how much, as a percentage or a difference', () => {
    expect(verdict(0.89, 1.15, true, showRatio)).toEqual({
      met: false,
      by: '0.89× against ≥ 1.15×: missed by 23 %',
    });
    expect(verdict(1.2, 1.0, true, showRatio)).toMatchObject({
      met: true,
      by: expect.stringContaining('met with 20 %'),
    });
    const ms = (n: number): string => `${n.toFixed(1)} ms`;
    expect(verdict(-2, 3, false, ms, ms)).toEqual({
      met: true,
      by: '-2.0 ms against ≤ 3.0 ms: met with 5.0 ms to spare',
    });
    expect(verdict(Number.NaN, 1, true, showRatio)).toEqual({ met: null, by: 'not measured' });
  });
});

describe('bench statistics', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  it.each([
    { name: 'the middle of three', values: [3, 1, 2], p: 50, want: 2 },
    { name: 'the lower middle of four', values: [1, 2, 3, 4], p: 50, want: 2 },
    { name: 'the only sample', values: [5], p: 99, want: 5 },
    { name: 'the 99th of 1..100', values: hundred, p: 99, want: 99 },
    { name: 'the largest of 1..100', values: hundred, p: 100, want: 100 },
  ])('nearest-rank percentile p$p is $name', ({ values, p, want }) => {
    expect(percentile(values, p)).toBe(want);
  });

  it('gives NaN, not a number, for no samples and for a missing side of a ratio', () => {
    expect(median([])).toBeNaN();
    expect(ratio(1, undefined)).toBeNaN();
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(3, 2)).toBe(1.5);
  });

  it.each([2, 3, 4, 5])('lets each of %i contenders go first once over as many rounds', (n) => {
    const items = Array.from({ length: n }, (_, i) => String.fromCharCode(97 + i));
    const firsts = new Set(items.map((_, r) => roundOrder(items, r)[0]));
    expect(firsts.size).toBe(n);
    for (let r = 0; r < n; r++) expect([...roundOrder(items, r)].sort()).toEqual(items);
  });

  it('balances two contenders as AB, BA, BA, AB', () => {
    expect([0, 1, 2, 3].map((r) => roundOrder(['A', 'B'], r).join(''))).toEqual(['AB', 'BA', 'BA', 'AB']);
  });
});

describe('idle-tunnel cap', () => {
  it.each([
    [20_000, 9_500],
    [65_536, 32_500],
    [1_024, 0],
  ])('with RLIMIT_NOFILE %i a proxy holds at most %i tunnels (two sockets each, headroom kept)', (nofile, want) => {
    expect(maxTunnels(nofile)).toBe(want);
  });
});

describe('squid.conf', () => {
  const conf = squidConf({
    dir: '/tmp/x',
    port: 3129,
    hosts: { 'myregistry.azurecr.io': '127.0.0.2', 'a.blob.core.windows.net': '127.0.0.3' },
    ports: [8443],
    nofile: 20000,
  });

  it.each([
    'http_port 127.0.0.1:3129',
    'acl bench_hosts dstdomain myregistry.azurecr.io a.blob.core.windows.net',
    'acl bench_ports port 8443',
    'http_access allow CONNECT bench_hosts bench_ports',
    'http_access deny all',
    'hosts_file /tmp/x/hosts',
    'cache deny all',
    'pid_filename /tmp/x/squid.pid',
    'max_filedescriptors 20000',
  ])('has the line "%s"', (line) => {
    expect(conf.split('\n')).toContain(line);
  });

  it('allows nothing before its CONNECT allowlist and denies everything after it', () => {
    const lines = conf.split('\n').filter((l) => l.startsWith('http_access'));
    expect(lines).toEqual(['http_access allow CONNECT bench_hosts bench_ports', 'http_access deny all']);
  });
});

describe('CPU profile summary', () => {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('pump', 'file:///x/dist/proxy/pump.js') },
      { id: 4, callFrame: frame('(garbage collector)') },
      { id: 5, callFrame: frame('write', 'node:net') },
      { id: 6, callFrame: frame('asJson', 'file:///x/node_modules/pino/lib/tools.js') },
    ],
    samples: [2, 2, 3, 3, 3, 4, 5, 6],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  };

  it('leaves idle time out and splits busy time by where the code lives', () => {
    const s = summariseProfile(profile);
    expect(s.busyMs).toBe(6);
    expect(Object.fromEntries(s.byArea.map((a) => [a.area, a.ms]))).toEqual({
      'acr-egress': 3,
      GC: 1,
      'Node core': 1,
      node_modules: 1,
    });
    expect(s.top[0]).toMatchObject({ name: 'pump', where: 'dist/proxy/pump.js:1', ms: 3, share: 0.5 });
  });

  it('leaves out start-up: everything before the first sample inside onconnection', () => {
    const withServe = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 3] },
        { id: 2, callFrame: frame('compile', 'node:internal/modules/esm/utils') },
        { id: 3, callFrame: frame('onconnection', 'node:net'), children: [4] },
        { id: 4, callFrame: frame('handleConnect', 'file:///x/dist/proxy/connect-handler.js') },
      ],
      samples: [2, 2, 4, 2, 4],
      timeDeltas: [1000, 1000, 1000, 1000, 1000],
    };
    const s = summariseProfile(withServe);
    expect(s.startupMs).toBe(2);
    expect(s.busyMs).toBe(3);
    expect(s.top.map((f) => [f.name, f.ms])).toEqual([
      ['handleConnect', 2],
      ['compile', 1],
    ]);
  });
});

describe('docs/benchmarks.md update', () => {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-bench-doc-'));
  const generated = `${START}\nnew tables\n${END}`;

  it('replaces only what is between the markers, keeping hand-written sections before and after', () => {
    const file = join(dir, 'a.md');
    writeFileSync(file, `# Benchmarks\n\nintro\n\n${START}\nold tables\n${END}\n\n## Decision store\n\nkept\n`);
    updateDoc(file, generated);
    expect(readFileSync(file, 'utf8')).toBe(`# Benchmarks\n\nintro\n\n${generated}\n\n## Decision store\n\nkept\n`);
  });

  it('appends the block to a file without markers and creates a missing file', () => {
    const withoutMarkers = join(dir, 'b.md');
    writeFileSync(withoutMarkers, '## Decision store\n\nkept\n');
    updateDoc(withoutMarkers, generated);
    expect(readFileSync(withoutMarkers, 'utf8')).toBe(`## Decision store\n\nkept\n\n${generated}\n`);
    const missing = join(dir, 'c.md');
    updateDoc(missing, generated);
    expect(readFileSync(missing, 'utf8')).toContain(generated);
  });
});
