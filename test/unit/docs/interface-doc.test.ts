// Keeps docs/interface.md in step with the code's registries: every reason code (with its status),
// config key, command, admin route, metric and record field the code has is on the page.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAdminApp } from '../../../src/admin/app.js';
import { DecisionRecordSchema } from '../../../src/admin/schemas.js';
import { COMMANDS } from '../../../src/cli/commands.js';
import { ConfigSchema, RegistryByName, RegistryFromEndpoints, RegistryFromFile } from '../../../src/config/schema.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { REASON_CODES, REASONS } from '../../../src/policy/reasons.js';
import { fakeDeps } from '../admin/fake-deps.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'interface.md'), 'utf8');

/** The body of one `## ` section. */
function section(title: string): string {
  const part = doc.split(/^## /m).find((p) => p.startsWith(`${title}\n`));
  if (part === undefined) throw new Error(`docs/interface.md has no "## ${title}" section`);
  return part;
}

/** Backticked words of a section. */
function ticked(text: string): Set<string> {
  return new Set([...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
}

/** Every key path of the schema's objects (`proxy.listen`, `proxy.limits.perClientRate`), and the
 * registry entry's keys (`registries[].name`); the items of other lists are described in configuration.md. */
function configKeys(): string[] {
  const keys: string[] = [];
  const walk = (node: SchemaNode, prefix: string): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      keys.push(`${prefix}${key}`);
      walk(child, `${prefix}${key}.`);
    }
  };
  walk(ConfigSchema as SchemaNode, '');
  for (const variant of [RegistryByName, RegistryFromEndpoints, RegistryFromFile] as SchemaNode[])
    walk(variant, 'registries[].');
  return [...new Set(keys)];
}

/** `METHOD /path` of every route, read from Fastify's route tree (HEAD twins left out). */
function routes(tree: string): string[] {
  const out: string[] = [];
  const parents: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const path = (parents[depth - 1] ?? '') + m[2]!;
    parents[depth] = path;
    for (const method of (m[3] ?? '').split(', ').filter((x) => x !== '' && x !== 'HEAD'))
      out.push(`${method} ${path}`);
  }
  return out;
}

describe('docs/interface.md', () => {
  describe('reason codes', () => {
    const rows = new Map(
      [...section('Reason codes').matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|$/gm)].map((m) => [m[1]!, Number(m[2])]),
    );
    it.each(REASON_CODES.map((code) => ({ code, status: REASONS[code].status })))(
      'lists $code with HTTP status $status',
      ({ code, status }) => {
        expect(rows.get(code)).toBe(status);
      },
    );
  });

  describe('config keys', () => {
    const names = ticked(section('Config keys'));
    it.each(configKeys())('lists %s', (key) => {
      expect(names.has(key)).toBe(true);
    });
  });

  describe('commands', () => {
    const text = section('Commands');
    // The command and subcommand words of each usage line: "  tags lookup IP [--config FILE]" -> "tags lookup".
    const words = COMMANDS.flatMap((c) =>
      c.usage
        .split('\n')
        .map((line) => /^ {2}([a-z][a-z-]*(?: [a-z][a-z-]*)*)/.exec(line)?.[1])
        .filter((w): w is string => w !== undefined),
    );
    it.each(words)('documents acr-egress %s', (command) => {
      expect(text).toContain(`\`acr-egress ${command}`);
    });
    it('documents --version and --help', () => {
      expect(text).toContain('`acr-egress --version`');
      expect(text).toContain('`acr-egress <command> --help`');
    });
  });

  describe('admin routes', async () => {
    const app = createAdminApp(fakeDeps().deps);
    await app.ready();
    const all = routes(app.printRoutes({ commonPrefix: false }));
    await app.close();
    const text = section('Admin API');
    it('finds the routes in the app', () => {
      expect(all).toContain('GET /healthz');
    });
    it.each(all)('lists %s', (route) => {
      expect(text).toContain(`| \`${route}\` |`);
    });
  });

  describe('metrics', async () => {
    const names = (await createMetrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name);
    const rows = ticked(section('Metrics'));
    it.each(names)('lists %s', (name) => {
      expect(rows.has(name)).toBe(true);
    });
  });

  describe('record fields', () => {
    const fields = Object.keys((DecisionRecordSchema as SchemaNode).properties ?? {});
    const text = section('The decision record');
    it.each(fields)('lists %s', (field) => {
      expect(text).toMatch(new RegExp(`^\\| (?:\`\\w+\`, )*\`${field}\``, 'm'));
    });
  });
});
