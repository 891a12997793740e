// Every code block of README.md and docs/*.md is checked against the shipped code, or is marked in
// the doc as illustrative (a first-line comment `# illustrative: why`, or `<!-- illustrative -->`
// on the line before the fence). Checked: each `acr-egress` command line (the command exists and
// takes every option it is shown with), each YAML block that is a config (the real loader accepts
// it), each JSON block (it parses; a decision record names only real record fields).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DecisionRecordSchema } from '../../../src/admin/schemas.js';
import { COMMANDS } from '../../../src/cli/commands.js';
import { substituteEnv } from '../../../src/config/env.js';
import { buildConfig } from '../../../src/config/load.js';
import { ConfigSchema } from '../../../src/config/schema.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

interface Block {
  where: string;
  lang: string;
  text: string;
  marked: boolean;
}

function blocks(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] as string).startsWith('```'); i++) body.push(lines[i] as string);
    const before = lines[start - 1] ?? '';
    const first = body.find((l) => l.trim() !== '') ?? '';
    out.push({
      where: `${file}:${start + 1}`,
      lang: open[1] as string,
      text: body.join('\n'),
      marked: /<!--\s*illustrative/.test(before) || /^\s*(#|\/\/|--)\s*illustrative\b/i.test(first),
    });
  }
  return out;
}

const all = DOCS.flatMap(blocks);
const CONFIG_KEYS = new Set(Object.keys((ConfigSchema as { properties: object }).properties));
const RECORD_FIELDS = new Set([...Object.keys((DecisionRecordSchema as { properties: object }).properties), 'kind']);

/**
 * `acr-egress SUB ...` invocations: `acr-egress`, `npx acr-egress` or `node dist/cli.js` where a
 * command starts (line start, after `$ `, `sudo `, `&&`, `;`, `|`, or a `docker exec|run ...` prefix).
 */
function invocations(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '');
    for (const part of line.split(/&&|;|\|/)) {
      const m =
        /^\s*(?:\$ )?(?:sudo )?(?:[A-Z_]+=\S+ )*(?:docker (?:exec|run) .*?node dist\/cli\.js|npx acr-egress|acr-egress|node dist\/cli\.js)\s+(.*)$/.exec(
          part,
        );
      if (m) out.push((m[1] as string).trim().split(/\s+/));
    }
  }
  return out;
}

/** What the block checks against the code; [] when nothing in it can be checked. */
function checks(block: Block): string[] {
  const done: string[] = [];
  const commands = invocations(block.text).filter((argv) => argv[0] !== '' && !argv[0]!.startsWith('-'));
  for (const argv of commands) {
    const command = COMMANDS.find((c) => c.name === argv[0]);
    expect(command, `${block.where}: acr-egress ${argv.join(' ')}: no such command`).toBeDefined();
    for (const flag of argv.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0] as string)) {
      if (flag === '--help') continue;
      expect(command!.usage, `${block.where}: acr-egress ${argv[0]} has no option ${flag}`).toContain(flag);
    }
    done.push(`acr-egress ${argv[0]}`);
  }
  if (block.lang === 'yaml') {
    const doc = parseYaml(block.text) as unknown;
    const keys = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? Object.keys(doc) : [];
    if (keys.length > 0 && keys.every((k) => CONFIG_KEYS.has(k))) {
      // ${VAR}s get a value of the right shape; files a config names are the operator's, so a
      // block that reads files is checked for its shape (the problem list names only files).
      const env = new Proxy({}, { get: () => 'c0ffee11d00d4a5e9b7f3e2d1c0b9a88' });
      const { value, unset } = substituteEnv(doc, env);
      try {
        buildConfig(value, block.where, unset);
      } catch (err) {
        const details = ((err as { details?: string[] }).details ?? [String(err)]).filter(
          (d) => !/ENOENT|no such file|cannot be read|not readable/i.test(d),
        );
        expect(details, `${block.where}: the config loader refuses this example`).toEqual([]);
      }
      done.push('config');
    }
  }
  if (block.lang === 'json' && !block.marked) {
    const values =
      block.text.trim().startsWith('[') || !block.text.includes('\n{') ? [block.text] : block.text.split(/\n(?=\{)/);
    for (const v of values) {
      const parsed = JSON.parse(v) as unknown;
      if (parsed !== null && typeof parsed === 'object' && 'decision' in parsed && 'host' in parsed) {
        for (const k of Object.keys(parsed)) expect(RECORD_FIELDS, `${block.where}: record field ${k}`).toContain(k);
      }
    }
    done.push('json');
  }
  return done;
}

describe('code blocks in README.md and docs/*.md', () => {
  it('finds the blocks', () => {
    expect(all.length).toBeGreaterThan(50);
  });

  it.each(all.map((b) => [b.where, b] as const))('%s is checked or marked illustrative', (_, block) => {
    const done = checks(block);
    // A checked block has passed its checks; any other must say it is illustrative.
    expect(
      done.length > 0 || block.marked,
      `${block.where} (${block.lang || 'plain'}): nothing checkable; mark it illustrative`,
    ).toBe(true);
  });
});
