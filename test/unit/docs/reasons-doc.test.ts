// Keeps the operator docs in step with the code: every reason code has a troubleshooting section
// with its real HTTP status, and every config key of the schema is in the configuration reference
// with its real default (and the reference names no key the schema lacks).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, RegistryByName, RegistryFromEndpoints, RegistryFromFile } from '../../../src/config/schema.js';
import { REASON_CODES, REASONS } from '../../../src/policy/reasons.js';

const DOCS = join(import.meta.dirname, '..', '..', '..', 'docs');
const troubleshooting = readFileSync(join(DOCS, 'troubleshooting.md'), 'utf8');
const configuration = readFileSync(join(DOCS, 'configuration.md'), 'utf8');

/** `## \`code\`` sections of troubleshooting.md: code -> body. */
function reasonSections(text: string): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = text.split(/^## /m).slice(1);
  for (const part of parts) {
    const m = /^`([a-z_]+)`\s*\n([\s\S]*)$/.exec(part);
    if (m) sections.set(m[1] as string, m[2] as string);
  }
  return sections;
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  default?: unknown;
}

/** `proxy.listen`-style paths of the schema's first and second levels, with their defaults. */
function schemaKeys(): Map<string, unknown> {
  const keys = new Map<string, unknown>();
  for (const [top, node] of Object.entries((ConfigSchema as SchemaNode).properties ?? {})) {
    keys.set(top, node.default);
    for (const [sub, child] of Object.entries(node.properties ?? {})) keys.set(`${top}.${sub}`, child.default);
  }
  for (const variant of [RegistryByName, RegistryFromEndpoints, RegistryFromFile] as SchemaNode[]) {
    for (const sub of Object.keys(variant.properties ?? {})) keys.set(`registries[].${sub}`, undefined);
  }
  return keys;
}

/** How a default is written in the reference's default column. */
function formatDefault(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Table rows of configuration.md keyed by their first cell's backticked key. */
function tableRows(text: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\| `([^`]+)` \|(.*)\|$/.exec(line);
    if (!m) continue;
    const list = rows.get(m[1] as string) ?? [];
    list.push(m[2] as string);
    rows.set(m[1] as string, list);
  }
  return rows;
}

describe('docs/troubleshooting.md', () => {
  const sections = reasonSections(troubleshooting);

  it.each(REASON_CODES.map((code) => ({ code, status: REASONS[code].status })))(
    'has a section for $code that gives its HTTP status $status and what to change',
    ({ code, status }) => {
      const body = sections.get(code);
      expect(body, `no "## \`${code}\`" section`).toBeDefined();
      // Reasons decided after the 200 close the tunnel instead of answering; the others name their status.
      const afterHello = ['sni_missing', 'sni_mismatch', 'not_tls', 'client_hello_timeout'].includes(code);
      expect(body).toContain(afterHello ? 'The tunnel is closed' : `HTTP ${status}`);
      expect(body).toMatch(/What to change/);
    },
  );

  it('has no section for a reason code the gateway does not have', () => {
    expect([...sections.keys()].filter((c) => !REASON_CODES.includes(c as never))).toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  const keys = schemaKeys();
  const rows = tableRows(configuration);

  const headings = configuration.split('\n').filter((l) => l.startsWith('## '));

  it.each([...keys.keys()])('documents %s', (key) => {
    // A section (`proxy`, `registries`...) may stand for its key; everything else needs a table row.
    const documented = rows.has(key) || (!key.includes('.') && headings.some((h) => h.includes(`\`${key}\``)));
    expect(documented, `no table row or section for \`${key}\``).toBe(true);
  });

  it.each(
    [...keys]
      .filter(([k, v]) => v !== undefined && (k.includes('.') || rows.has(k)))
      .map(([key, value]) => ({ key, value: formatDefault(value) })),
  )('gives $key its real default $value', ({ key, value }) => {
    const cells = rows.get(key)?.[0] ?? '';
    expect(cells.split('|')[0]?.trim()).toBe(`\`${value}\``);
  });

  it('names no config key that the schema does not have', () => {
    const mentioned = new Set<string>();
    for (const m of configuration.matchAll(/`((?:proxy|serviceTags|dns|network|admin|log)\.[A-Za-z]+)`/g))
      mentioned.add(m[1] as string);
    for (const m of configuration.matchAll(/`(registries\[\]\.[A-Za-z]+)`/g)) mentioned.add(m[1] as string);
    expect([...mentioned].filter((k) => !keys.has(k))).toEqual([]);
  });
});
