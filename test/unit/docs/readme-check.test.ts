// Every `acr-egress check` example in README.md, run against the shipped config/acr-egress.yaml: the
// examples are parsed out of the README, so the test follows the doc and a new example is checked too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SHIPPED = join(ROOT, 'config', 'acr-egress.yaml');

interface Example {
  /** The arguments after `acr-egress`. */
  argv: string[];
  /** The lines the README shows under the command (stdout and stderr, as a terminal shows them). */
  shown: string[];
  /** `export NAME=value` lines above it in the same block. */
  env: Record<string, string>;
}

/** `$ ` command lines of the README's sh blocks with the lines after them, up to the next command. */
function checkExamples(markdown: string): Example[] {
  const out: Example[] = [];
  for (const block of markdown.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
    const env: Record<string, string> = {};
    let current: Example | null = null;
    for (const line of (block[1] as string).split('\n')) {
      if (line.startsWith('$ ')) {
        current = null;
        const command = line
          .slice(2)
          .replace(/\s+#.*$/, '')
          .trim();
        const exported = /^export (\w+)=(\S+)$/.exec(command);
        if (exported) env[exported[1] as string] = exported[2] as string;
        const m = /^npx acr-egress (check\b.*)$/.exec(command);
        if (m) {
          current = { argv: (m[1] as string).split(/\s+/), shown: [], env: { ...env } };
          out.push(current);
        }
      } else if (current !== null && line.trim() !== '') current.shown.push(line);
    }
  }
  return out;
}

async function run(example: Example): Promise<{ code: number; lines: string[] }> {
  for (const [k, v] of Object.entries(example.env)) vi.stubEnv(k, v);
  const lines: string[] = [];
  const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
  const code = await main([...example.argv, '--config', SHIPPED], io);
  return { code, lines };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

const examples = checkExamples(README);

describe('README check examples against config/acr-egress.yaml', () => {
  it('finds the examples, the first of them without --client', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
    expect(examples[0]?.argv).not.toContain('--client');
  });

  it.each(examples.map((e) => [e.argv.join(' '), e] as const))('acr-egress %s', async (_, example) => {
    const { code, lines } = await run(example);
    if (example.argv.includes('--json')) {
      // The README shows the command, not the record (its id and time change every run).
      expect(lines).toHaveLength(1);
      const record = JSON.parse(lines[0] as string) as Record<string, unknown>;
      expect(record.mode).toBe('check');
      expect(code).toBe(record.decision === 'allowed' ? 0 : 1);
      if (!example.argv.includes('--client')) expect(record.clientChecked).toBe(false);
      return;
    }
    expect(lines).toEqual(example.shown);
    expect(code).toBe(lines[0]?.startsWith('allowed ') ? 0 : 1);
  });
});

describe('checkExamples', () => {
  it('takes exports, strips comments and stops at the next command', () => {
    const md = '```sh\n$ export A=b\n$ npx acr-egress check x.io   # note\nallowed rule=r\n$ ls\nfile\n```\n';
    expect(checkExamples(md)).toEqual([{ argv: ['check', 'x.io'], shown: ['allowed rule=r'], env: { A: 'b' } }]);
  });
});
