// The command line's own answers: --version, --help for the whole tool and for each command, and a
// usage mistake as exit 2 with exactly one line that says what to type instead.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../src/cli/commands.js';
import { main } from '../../../src/cli/main.js';

const PACKAGE = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('acr-egress --version and --help', () => {
  it('prints the package version with --version and exits 0', async () => {
    expect(await cli('--version')).toEqual({ code: 0, out: [PACKAGE.version], err: [] });
  });

  it.each([['--help'], ['-h'], ['help']])('prints every command with %s on stdout and exits 0', async (flag) => {
    const r = await cli(flag);
    expect([r.code, r.err]).toEqual([0, []]);
    for (const c of COMMANDS) expect(r.out.join('\n')).toContain(c.usage);
  });

  it.each(COMMANDS.flatMap((c) => [[c.name, '--help'] as const, [c.name, '-h'] as const]))(
    'prints the usage of %s with %s and exits 0',
    async (name, flag) => {
      const r = await cli(name, flag);
      const command = COMMANDS.find((c) => c.name === name)!;
      expect([r.code, r.err]).toEqual([0, []]);
      expect(r.out.join('\n')).toContain(command.usage);
    },
  );

  it('lines every description up in one column (45), continuation lines included', async () => {
    const r = await cli('--help');
    const lines = r.out.join('\n').split('\n');
    // A description follows a gap of two or more spaces after the synopsis, or fills a line on its own.
    const columns = lines
      .filter((l) => l.startsWith('  '))
      .map((l) => [l, /^(?: {2}\S.*?\s{2,}|\s+)(?=\S)/.exec(l)?.[0].length] as const)
      .filter(([l, at]) => at !== undefined && !/^\s+\[/.test(l) && at > 10);
    expect(columns.length).toBeGreaterThan(10);
    expect(columns.filter(([, at]) => at !== 45)).toEqual([]);
  });

  it('answers --help after other arguments too (check myregistry.azurecr.io --help)', async () => {
    const r = await cli('check', 'myregistry.azurecr.io', '--help');
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toMatch(/check HOST\[:PORT\]/);
  });
});

const mistakes: ReadonlyArray<readonly [argv: string[], line: string]> = [
  [[], 'a command is needed: try acr-egress --help'],
  [['frobnicate'], 'unknown command "frobnicate": try acr-egress --help'],
  [['chek', 'myregistry.azurecr.io'], 'unknown command "chek": try acr-egress check myregistry.azurecr.io'],
  [['--bogus'], 'unknown option --bogus: try acr-egress --help'],
  [
    ['check', 'https://myregistry.azurecr.io/v2/'],
    'check takes HOST[:PORT], not a URL: try acr-egress check myregistry.azurecr.io',
  ],
  [['check', 'https://host'], 'check takes HOST[:PORT], not a URL: try acr-egress check host'],
  [['check', 'https://h.example:8443'], 'check takes HOST[:PORT], not a URL: try acr-egress check h.example:8443'],
  [['check', 'h.example/v2/'], 'check takes HOST[:PORT], not a path: try acr-egress check h.example'],
  [
    ['check', 'h.example:99999'],
    'check takes HOST[:PORT] (got "h.example:99999"): try acr-egress check myregistry.azurecr.io',
  ],
  [['check'], 'check takes one HOST[:PORT] (got 0): try acr-egress check myregistry.azurecr.io'],
  [['check', 'a', 'b'], 'check takes one HOST[:PORT] (got 2): try acr-egress check myregistry.azurecr.io'],
  [['check', 'x', '--bogus'], 'check: unknown option --bogus: try acr-egress check --help'],
  [['check', 'x', '--config'], 'check: --config needs a value: try acr-egress check --help'],
  [['serve', 'now'], 'serve takes no arguments (got now): try acr-egress serve --config FILE'],
  [['config'], 'config needs a subcommand: try acr-egress config validate FILE'],
  [['config', 'check', 'a.yaml'], 'unknown config subcommand "check": try acr-egress config validate FILE'],
  [['config', 'validate'], 'config validate takes one FILE (got 0): try acr-egress config validate FILE'],
  [['tags'], 'tags needs a subcommand: try acr-egress tags show (or acr-egress tags --help)'],
  [['tags', 'lookup'], 'tags lookup takes one IP (got 0): try acr-egress tags lookup 20.42.66.1'],
  [
    ['tags', 'lookup', 'myregistry.azurecr.io'],
    'tags lookup takes an IP address, not "myregistry.azurecr.io": try acr-egress tags lookup 20.42.66.1',
  ],
  [['tags', 'diff', 'a.json'], 'tags diff takes two files (got 1): try acr-egress tags diff OLD.json NEW.json'],
  [['logs', 'x'], 'logs takes no arguments (got "x"): try acr-egress logs --help'],
  [['logs', '--follow=yes'], 'logs: --follow takes no value: try acr-egress logs --help'],
];

describe('usage mistakes', () => {
  it.each(mistakes.map(([argv, line]) => [argv.join(' ') || '(nothing)', argv, line] as const))(
    'acr-egress %s exits 2 with one line',
    async (_name, argv, line) => {
      expect(await cli(...argv)).toEqual({ code: 2, out: [], err: [`acr-egress: ${line}`] });
    },
  );
});
