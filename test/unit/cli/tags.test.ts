// `acr-egress tags diff|show|lookup|update` with a captured Io, plus one spawn of the real CLI.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runTags } from '../../../src/cli/tags.js';
import { testConfig } from '../../helpers/gateway.js';
import { serviceTagPath } from '../../helpers/service-tag-fixtures.js';
import { loopbackTags, serviceTagsJson } from '../../helpers/tags.js';

const run = promisify(execFile);
const JUL21 = serviceTagPath('ServiceTags_Public_20250721.json');
const JUL28 = serviceTagPath('ServiceTags_Public_20250728.json');

async function tags(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTags({ out: (l) => out.push(l), err: (l) => err.push(l) }, argv);
  return { code, out, err };
}

/** A config whose source is a loopback tag file written now (or at mtime). */
function setup(serviceTags: Record<string, unknown> = {}, mtime?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-cli-'));
  const source = join(dir, 'tags.json');
  writeFileSync(source, serviceTagsJson(loopbackTags(), 12));
  if (mtime !== undefined) utimesSync(source, new Date(mtime), new Date(mtime));
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify(testConfig({ serviceTags: { enforce: true, source, cacheFile: null, ...serviceTags } })),
  );
  return { dir, source, config };
}

describe('tags diff', () => {
  it('prints each changed tag with counts and prefixes', async () => {
    const { dir, source } = setup();
    const next = join(dir, 'next.json');
    const moved = loopbackTags().map((t) =>
      t.name === 'AzureContainerRegistry.EastUS' ? { ...t, prefixes: ['127.0.0.22/32'] } : t,
    );
    writeFileSync(next, serviceTagsJson(moved, 13));
    const r = await tags(['diff', source, next]);
    expect(r.code).toBe(0);
    expect(r.out.slice(2)).toEqual([
      '1 tag changed',
      'AzureContainerRegistry.EastUS: +1 -1, change 1 -> 1',
      '  + 127.0.0.22/32',
      '  - 127.0.0.2/32',
    ]);
  });

  it('fails with exit 1 naming an unreadable file', async () => {
    const { source } = setup();
    const r = await tags(['diff', source, '/nonexistent/tags.json']);
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toMatch(/cannot read service-tag file \/nonexistent\/tags.json: ENOENT/);
  });

  it('reports the 62 real differences between 20250721 and 20250728, ACR +1', async () => {
    const r = await tags(['diff', JUL21, JUL28]);
    expect(r.code).toBe(0);
    expect(r.out[2]).toBe('62 tags changed');
    const at = r.out.indexOf('AzureContainerRegistry: +1 -0, change 93 -> 94');
    expect(at).toBeGreaterThan(0);
    expect(r.out[at + 1]).toBe('  + 2603:1020:406::7/128');
    expect(r.out.some((l) => l.startsWith('MicrosoftContainerRegistry: '))).toBe(true);

    const json = await tags(['diff', JUL21, JUL28, '--json']);
    const parsed = JSON.parse(json.out[0]!) as {
      old: { changeNumber: number };
      new: { changeNumber: number };
      changed: Array<{ name: string; added: string[]; removed: string[] }>;
    };
    expect([parsed.old.changeNumber, parsed.new.changeNumber]).toEqual([363, 364]);
    expect(parsed.changed).toHaveLength(62);
    expect(parsed.changed.find((d) => d.name === 'AzureContainerRegistry')).toMatchObject({
      added: ['2603:1020:406::7/128'],
      removed: [],
    });
  });
});

describe('tags show', () => {
  it('prints change number, cloud, age and the prefix counts of the tags in use', async () => {
    const { config, source } = setup({}, Date.now() - 3 * 86_400_000 - 3_600_000);
    const r = await tags(['show', '--config', config]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('change 12, cloud Public, 8 tags, 10 prefixes');
    expect(r.out[1]).toBe(`source: ${source}`);
    expect(r.out[2]).toMatch(/^data time: .*Z \(age 3d 1h, from the file time\)$/);
    expect(r.out.slice(3)).toEqual([
      'tags in use (prefixes):',
      '  AzureContainerRegistry.EastUS: 1',
      '  AzureFrontDoor.FirstParty: 1',
      '  MicrosoftContainerRegistry: 1',
      '  Storage.EastUS: 1',
    ]);
  });

  it('flags stale data and prints the status as JSON', async () => {
    const { config } = setup({ maxAgeDays: 2 }, Date.now() - 3 * 86_400_000);
    const text = await tags(['show', '--config', config]);
    expect(text.out[2]).toContain('STALE: older than serviceTags.maxAgeDays (2)');
    const json = await tags(['show', '--config', config, '--json']);
    expect(JSON.parse(json.out[0]!)).toMatchObject({
      changeNumber: 12,
      stale: true,
      maxAgeDays: 2,
      tagCount: 8,
      tags: { MicrosoftContainerRegistry: 1 },
    });
  });

  it('exits 1 with the reason when no data loads', async () => {
    const { config, source } = setup();
    writeFileSync(source, '{"changeNumber": 1');
    const r = await tags(['show', '--config', config]);
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toMatch(/no service-tag data could be loaded[\s\S]*not valid JSON/);
  });
});

describe('tags lookup', () => {
  it.each([
    {
      name: 'prints every tag containing an address, exit 0',
      ip: '127.0.0.2',
      code: 0,
      out: ['AzureContainerRegistry', 'AzureContainerRegistry.EastUS'],
    },
    { name: 'prints nothing and exits 1 for an address in no tag', ip: '127.0.0.99', code: 1, out: [] },
    { name: 'exits 2 for something that is not an address', ip: 'myregistry.azurecr.io', code: 2, out: [] },
  ])('$name', async ({ ip, code, out }) => {
    const { config } = setup();
    const r = await tags(['lookup', ip, '--config', config]);
    expect(r.code).toBe(code);
    expect(r.out).toEqual(out);
  });
});

describe('tags update and usage', () => {
  it('exits 1 and says so when there is no cache file to update', async () => {
    const { config } = setup({ cacheFile: null });
    const r = await tags(['update', '--config', config]);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/serviceTags.cacheFile is null/);
  });

  it('exits 1 when the source is null, leaving the cache as it was', async () => {
    const { config, dir } = setup({ source: null, cacheFile: null });
    writeFileSync(
      config,
      JSON.stringify(testConfig({ serviceTags: { source: null, cacheFile: join(dir, 'cache.json') } })),
    );
    const r = await tags(['update', '--config', config]);
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toMatch(/serviceTags.source is null/);
    expect(existsSync(join(dir, 'cache.json'))).toBe(false);
  });

  it.each([
    { name: 'an unknown subcommand', argv: ['fetch'] },
    { name: 'an unknown flag', argv: ['show', '--nope'] },
    { name: 'diff with one file', argv: ['diff', 'a.json'] },
  ])('exits 2 for $name', async ({ argv }) => {
    expect((await tags(argv)).code).toBe(2);
  });

  it('is reached through the acr-egress command line', async () => {
    const { config } = setup();
    const { stdout } = await run(process.execPath, [
      '--import',
      'tsx',
      'src/cli.ts',
      'tags',
      'lookup',
      '127.0.0.4',
      '--config',
      config,
    ]);
    expect(stdout).toBe('MicrosoftContainerRegistry\n');
  });
});
